"""Tolerant parser of assistant turns (docs/protocol.md): never raises, names what is wrong."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from drawreason.drawing.literals import (
    JSON_WORDS_IN_LITERAL,
    PYTHON_LITERAL,
    TRAILING_COMMAS,
    LiteralError,
    balanced_spans,
    load_literal,
)
from drawreason.schemas.records import BoxOp, LineOp, Operation, Turn

NO_ACTION = "no_action"
BAD_OPERATION = "bad_operation"
ANSWER = "Answer"

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_ACTION_RE = re.compile(
    r"\**Action\**[ \t]*:[ \t]*\**[ \t]*(Object[ _]?Mapper|Path[ _]?Tracer|Answer)\b\**",
    re.IGNORECASE,
)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_FENCE = "```"
_FENCE_LANG_RE = re.compile(r"[ \t]*([\w+-]*)")
_INDEX_RE = re.compile(r"\s*[0-9]+\s*")
_TOOLS = {"objectmapper": "Object Mapper", "pathtracer": "Path Tracer", "answer": ANSWER}
_BOX_KEYS = frozenset({"index", "bbox_2d", "label"})
_LINE_KEYS = frozenset({"index", "start_point_2d", "end_point_2d", "label"})
_INLINE_FENCES = "code block fences not on their own lines"

# The format issues that are cosmetic and unambiguous: the operations read are exactly what the
# text says and only their spelling differs from the strict shape, so drawing/format.py can write
# the same operations canonically. Teacher trajectories whose turns have nothing else are
# exported as SFT data in that canonical form (filters/canonical.py; never the RL reward, which
# scores the raw text). Every other issue stays rejecting: the think block or Action line is
# malformed or missing, the fence has no or another language, is never closed (truncated) or
# missing, several blocks, one object for a list, numbers or labels of the wrong type, the other
# tool, text around the operations, a tool call next to an answer. Kind -> the issue's text.
COSMETIC_ISSUES: dict[str, re.Pattern[str]] = {
    "fence_case": re.compile(r"code block marked '(?i:json)', not 'json'"),  # ```JSON, ```Json
    "fence_inline": re.compile(re.escape(_INLINE_FENCES)),  # Action: Object Mapper ```json [...]```
    "trailing_commas": re.compile(re.escape(TRAILING_COMMAS)),  # [{...},]
    "python_literal": re.compile(re.escape(PYTHON_LITERAL)),  # [{'index': 1, ...}], tuples
    "json_literals": re.compile(re.escape(JSON_WORDS_IN_LITERAL)),  # ... 'x': true} in a literal
    "extra_keys": re.compile(r"operation [0-9]+: unknown key\(s\) \[.*\]", re.DOTALL),
}


def cosmetic_kind(issue: str) -> str | None:
    """The COSMETIC_ISSUES kind of a format issue, None if the issue is not cosmetic."""
    for kind, pattern in COSMETIC_ISSUES.items():
        if pattern.fullmatch(issue):
            return kind
    return None


@dataclass(frozen=True)
class ParsedTurn:
    """What one assistant turn says: its think text, action, operations or answer.

    `action` is the action taken ("Answer" iff `answer` is set, a tool iff `operations` is not
    empty, "" on error unless the Action line named one). `error` is "" (usable), `no_action` or
    `bad_operation`, with `error_detail` saying why; `format_issues` lists every deviation from
    the strict shape of docs/protocol.md (empty: exactly that shape).
    """

    think: str = ""
    action: str = ""
    operations: tuple[Operation, ...] = ()
    answer: str | None = None
    error: str = ""
    error_detail: str = ""
    format_issues: tuple[str, ...] = ()


def _show(value: Any) -> str:
    """A short repr for error details (a model can put anything anywhere)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


class _OperationError(ValueError):
    """An operation list that cannot be executed; the message is the error detail."""


@dataclass(frozen=True)
class _Block:
    """A candidate operation list found in the text, with where it sits."""

    body: str
    start: int
    end: int
    lang: str = ""
    fenced: bool = True
    closed: bool = True
    own_lines: bool = True


# --- one operation -----------------------------------------------------------------------------


def _number(value: Any, what: str, issues: list[str]) -> int | float:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _OperationError(f"{what} must be a number, got {_show(value)}") from None
        issues.append(f"{what} written as a string")
        value = number
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _OperationError(f"{what} must be a number, got {_show(value)}")
    try:
        as_float = float(value)
    except OverflowError:
        raise _OperationError(f"{what} must be a finite number, got {_show(value)}") from None
    if not math.isfinite(as_float):
        raise _OperationError(f"{what} must be a finite number, got {_show(value)}")
    return int(value) if as_float.is_integer() else as_float


def _coords(op: dict, key: str, n: int, where: str, issues: list[str]) -> tuple[Any, ...]:
    if key not in op:
        raise _OperationError(f"{where}: missing key '{key}'")
    value = op[key]
    if not isinstance(value, list | tuple):
        raise _OperationError(f"{where}: '{key}' needs {n} numbers, got {_show(value)}")
    if len(value) != n:
        raise _OperationError(f"{where}: '{key}' needs {n} numbers, got {len(value)}")
    return tuple(_number(v, f"{where}: '{key}'[{i}]", issues) for i, v in enumerate(value))


def _index(op: dict, where: str, issues: list[str]) -> int:
    if "index" not in op:
        raise _OperationError(f"{where}: missing key 'index'")
    value = op["index"]
    if isinstance(value, str) and _INDEX_RE.fullmatch(value):
        issues.append(f"{where}: 'index' written as a string")
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        issues.append(f"{where}: 'index' written as {_show(value)}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _OperationError(f"{where}: 'index' must be an integer >= 1, got {_show(value)}")
    return value


def _label(op: dict, where: str, issues: list[str]) -> str:
    if "label" not in op:
        raise _OperationError(f"{where}: missing key 'label'")
    value = op["label"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        issues.append(f"{where}: 'label' written as a number")
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _OperationError(f"{where}: 'label' must be a non-empty string, got {_show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _OperationError(
            f"{where}: 'label' is not valid Unicode, got {_show(value)}"
        ) from None
    return value


def _operation(op: Any, n: int, issues: list[str]) -> Operation:
    where = f"operation {n}"
    if not isinstance(op, dict):
        raise _OperationError(f"{where}: expected an object, got {type(op).__name__} {_show(op)}")
    is_box = "bbox_2d" in op
    is_line = "start_point_2d" in op or "end_point_2d" in op
    if is_box and is_line:
        raise _OperationError(f"{where}: has both 'bbox_2d' and line points; which tool?")
    if not is_box and not is_line:
        raise _OperationError(f"{where}: missing key 'bbox_2d' (box) or 'start_point_2d' (line)")
    index = _index(op, where, issues)
    if is_box:
        box = _coords(op, "bbox_2d", 4, where, issues)
        result: Operation = BoxOp(index, box, _label(op, where, issues))
    else:
        start = _coords(op, "start_point_2d", 2, where, issues)
        end = _coords(op, "end_point_2d", 2, where, issues)
        result = LineOp(index, start, end, _label(op, where, issues))
    unknown = sorted(str(k) for k in set(op) - (_BOX_KEYS if is_box else _LINE_KEYS))
    if unknown:
        issues.append(f"{where}: unknown key(s) {unknown}")
    return result


def _operations(blocks: list[_Block], issues: list[str]) -> list[Operation]:
    ops: list[Operation] = []
    for block in blocks:
        try:
            value, how = load_literal(block.body)
        except LiteralError as exc:
            where = "" if block.closed else " (the code block is never closed)"
            raise _OperationError(f"unparsable JSON: {exc}{where}") from None
        if how:
            issues.append(how)
        if isinstance(value, dict):
            issues.append("a single object instead of a list")
            value = [value]
        if not isinstance(value, list | tuple):
            raise _OperationError(f"expected a list of operations, got {type(value).__name__}")
        for op in value:
            ops.append(_operation(op, len(ops) + 1, issues))
    return ops


# --- finding the operation list ----------------------------------------------------------------


def _unfenced(text: str, offset: int, any_list: bool) -> _Block | None:
    """An operation list written without a fence: a list of objects, else one object that
    looks like an operation, else (only if `any_list`) the first balanced list."""
    lists = balanced_spans(text, "[")
    for start, end in lists:
        if "{" in text[start:end]:
            return _Block(text[start:end], offset + start, offset + end, fenced=False)
    for start, end in balanced_spans(text, "{"):
        body = text[start:end]
        if any(key in body for key in ("index", "bbox_2d", "start_point_2d")):
            return _Block(body, offset + start, offset + end, fenced=False)
    if any_list and lists:
        start, end = lists[0]
        return _Block(text[start:end], offset + start, offset + end, fenced=False)
    return None


def _fenced(text: str, offset: int) -> list[_Block]:
    """Every ``` block in order; the last may be unclosed (a truncated reply)."""
    blocks: list[_Block] = []
    pos = text.find(_FENCE)
    while pos != -1:
        lang_match = _FENCE_LANG_RE.match(text, pos + 3)
        lang, body_start = lang_match.group(1), lang_match.end()
        line_start = text.rfind("\n", 0, pos) + 1
        opens_line = not text[line_start:pos].strip() and (
            body_start >= len(text) or text[body_start] in "\r\n"
        )
        close = text.find(_FENCE, body_start)
        if close == -1:
            # A truncated reply: take a complete list of objects if there is one, else the
            # body itself, so a cut-off list is an error and never silently loses operations.
            body = text[body_start:]
            for start, end in balanced_spans(body, "["):
                if "{" in body[start:end]:
                    body = body[start:end]
                    break
            end = offset + len(text)
            blocks.append(_Block(body, offset + pos, end, lang, closed=False, own_lines=opens_line))
            break
        body = text[body_start:close]
        closes_line = not text[text.rfind("\n", 0, close) + 1 : close].strip()
        own_lines = opens_line and closes_line
        blocks.append(_Block(body, offset + pos, offset + close + 3, lang, own_lines=own_lines))
        pos = text.find(_FENCE, close + 3)
    return blocks


def _blocks(text: str, offset: int, any_list: bool) -> list[_Block]:
    blocks = _fenced(text, offset)
    if blocks:
        return blocks
    found = _unfenced(text, offset, any_list)
    return [found] if found else []


def _block_issues(blocks: list[_Block], issues: list[str]) -> None:
    if len(blocks) > 1:
        issues.append(f"{len(blocks)} code blocks instead of one")
    for block in blocks:
        if not block.fenced:
            issues.append("operations not in a ```json code block")
            continue
        if not block.lang:
            issues.append("code block not marked json")
        elif block.lang != "json":
            issues.append(f"code block marked {block.lang!r}, not 'json'")
        if not block.closed:
            issues.append("code block never closed")
        if not block.own_lines:
            issues.append(_INLINE_FENCES)


# --- the turn ----------------------------------------------------------------------------------


def _think(text: str, issues: list[str]) -> tuple[str, int, int]:
    """(think text, start of the think block, end of it) with issues about its shape."""
    lower = text.lower()
    open_at = lower.find(_THINK_OPEN)
    close_at = lower.find(_THINK_CLOSE, open_at + 1 if open_at >= 0 else 0)
    if open_at == -1 and close_at == -1:
        issues.append("missing <think>")
        return "", 0, 0
    if open_at == -1:  # chat templates that put <think> in the prompt
        issues.append("missing <think>")
        return text[:close_at].strip(), 0, close_at + len(_THINK_CLOSE)
    if text[:open_at].strip():
        issues.append("text before <think>")
    if close_at == -1:
        issues.append("<think> never closed")
        return text[open_at + len(_THINK_OPEN) :].strip(), open_at, open_at + len(_THINK_OPEN)
    end = close_at + len(_THINK_CLOSE)
    return text[open_at + len(_THINK_OPEN) : close_at].strip(), open_at, end


def _answer_issues(text: str, action_end: int, spans: list[tuple[int, int]]) -> list[str]:
    issues = []
    if text[action_end : spans[0][0]].strip():
        issues.append("text between the Action line and <answer>")
    if text[spans[-1][1] :].strip():
        issues.append("text after </answer>")
    return issues


def _tool_issues(text: str, action_end: int, blocks: list[_Block]) -> list[str]:
    issues = []
    if text[action_end : blocks[0].start].strip():
        issues.append("text between the Action line and the operations")
    if text[blocks[-1].end :].strip():
        issues.append("text after the operations")
    return issues


def parse_turn(text: str) -> ParsedTurn:
    """Parse one assistant turn (docs/protocol.md); never raises on any string.

    Emits the think text, the action taken and its operations or answer. Rejects with
    `no_action` (no operations and no answer, or `Action: Answer` without an <answer> tag) or
    `bad_operation` (unparsable JSON, missing keys, wrong types or arity), naming the problem.
    """
    issues: list[str] = []
    think, _, think_end = _think(text, issues)
    rest_at = think_end
    match = _ACTION_RE.search(text, rest_at)
    named = _TOOLS[re.sub(r"[ _]", "", match.group(1)).lower()] if match else ""
    if not match:
        issues.append("missing Action line")
    else:
        if text[rest_at : match.start()].strip():
            issues.append("text between </think> and the Action line")
        if match.group(0) != f"Action: {named}":
            issues.append(f"Action line written as {match.group(0)!r}")
        if _ACTION_RE.search(text, match.end()):
            issues.append("several Action lines")
    action_end = match.end() if match else rest_at
    answer_matches = list(_ANSWER_RE.finditer(text))
    answer = answer_matches[-1].group(1).strip() if answer_matches else None
    if len(answer_matches) > 1:
        issues.append(f"{len(answer_matches)} <answer> tags")
    # Look for operations after the Action line, with the answer tags blanked out (same length,
    # so positions stay valid).
    blanked = _ANSWER_RE.sub(lambda m: " " * len(m.group(0)), text)
    blocks = _blocks(blanked[action_end:], action_end, any_list=named not in ("", ANSWER))

    def done(**kw: Any) -> ParsedTurn:
        return ParsedTurn(think=think, format_issues=tuple(issues), **kw)

    answers = named == ANSWER or (answer is not None and (not named or not blocks))
    if answers:
        if answer is None:
            unclosed = "<answer>" in text[action_end:].lower()
            detail = "an <answer> tag never closed" if unclosed else "no <answer> tag"
            return done(action=named, error=NO_ACTION, error_detail=f"Action: Answer with {detail}")
        if named and named != ANSWER:
            issues.append(f"Action: {named} but the turn only answers")
        if blocks:
            which = "the Action line" if named == ANSWER else "the answer (no Action line)"
            issues.append(f"a tool call and an <answer> in one turn; {which} decides")
        if named == ANSWER:
            issues.extend(_answer_issues(text, action_end, [m.span() for m in answer_matches]))
        return done(action=ANSWER, answer=answer)
    if answer is not None:
        issues.append("a tool call and an <answer> in one turn; the Action line decides")
    if not blocks:
        detail = (
            f"Action: {named} without a JSON list of operations"
            if named
            else "neither a drawing operation nor an <answer>"
        )
        return done(action=named, error=NO_ACTION, error_detail=detail)
    _block_issues(blocks, issues)
    if named:
        issues.extend(_tool_issues(blanked, action_end, blocks))
    try:
        ops = _operations(blocks, issues)
    except _OperationError as exc:
        return done(action=named, error=BAD_OPERATION, error_detail=str(exc))
    if not ops:
        return done(action=named, error=NO_ACTION, error_detail="an empty list of operations")
    tools = list(dict.fromkeys(op.tool for op in ops))
    if named:
        for n, op in enumerate(ops, start=1):
            if op.tool != named:
                issues.append(f"operation {n} draws with {op.tool} under Action: {named}")
    elif len(tools) > 1:
        issues.append("operations of both tools in one turn")
    return done(action=named or tools[0], operations=tuple(ops))


def parse_to_turn(text: str, finish_reason: str = "stop") -> Turn:
    """The Turn record of one assistant reply as parsed (nothing executed yet)."""
    parsed = parse_turn(text)
    return Turn(
        raw=text,
        think=parsed.think,
        action=parsed.action,
        operations=parsed.operations,
        answer=parsed.answer,
        error=parsed.error,
        error_detail=parsed.error_detail,
        format_issues=parsed.format_issues,
        finish_reason=finish_reason,
    )
