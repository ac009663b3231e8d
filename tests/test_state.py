"""Per-image state: label-keyed replace keeps position, new labels append, kinds retarget."""

from drawreason.drawing.state import ImageState, merge_state, normalize_box
from drawreason.schemas.records import BoxOp, LineOp


def test_new_labels_are_appended_in_order():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "a"), BoxOp(1, (1, 1, 6, 6), "b")])
    assert [b.label for b in state.boxes] == ["a", "b"]
    assert state.lines == ()


def test_existing_label_is_replaced_in_place_keeping_its_colour_position():
    state = merge_state(
        ImageState(),
        [BoxOp(1, (0, 0, 5, 5), "a"), BoxOp(1, (1, 1, 6, 6), "b"), BoxOp(1, (2, 2, 7, 7), "c")],
    )
    moved = merge_state(state, [BoxOp(2, (10, 10, 20, 20), "a")])
    assert [b.label for b in moved.boxes] == ["a", "b", "c"]
    assert moved.boxes[0].bbox_2d == (10, 10, 20, 20)
    assert moved.boxes[1:] == state.boxes[1:]


def test_replace_within_one_turn_keeps_the_last():
    line = LineOp(1, (0, 0), (1, 1), "p")
    state = merge_state(ImageState(), [line, LineOp(1, (0, 0), (2, 2), "p")])
    assert state.lines == (LineOp(1, (0, 0), (2, 2), "p"),)


def test_a_box_and_a_line_may_share_a_label_and_box_colours_do_not_shift():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "a"), BoxOp(1, (0, 0, 5, 5), "b")])
    both = merge_state(state, [LineOp(2, (0, 0), (3, 3), "a")])
    assert [b.label for b in both.boxes] == ["a", "b"]  # "b" keeps position 2, its colour
    assert [ln.label for ln in both.lines] == ["a"]
    moved = merge_state(both, [BoxOp(3, (1, 1, 2, 2), "a")])
    assert [b.bbox_2d for b in moved.boxes] == [(1, 1, 2, 2), (0, 0, 5, 5)]
    assert moved.lines == both.lines


def test_swapped_corners_are_normalised():
    state = merge_state(ImageState(), [BoxOp(1, (30, 40, 10, 20), "a")])
    assert state.boxes[0].bbox_2d == (10, 20, 30, 40)
    assert normalize_box(BoxOp(1, (5, 1, 2, 9), "x")).bbox_2d == (2, 1, 5, 9)


def test_merge_does_not_mutate_the_input_state():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "a")])
    merge_state(state, [BoxOp(1, (1, 1, 5, 5), "a"), LineOp(1, (0, 0), (1, 1), "l")])
    assert state == ImageState(boxes=(BoxOp(1, (0, 0, 5, 5), "a"),))


def test_a_line_reusing_a_box_label_is_appended_to_the_lines():
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 5, 5), "x"), LineOp(1, (0, 0), (1, 1), "y")])
    state = merge_state(state, [LineOp(2, (3, 3), (4, 4), "x")])
    assert [box.label for box in state.boxes] == ["x"]
    assert [line.label for line in state.lines] == ["y", "x"]
