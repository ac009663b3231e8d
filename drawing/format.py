"""Writes assistant turns in the action protocol (docs/protocol.md); `parse.py` reads them back."""

from __future__ import annotations

import json
from collections.abc import Sequence

from drawreason.schemas.records import BoxOp, LineOp, Operation

ANSWER_ACTION = "Answer"


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def operation_json(op: Operation) -> dict:
    """The JSON object of one operation, integral coordinates written as integers."""
    if isinstance(op, BoxOp):
        return {"index": op.index, "bbox_2d": [_number(v) for v in op.bbox_2d], "label": op.label}
    if isinstance(op, LineOp):
        return {
            "index": op.index,
            "start_point_2d": [_number(v) for v in op.start_point_2d],
            "end_point_2d": [_number(v) for v in op.end_point_2d],
            "label": op.label,
        }
    raise TypeError(f"not an operation: {type(op).__name__}")


def format_tool_turn(think: str, operations: Sequence[Operation]) -> str:
    """A tool-call turn: think block, `Action: <tool>`, a fenced JSON list of operations.

    All operations of one turn must use the same tool (the protocol names one tool per turn).
    """
    tools = {op.tool for op in operations}
    if len(tools) != 1:
        raise ValueError(f"a tool turn needs operations of exactly one tool, got {sorted(tools)}")
    body = json.dumps([operation_json(op) for op in operations], ensure_ascii=False)
    return f"<think> {think.strip()} </think> Action: {tools.pop()}\n```json\n{body}\n```"


def format_answer_turn(think: str, answer: str) -> str:
    """The final turn: think block, `Action: Answer`, the answer in `<answer>` tags."""
    head = f"<think> {think.strip()} </think> Action: {ANSWER_ACTION}"
    return f"{head}\n<answer> {answer.strip()} </answer>"
