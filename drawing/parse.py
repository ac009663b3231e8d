"""Tolerant parser of assistant turns (SPEC §1): never raises, names precisely what is wrong."""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from schemas.records import BoxOp, LineOp, Operation

NO_ACTION = "no_action"
BAD_OPERATION = "bad_operation"

_THINK_RE = re.compile(r"<think>(.*?)(</think>|$)", re.DOTALL | re.IGNORECASE)
_ACTION_RE = re.compile(
    r"Action\s*:\s*\**\s*(Object[ _]?Mapper|Path[ _]?Tracer|Answer)\b", re.IGNORECASE
)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n?(.*?)```", re.DOTALL)
_OPEN_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z]*)[ \t]*\n?(.*)$", re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")
_LITERAL_RE = re.compile(r"\b(true|false|null)\b")
_TOOLS = {"objectmapper": "Object Mapper", "pathtracer": "Path Tracer", "answer": "Answer"}


@dataclass(frozen=True)
class ParsedTurn:
    """What one assistant turn says: its think text, action, operations or answer.

    `error` is "" (usable), `no_action` or `bad_operation`, with `error_detail` saying why;
    `format_issues` lists every deviation from the strict shape (empty: exactly the shape).
    """

    think: str = ""
    action: str = ""
    operations: tuple[Operation, ...] = ()
    answer: str | None = None
    error: str = ""
    error_detail: str = ""
    format_issues: tuple[str, ...] = ()


class _OperationError(ValueError):
    pass


def _find_json_list(text: str) -> str | None:
    """The first bracket-balanced `[...]` in text (strings respected), else None."""
    start = text.find("[")
    while start != -1:
        depth, in_str, quote, escaped = 0, False, "", False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    in_str = False
            elif ch in "\"'":
                in_str, quote = True, ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("[", start + 1)
    return None


def _load(text: str, issues: list[str]) -> Any:
    """JSON, then JSON without trailing commas, then a Python literal with JSON words mapped."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        first_error = exc
    cleaned = _TRAILING_COMMA_RE.sub(r"\1", text)
    if cleaned != text:
        try:
            value = json.loads(cleaned)
            issues.append("trailing commas in JSON")
            return value
        except (json.JSONDecodeError, RecursionError):
            pass
    literal = _LITERAL_RE.sub(lambda m: {"true": "True", "false": "False"}.get(m[1], "None"), text)
    try:
        value = ast.literal_eval(literal.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _OperationError(f"unparsable JSON: {first_error}") from None
    issues.append("operations written as a Python literal, not JSON")
    return value


def _number(value: Any, what: str, issues: list[str]) -> float:
    if isinstance(value, bool):
        raise _OperationError(f"{what} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _OperationError(f"{what} must be a number, got {value!r}") from None
        issues.append(f"{what} written as a string")
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _OperationError(f"{what} must be a finite number, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def _coords(op: dict, key: str, n: int, where: str, issues: list[str]) -> tuple[float, ...]:
    value = op[key]
    if not isinstance(value, list | tuple):
        raise _OperationError(f"{where}: '{key}' needs {n} numbers, got {value!r}")
    if len(value) != n:
        raise _OperationError(f"{where}: '{key}' needs {n} numbers, got {len(value)}")
    return tuple(_number(v, f"{where}: '{key}'[{i}]", issues) for i, v in enumerate(value))


def _index(op: dict, where: str, issues: list[str]) -> int:
    if "index" not in op:
        raise _OperationError(f"{where}: missing key 'index'")
    value = op["index"]
    if isinstance(value, str) and value.strip().isdigit():
        issues.append(f"{where}: 'index' written as a string")
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _OperationError(f"{where}: 'index' must be an integer >= 1, got {value!r}")
    return value


def _label(op: dict, where: str) -> str:
    if "label" not in op:
        raise _OperationError(f"{where}: missing key 'label'")
    value = op["label"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _OperationError(f"{where}: 'label' must be a non-empty string, got {value!r}")
    return value.strip()


def _operation(op: Any, n: int, action: str, issues: list[str]) -> Operation:
    where = f"operation {n}"
    if not isinstance(op, dict):
        raise _OperationError(f"{where}: expected an object, got {type(op).__name__}")
    is_box = "bbox_2d" in op
    is_line = "start_point_2d" in op or "end_point_2d" in op
    if is_box and is_line:
        raise _OperationError(f"{where}: has both 'bbox_2d' and line points")
    if not is_box and not is_line:
        raise _OperationError(f"{where}: missing key 'bbox_2d' (box) or 'start_point_2d' (line)")
    index = _index(op, where, issues)
    if is_box:
        result: Operation = BoxOp(
            index, _coords(op, "bbox_2d", 4, where, issues), _label(op, where)
        )
    else:
        for key in ("start_point_2d", "end_point_2d"):
            if key not in op:
                raise _OperationError(f"{where}: missing key '{key}'")
        result = LineOp(
            index,
            _coords(op, "start_point_2d", 2, where, issues),
            _coords(op, "end_point_2d", 2, where, issues),
            _label(op, where),
        )
    if action and action != "Answer" and result.tool != action:
        issues.append(f"{where} draws with {result.tool} under Action: {action}")
    return result


def _json_blocks(text: str, issues: list[str]) -> list[str]:
    blocks = _FENCE_RE.findall(text)
    if blocks:
        if len(blocks) > 1:
            issues.append(f"{len(blocks)} code blocks instead of one")
        for lang, _ in blocks:
            if lang.lower() not in ("json", ""):
                issues.append(f"code block marked {lang!r}, not json")
            elif not lang:
                issues.append("code block not marked json")
        return [body for _, body in blocks]
    opened = _OPEN_FENCE_RE.search(text)
    if opened:
        issues.append("code block never closed")
        return [opened.group(2)]
    found = _find_json_list(text)
    if found is not None:
        issues.append("operations not in a code block")
        return [found]
    return []


def _parse_operations(blocks: list[str], action: str, issues: list[str]) -> list[Operation]:
    ops: list[Operation] = []
    for block in blocks:
        value = _load(block.strip(), issues)
        if isinstance(value, dict):
            issues.append("a single object instead of a list")
            value = [value]
        if not isinstance(value, list | tuple):
            raise _OperationError(f"expected a list of operations, got {type(value).__name__}")
        for op in value:
            ops.append(_operation(op, len(ops) + 1, action, issues))
    return ops


def parse_turn(text: str) -> ParsedTurn:
    """Parse one assistant turn; never raises on any string."""
    if not isinstance(text, str):
        text = str(text)
    issues: list[str] = []
    think_match = _THINK_RE.search(text)
    think = think_match.group(1).strip() if think_match else ""
    if not think_match:
        issues.append("missing <think>")
    elif not think_match.group(2):
        issues.append("<think> never closed")
    rest = text[think_match.end() :] if think_match and think_match.group(2) else text
    actions = _ACTION_RE.findall(rest)
    action = _TOOLS[re.sub(r"[ _]", "", actions[0]).lower()] if actions else ""
    if not actions:
        issues.append("missing Action line")
    elif len(actions) > 1:
        issues.append(f"{len(actions)} Action lines")
    answers = _ANSWER_RE.findall(text)
    answer = answers[-1].strip() if answers else None
    if len(answers) > 1:
        issues.append(f"{len(answers)} <answer> tags")

    def done(**kw: Any) -> ParsedTurn:
        return ParsedTurn(think=think, action=action, format_issues=tuple(issues), **kw)

    body = _ANSWER_RE.sub("", rest)
    blocks = _json_blocks(body, []) if action == "Answer" or answer is not None else None
    if action == "Answer" or (answer is not None and (not action or not blocks)):
        if answer is None:
            return done(error=NO_ACTION, error_detail="Action: Answer without an <answer> tag")
        if action and action != "Answer":
            issues.append(f"Action: {action} but the turn answers")
        if blocks:
            issues.append("a tool call in an answer turn (ignored)")
        if not action:
            action = "Answer"
        return done(answer=answer)
    if answer is not None:
        issues.append("an <answer> in a tool turn (ignored)")
    blocks = _json_blocks(body, issues)
    if not blocks:
        detail = (
            f"Action: {action} without a JSON list of operations"
            if action
            else ("neither a drawing operation nor an <answer>")
        )
        return done(error=NO_ACTION, error_detail=detail)
    try:
        ops = _parse_operations(blocks, action, issues)
    except _OperationError as exc:
        return done(error=BAD_OPERATION, error_detail=str(exc))
    if not ops:
        return done(error=NO_ACTION, error_detail="an empty list of operations")
    if not action:
        action = ops[0].tool
    return done(operations=tuple(ops))
