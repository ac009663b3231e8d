"""The action parser: never raises, format-then-parse is the identity, messy real replies."""

import pytest
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.drawing.parse import parse_turn
from drawreason.schemas.records import BoxOp, LineOp
from hypothesis import given, settings
from hypothesis import strategies as st

# --- properties --------------------------------------------------------------------------------

# Protocol markers cannot appear inside think text or labels of a well-formed turn.
_MARKERS = ("```", "<think>", "</think>", "<answer>", "</answer>", "action")
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="`"), max_size=40
).filter(lambda s: not any(m in s.lower() for m in _MARKERS))
_label = _text.filter(lambda s: s.strip() != "")
_coord = st.one_of(
    st.integers(min_value=0, max_value=4096),
    st.floats(min_value=0, max_value=4096, allow_nan=False, allow_infinity=False),
)
_index = st.integers(min_value=1, max_value=50)
_box = st.builds(BoxOp, _index, st.tuples(_coord, _coord, _coord, _coord), _label)
_line = st.builds(LineOp, _index, st.tuples(_coord, _coord), st.tuples(_coord, _coord), _label)
_ops = st.one_of(st.lists(_box, min_size=1, max_size=5), st.lists(_line, min_size=1, max_size=5))


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(text):
    parsed = parse_turn(text)
    assert parsed.error in ("", "no_action", "bad_operation")
    assert bool(parsed.error) == bool(parsed.error_detail)
    assert parsed.error or parsed.operations or parsed.answer is not None


_pieces = st.sampled_from(
    [
        "<think>",
        "</think>",
        "Action: Object Mapper",
        "Action: Path Tracer",
        "Action: Answer",
        "```json",
        "```",
        "\n",
        "<answer>",
        "</answer>",
        '[{"index": 1, "bbox_2d": [1, 2, 3, 4], "label": "a"}]',
        "{'index': 2,",
        '"start_point_2d": [1, 2], "end_point_2d": [3, 4]',
        "[",
        "]",
        "{",
        "}",
        ",",
        "'",
        '"',
        "true",
        "None",
        "1e999",
        "9" * 5000,
    ]
)


@settings(max_examples=500)
@given(st.lists(st.one_of(_pieces, st.text(max_size=5)), max_size=25))
def test_never_raises_on_protocol_shaped_text(pieces):
    parsed = parse_turn("".join(pieces))
    assert parsed.error in ("", "no_action", "bad_operation")
    if not parsed.error:
        assert (parsed.answer is not None) != bool(parsed.operations)


@settings(max_examples=300)
@given(_text, _ops)
def test_format_then_parse_is_identity_for_tool_turns(think, ops):
    parsed = parse_turn(format_tool_turn(think, ops))
    assert parsed.error == "", parsed.error_detail
    assert parsed.format_issues == ()
    assert parsed.operations == tuple(ops)
    assert parsed.action == ops[0].tool
    assert parsed.think == think.strip()
    assert parsed.answer is None


@settings(max_examples=300)
@given(_text, _label)
def test_format_then_parse_is_identity_for_answer_turns(think, answer):
    parsed = parse_turn(format_answer_turn(think, answer))
    assert parsed.error == ""
    assert parsed.format_issues == ()
    assert parsed.action == "Answer"
    assert parsed.answer == answer.strip()
    assert parsed.operations == ()


# --- messy replies -----------------------------------------------------------------------------

B1 = BoxOp(1, (10, 20, 30, 40), "car")
B2 = BoxOp(2, (1.5, 2, 3, 4), "tree")
L1 = LineOp(1, (0, 0), (5, 5), "path")
BOX = '{"index": 1, "bbox_2d": [10, 20, 30, 40], "label": "car"}'
BOX2 = '{"index": 2, "bbox_2d": [1.5, 2, 3, 4], "label": "tree"}'
LINE = '{"index": 1, "start_point_2d": [0, 0], "end_point_2d": [5, 5], "label": "path"}'
HEAD = "<think> look </think> Action: Object Mapper\n"

# (name, reply, expected operations, expected answer, expected error, detail substring)
CASES = [
    ("strict tool", f"{HEAD}```json\n[{BOX}]\n```", (B1,), None, "", ""),
    ("strict answer", "<think> x </think> Action: Answer\n<answer> B </answer>", (), "B", "", ""),
    (
        "prose around json",
        f"Sure! {HEAD}Here you go:\n```json\n[{BOX}]\n```\nHope this helps.",
        (B1,),
        None,
        "",
        "",
    ),
    ("uppercase fence", f"{HEAD}```JSON\n[{BOX}]\n```", (B1,), None, "", ""),
    ("bare fence", f"{HEAD}```\n[{BOX}]\n```", (B1,), None, "", ""),
    (
        "fence inline",
        f"<think> a </think> Action: Object Mapper ```json [{BOX}] ```",
        (B1,),
        None,
        "",
        "",
    ),
    ("truncated fence, complete list", f"{HEAD}```json\n[{BOX}]\n", (B1,), None, "", ""),
    (
        "truncated fence, cut list",
        f'{HEAD}```json\n[{BOX}, {{"index": 2, "bbox_2d": [1',
        (),
        None,
        "bad_operation",
        "never closed",
    ),
    ("unfenced list", f"{HEAD}[{BOX}]", (B1,), None, "", ""),
    ("single object", f"{HEAD}```json\n{BOX}\n```", (B1,), None, "", ""),
    (
        "json literals",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [10, 20, 30, 40], "label": "car", "ok": true, '
        '"note": null}]\n```',
        (B1,),
        None,
        "",
        "",
    ),
    (
        "python literals",
        f"{HEAD}```python\n[{{'index': 1, 'bbox_2d': (10, 20, 30, 40), 'label': 'car', "
        "'ok': True, 'note': None}]\n```",
        (B1,),
        None,
        "",
        "",
    ),
    (
        "json words in a python literal",
        f"{HEAD}```\n[{{'index': 1, 'bbox_2d': [10, 20, 30, 40], 'label': 'car', 'x': true}}]\n```",
        (B1,),
        None,
        "",
        "",
    ),
    ("python tuple of ops", f"{HEAD}```\n({BOX},)\n```", (B1,), None, "", ""),
    ("trailing commas", f"{HEAD}```json\n[{BOX},\n{BOX2},\n]\n```", (B1, B2), None, "", ""),
    (
        "two blocks concatenated",
        f"{HEAD}```json\n[{BOX}]\n```\nand\n```json\n[{BOX2}]\n```",
        (B1, B2),
        None,
        "",
        "",
    ),
    (
        "missing label",
        f'{HEAD}```json\n[{BOX}, {{"index": 1, "bbox_2d": [1, 2, 3, 4]}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 2: missing key 'label'",
    ),
    (
        "missing index",
        f'{HEAD}```json\n[{{"bbox_2d": [1, 2, 3, 4], "label": "a"}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: missing key 'index'",
    ),
    (
        "wrong arity",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [1, 2, 3], "label": "a"}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: 'bbox_2d' needs 4 numbers, got 3",
    ),
    (
        "index 0",
        f'{HEAD}```json\n[{{"index": 0, "bbox_2d": [1, 2, 3, 4], "label": "a"}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: 'index' must be an integer >= 1, got 0",
    ),
    (
        "bool index",
        f'{HEAD}```json\n[{{"index": true, "bbox_2d": [1, 2, 3, 4], "label": "a"}}]\n```',
        (),
        None,
        "bad_operation",
        "'index' must be an integer >= 1, got True",
    ),
    (
        "float index",
        f'{HEAD}```json\n[{{"index": 1.0, "bbox_2d": [10, 20, 30, 40], "label": "car"}}]\n```',
        (B1,),
        None,
        "",
        "",
    ),
    (
        "string coordinates",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": ["10", "20", 30, 40], "label": "car"}}]\n```',
        (B1,),
        None,
        "",
        "",
    ),
    (
        "word coordinate",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": ["left", 20, 30, 40], "label": "car"}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: 'bbox_2d'[0] must be a number, got 'left'",
    ),
    (
        "infinite coordinate",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [1e999, 20, 30, 40], "label": "car"}}]\n```',
        (),
        None,
        "bad_operation",
        "must be a finite number",
    ),
    (
        "numeric label",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [1, 2, 3, 4], "label": 7}}]\n```',
        (BoxOp(1, (1, 2, 3, 4), "7"),),
        None,
        "",
        "",
    ),
    (
        "empty label",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [1, 2, 3, 4], "label": " "}}]\n```',
        (),
        None,
        "bad_operation",
        "'label' must be a non-empty string",
    ),
    (
        "nested garbage",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [[1, 2], [3, 4]], "label": "a"}}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: 'bbox_2d' needs 4 numbers, got 2",
    ),
    (
        "list of lists",
        f"{HEAD}```json\n[[1, 2, 3, 4]]\n```",
        (),
        None,
        "bad_operation",
        "operation 1: expected an object, got list",
    ),
    (
        "unparsable json",
        f"{HEAD}```json\n[{{index: 1, bbox_2d: [1, 2, 3, 4]}}]\n```",
        (),
        None,
        "bad_operation",
        "unparsable JSON: Expecting property name",
    ),
    ("empty list", f"{HEAD}```json\n[]\n```", (), None, "no_action", "empty list"),
    (
        "missing end point",
        '<think> a </think> Action: Path Tracer\n```json\n[{"index": 1, "start_point_2d": '
        '[0, 0], "label": "p"}]\n```',
        (),
        None,
        "bad_operation",
        "operation 1: missing key 'end_point_2d'",
    ),
    (
        "strict line",
        f"<think> a </think> Action: Path Tracer\n```json\n[{LINE}]\n```",
        (L1,),
        None,
        "",
        "",
    ),
    ("tool mismatch", f"{HEAD}```json\n[{LINE}]\n```", (L1,), None, "", ""),
    ("no action line", f"<think> a </think>\n```json\n[{BOX}]\n```", (B1,), None, "", ""),
    ("no think", f"Action: Object Mapper\n```json\n[{BOX}]\n```", (B1,), None, "", ""),
    (
        "answer with surrounding text",
        "<think> x </think> Action: Answer\nSo: <answer>  (B) left </answer> done.",
        (),
        "(B) left",
        "",
        "",
    ),
    (
        "multiple answer tags",
        "<think> maybe <answer>A</answer> </think> Action: Answer\n<answer>C</answer>",
        (),
        "C",
        "",
        "",
    ),
    (
        "answer action without tag",
        "<think> x </think> Action: Answer\nThe answer is C.",
        (),
        None,
        "no_action",
        "no <answer> tag",
    ),
    (
        "unclosed answer",
        "<think> x </think> Action: Answer\n<answer> C",
        (),
        None,
        "no_action",
        "never closed",
    ),
    ("prose only", "I think the answer is [B].", (), None, "no_action", "neither"),
    ("empty", "", (), None, "no_action", "neither"),
    (
        "tool action without ops",
        "<think> x </think> Action: Object Mapper\nI will draw a box.",
        (),
        None,
        "no_action",
        "without a JSON list",
    ),
    (
        "tool call and answer, action decides",
        f"{HEAD}```json\n[{BOX}]\n```\n<answer>B</answer>",
        (B1,),
        None,
        "",
        "",
    ),
    (
        "answer action with a tool call",
        f"<think> x </think> Action: Answer\n```json\n[{BOX}]\n```\n<answer>B</answer>",
        (),
        "B",
        "",
        "",
    ),
    (
        "no action line, answer wins",
        f"<think> x </think>\n```json\n[{BOX}]\n```\n<answer>B</answer>",
        (),
        "B",
        "",
        "",
    ),
    (
        "markdown action line",
        f"<think> a </think> **Action:** object mapper\n```json\n[{BOX}]\n```",
        (B1,),
        None,
        "",
        "",
    ),
    (
        "think in prompt template",
        f"reasoning here </think> Action: Object Mapper\n```json\n[{BOX}]\n```",
        (B1,),
        None,
        "",
        "",
    ),
    (
        "apostrophe in prose before unfenced list",
        f"<think> a </think> Action: Object Mapper\nLet's draw it: [{BOX}]",
        (B1,),
        None,
        "",
        "",
    ),
    ("huge integer", f"{HEAD}```json\n[{'9' * 5000}]\n```", (), None, "bad_operation", ""),
    ("answer without action line", "<think>so it is 3</think> <answer>3</answer>", (), "3", "", ""),
    (
        "deeply nested lists",
        f"{HEAD}```json\n[[[[[[]]]]]]\n```",
        (),
        None,
        "bad_operation",
        "operation 1: expected an object, got list",
    ),
    (
        "a string instead of a list",
        f'{HEAD}```json\n"boxes"\n```',
        (),
        None,
        "bad_operation",
        "expected a list of operations, got str",
    ),
    (
        "string index",
        f'{HEAD}```json\n[{{"index": "1", "bbox_2d": [10, 20, 30, 40.0], "label": "car"}}]\n```',
        (B1,),
        None,
        "",
        "",
    ),
    (
        "cut inside a closed fence",
        f'{HEAD}```json\n[{{"index": 1, "bbox_2d": [1, 2, 3, 4]\n```',
        (),
        None,
        "bad_operation",
        "unparsable JSON",
    ),
]


@pytest.mark.parametrize(("name", "reply", "ops", "answer", "error", "detail"), CASES)
def test_messy_replies(name, reply, ops, answer, error, detail):
    parsed = parse_turn(reply)
    assert parsed.error == error, parsed.error_detail
    assert detail in parsed.error_detail
    assert parsed.operations == ops
    assert parsed.answer == answer
    if name.startswith("strict"):
        assert parsed.format_issues == ()
    elif not error:  # usable, but not the strict shape: the deviation is recorded
        assert parsed.format_issues, name


@pytest.mark.parametrize(
    ("reply", "issue"),
    [
        (f"{HEAD}```json\n[{LINE}]\n```", "operation 1 draws with Path Tracer under Action"),
        (f"<think> a </think>\n```json\n[{BOX}]\n```", "missing Action line"),
        (f"Action: Object Mapper\n```json\n[{BOX}]\n```", "missing <think>"),
        (f"{HEAD}[{BOX}]", "operations not in a ```json code block"),
        (f"{HEAD}```json\n[{BOX}]\n```\n<answer>B</answer>", "a tool call and an <answer>"),
        (f"<think> a </think> Action: Object Mapper ```json [{BOX}] ```", "not on their own"),
        (f"{HEAD}```JSON\n[{BOX}]\n```", "code block marked 'JSON'"),
        (f"{HEAD}```json\n[{BOX},]\n```", "trailing commas"),
        (f"Hi <think> a </think> Action: Object Mapper\n```json\n[{BOX}]\n```", "before <think>"),
        (f"{HEAD}```json\n[{BOX}]\n```\nDone.", "text after the operations"),
        ("<think> a </think> Action: Answer\n<answer>B</answer> ok", "text after </answer>"),
    ],
)
def test_format_issues_name_the_deviation(reply, issue):
    issues = parse_turn(reply).format_issues
    assert any(issue in i for i in issues), issues


def test_python_literal_mapping_leaves_strings_alone():
    reply = f"{HEAD}```\n[{{'index': 1, 'bbox_2d': [1, 2, 3, 4], 'label': 'true null'}}]\n```"
    assert parse_turn(reply).operations == (BoxOp(1, (1, 2, 3, 4), "true null"),)


def test_action_is_the_action_taken():
    assert parse_turn(f"<think> a </think>\n```json\n[{LINE}]\n```").action == "Path Tracer"
    no_tag = parse_turn("<think> x </think> Action: Object Mapper\n<answer>B</answer>")
    assert (no_tag.action, no_tag.answer) == ("Answer", "B")
    assert any("only answers" in i for i in no_tag.format_issues)
