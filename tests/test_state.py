"""Per-image state: label-keyed replace keeps position (colour); new labels append."""

from drawing.state import ImageState, merge_state
from schemas.records import BoxOp, LineOp


def test_replace_keeps_position_and_append_new():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "a"), BoxOp(1, (1, 1, 6, 6), "b")])
    state = merge_state(state, [BoxOp(3, (2, 2, 9, 9), "a"), BoxOp(3, (0, 0, 1, 1), "c")])
    assert [b.label for b in state.boxes] == ["a", "b", "c"]
    assert state.boxes[0].bbox_2d == (2, 2, 9, 9)


def test_swapped_corners_are_normalised():
    state = merge_state(ImageState(), [BoxOp(1, (9, 8, 1, 2), "a")])
    assert state.boxes[0].bbox_2d == (1, 2, 9, 8)


def test_label_changing_kind_moves_lists():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "x"), LineOp(1, (0, 0), (1, 1), "y")])
    state = merge_state(state, [LineOp(2, (3, 3), (4, 4), "x")])
    assert [b.label for b in state.boxes] == []
    assert [line.label for line in state.lines] == ["y", "x"]


def test_merge_is_pure():
    empty = ImageState()
    merge_state(empty, [BoxOp(1, (0, 0, 1, 1), "a")])
    assert empty == ImageState()
