"""The structured-outputs hook of the vLLM tests: a random model writes gibberish, so to get
multi-turn trajectories out of the real engine, questions tagged FORCED_TAG have every turn
constrained by a regex (vLLM structured outputs) to a valid action of docs/protocol.md, free only in
its think text:

  turn 1: Object Mapper, one box on each input image      -> images n+1 .. 2n
  turn 2: Path Tracer, one line on the last rendered image -> image 2n+1
  turn 3: Answer FORCED_ANSWER
"""

from __future__ import annotations

from collections.abc import Sequence

from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.schemas.records import BoxOp, LineOp
from drawreason.teachers.base import ChatMessage

FORCED_TAG = "[forced]"
FORCED_ANSWER = "B"
FORCED_TURNS = 3
THINK_REGEX = "[a-z]{1,8}( [a-z]{1,8}){0,2}"
_THINK = "THINKPLACEHOLDER"
_SPECIAL = set("\\.^$*+?{}[]|()")


def _literal(text: str) -> str:
    """A regex matching exactly `text` (newlines written as \\n)."""
    return "".join("\\n" if ch == "\n" else f"\\{ch}" if ch in _SPECIAL else ch for ch in text)


def forced_turn(n_inputs: int, turn: int) -> str:
    """The reply of 0-based `turn` for an item with `n_inputs` images, with the think text
    left as a placeholder (see forced_regex)."""
    if turn == 0:
        boxes = [BoxOp(i, (1, 1, 10 + i, 10), f"view{i}") for i in range(1, n_inputs + 1)]
        return format_tool_turn(_THINK, boxes)
    if turn == 1:
        return format_tool_turn(_THINK, [LineOp(2 * n_inputs, (2, 2), (40, 30), "path")])
    return format_answer_turn(_THINK, FORCED_ANSWER)


def forced_regex(n_inputs: int, turn: int) -> str:
    return _literal(forced_turn(n_inputs, turn)).replace(_THINK, THINK_REGEX)


def forced_actions(messages: Sequence[ChatMessage]) -> dict[str, str] | None:
    """VLLMTeacher's structured_outputs hook: a regex for conversations whose first user
    message carries FORCED_TAG, None (a free reply) for all others."""
    first_user = next(m for m in messages if m.role == "user")
    if FORCED_TAG not in first_user.text:
        return None
    turn = sum(m.role == "assistant" for m in messages)
    return {"regex": forced_regex(len(first_user.images), turn)}


def expected_images_per_turn(n_inputs: int) -> list[int]:
    """Images the teacher sees in each forced turn's request."""
    return [n_inputs, 2 * n_inputs, 2 * n_inputs + 1]


def expected_parents(n_inputs: int) -> tuple[int, ...]:
    return (0,) * n_inputs + tuple(range(1, n_inputs + 1)) + (2 * n_inputs,)
