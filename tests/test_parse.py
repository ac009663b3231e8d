"""The turn parser on messy real-model replies, and its properties (never raises, round trip)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drawing.format import format_answer_turn, format_tool_turn
from drawing.parse import parse_turn
from schemas.records import BoxOp, LineOp

BOX = '{"index": 1, "bbox_2d": [10, 20, 30, 40], "label": "cup"}'
LINE = '{"index": 2, "start_point_2d": [1, 2], "end_point_2d": [3, 4], "label": "path"}'
CUP = BoxOp(1, (10, 20, 30, 40), "cup")
PATH = LineOp(2, (1, 2), (3, 4), "path")

# (reply, expected operations, expected answer, expected error, detail substring)
CASES = [
    (f"<think> box it </think> Action: Object Mapper\n```json\n[{BOX}]\n```", (CUP,), None, "", ""),
    (f"<think>x</think> Action: Object Mapper\n```JSON\n[{BOX}]\n```", (CUP,), None, "", ""),
    (f"<think>x</think> Action: Object Mapper ```json [{BOX}] ``` done", (CUP,), None, "", ""),
    (
        f"Sure! Here you go:\n<think>x</think>\nAction: Object Mapper\n[{BOX}]\nHope it helps",
        (CUP,),
        None,
        "",
        "",
    ),
    (f"<think>x</think> Action: Object Mapper\n```json\n[{BOX}]\n", (CUP,), None, "", ""),  # no ```
    (
        f"<think>x</think> Action: Object Mapper\n```json\n[{BOX}\n",
        (),
        None,
        "bad_operation",
        "unparsable JSON",
    ),  # truncated list: operations may be lost, so not guessed
    (
        "<think>x</think> Action: Object Mapper\n```json\n"
        "[{'index': 1, 'bbox_2d': (10, 20, 30, 40), 'label': 'cup'}]\n```",
        (CUP,),
        None,
        "",
        "",
    ),
    (
        "<think>x</think> Action: Object Mapper\n```json\n"
        '[{"index": 1, "bbox_2d": [10, 20, 30, 40], "label": "cup", "visible": true, '
        '"n": null}]\n```',
        (CUP,),
        None,
        "",
        "",
    ),
    (
        "<think>x</think> Action: Object Mapper\n```json\n"
        "[{'index': 1, 'bbox_2d': [10, 20, 30, 40], 'label': 'cup', 'ok': true},]\n```",
        (CUP,),
        None,
        "",
        "",
    ),
    (f"<think>x</think> Action: Object Mapper\n```json\n[{BOX},]\n```", (CUP,), None, "", ""),
    (f"<think>x</think> Action: Object Mapper\n```json\n{BOX}\n```", (CUP,), None, "", ""),
    (
        f"<think>x</think> Action: Path Tracer\n```json\n[{BOX}]\n```\n```json\n[{LINE}]\n```",
        (CUP, PATH),
        None,
        "",
        "",
    ),
    (f"<think>x</think> Action: Path Tracer\n```json\n[{LINE}]\n```", (PATH,), None, "", ""),
    (
        '<think>x</think> Action: Path Tracer\n```json\n[{"index": "2", "start_point_2d": ["1", 2],'
        ' "end_point_2d": [3.0, 4], "label": "path"}]\n```',
        (PATH,),
        None,
        "",
        "",
    ),
    ("<think>x</think> Action: Answer\n<answer> B </answer>", (), "B", "", ""),
    (
        "<think>x</think> Action: Answer\n<answer>A</answer> no wait <answer>C</answer>",
        (),
        "C",
        "",
        "",
    ),
    ("<think>so the answer is 3</think> <answer>3</answer>", (), "3", "", ""),
    (
        "<think>x</think> Action: Answer\nThe answer is B.",
        (),
        None,
        "no_action",
        "Action: Answer without an <answer> tag",
    ),
    ("I think the cup is on the left.", (), None, "no_action", "neither a drawing operation"),
    ("", (), None, "no_action", ""),
    (
        "<think>x</think> Action: Object Mapper\n```json\n[]\n```",
        (),
        None,
        "no_action",
        "empty list",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": [1, 2, 3, 4]'
        "\n```",
        (),
        None,
        "bad_operation",
        "unparsable JSON",
    ),
    (
        "<think>x</think> Action: Object Mapper\n```json\n"
        '[{"index": 1, "bbox_2d": [1, 2, 3, 4]}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: missing key 'label'",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": [1, 2, 3],'
        ' "label": "a"}]\n```',
        (),
        None,
        "bad_operation",
        "'bbox_2d' needs 4 numbers, got 3",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": 0, "bbox_2d": [1, 2, 3, 4],'
        ' "label": "a"}]\n```',
        (),
        None,
        "bad_operation",
        "'index' must be an integer >= 1, got 0",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "a"}]'
        "\n```",
        (),
        None,
        "bad_operation",
        "operation 1: missing key 'index'",
    ),
    (
        f'<think>x</think> Action: Path Tracer\n```json\n[{LINE}, {{"index": 1, "start_point_2d":'
        ' [1, 2], "label": "b"}]\n```',
        (),
        None,
        "bad_operation",
        "operation 2: missing key 'end_point_2d'",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": true, "bbox_2d": [1, 2, 3, 4],'
        ' "label": "a"}]\n```',
        (),
        None,
        "bad_operation",
        "'index' must be an integer",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": ["a", 2, 3, 4],'
        ' "label": "a"}]\n```',
        (),
        None,
        "bad_operation",
        "'bbox_2d'[0] must be a number",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": [1, 2, 3, 4],'
        ' "label": ""}]\n```',
        (),
        None,
        "bad_operation",
        "'label' must be a non-empty string",
    ),
    (
        "<think>x</think> Action: Object Mapper\n```json\n[[[[[[]]]]]]\n```",
        (),
        None,
        "bad_operation",
        "operation 1: expected an object",
    ),
    (
        '<think>x</think> Action: Object Mapper\n```json\n"boxes"\n```',
        (),
        None,
        "bad_operation",
        "expected a list of operations",
    ),
]


@pytest.mark.parametrize("reply, ops, answer, error, detail", CASES)
def test_messy_replies(reply, ops, answer, error, detail):
    parsed = parse_turn(reply)
    assert parsed.error == error, parsed
    assert detail in parsed.error_detail
    assert parsed.operations == ops
    assert parsed.answer == answer


def test_strict_shape_has_no_issues_and_deviations_are_named():
    strict = parse_turn(f"<think> box it </think> Action: Object Mapper\n```json\n[{BOX}]\n```")
    assert strict.format_issues == () and strict.action == "Object Mapper"
    loose = parse_turn(f"Action: Path Tracer\n[{BOX},]")
    assert "missing <think>" in loose.format_issues
    assert "operations not in a code block" in loose.format_issues
    assert "trailing commas in JSON" in loose.format_issues
    assert "operation 1 draws with Object Mapper under Action: Path Tracer" in loose.format_issues
    both = parse_turn(
        f"<think>x</think> Action: Object Mapper\n```json\n[{BOX}]\n```<answer>B</answer>"
    )
    assert both.operations == (CUP,) and both.answer is None
    assert "an <answer> in a tool turn (ignored)" in both.format_issues
    no_action_line = parse_turn("<think>x</think> <answer>B</answer>")
    assert (
        no_action_line.action == "Answer" and "missing Action line" in no_action_line.format_issues
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text):
    parsed = parse_turn(text)
    assert parsed.error in ("", "no_action", "bad_operation")
    assert parsed.error or parsed.operations or parsed.answer is not None


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_characters="[]{}`\"'<>", blacklist_categories=("Cs",)),
        min_size=0,
        max_size=40,
    ),
    st.lists(st.sampled_from(["{", "[", "```", "<answer>", '"', "Action: Answer"]), max_size=6),
)
def test_never_raises_on_jsonish_fragments(prose, fragments):
    parse_turn(prose + "".join(fragments) + prose)


_label = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s)
_coord = st.integers(0, 2000) | st.floats(0, 2000, allow_nan=False).map(lambda v: round(v, 2))
_box = st.builds(BoxOp, st.integers(1, 40), st.tuples(_coord, _coord, _coord, _coord), _label)
_line = st.builds(
    LineOp, st.integers(1, 40), st.tuples(_coord, _coord), st.tuples(_coord, _coord), _label
)
_think = st.text(
    alphabet=st.characters(blacklist_characters="<>`", blacklist_categories=("Cs",)), max_size=60
).filter(lambda s: "Action" not in s)


@settings(max_examples=300, deadline=None)
@given(_think, st.lists(_box, min_size=1, max_size=4) | st.lists(_line, min_size=1, max_size=4))
def test_format_then_parse_is_identity(think, ops):
    parsed = parse_turn(format_tool_turn(think, ops))
    assert parsed.operations == tuple(ops)
    assert parsed.error == "" and parsed.format_issues == ()
    assert parsed.think == think.strip() and parsed.action == ops[0].tool


@settings(max_examples=100, deadline=None)
@given(_think, _think.filter(lambda s: s.strip()))
def test_answer_round_trip(think, answer):
    parsed = parse_turn(format_answer_turn(think, answer))
    assert parsed.answer == answer.strip() and parsed.format_issues == ()
    assert parsed.action == "Answer"
