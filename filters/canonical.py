"""Canonical SFT text of model turns whose only format issues are cosmetic (docs/protocol.md).

For the SFT export of teacher (and policy-sampled) trajectories only: a tool turn whose format
issues are all in `drawing.parse.COSMETIC_ISSUES` (```JSON, inline fences, trailing commas,
Python literals, JSON words in one, extra keys) is re-written by drawing/format.py from its
parsed operations, its think text kept. The RL reward never sees this: it scores the raw policy
text strictly (`filters.scoring.format_score`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from drawreason.drawing.format import ANSWER_ACTION, format_tool_turn
from drawreason.drawing.parse import cosmetic_kind, parse_turn
from drawreason.filters.scoring import score_trajectory
from drawreason.schemas.records import Trajectory, Turn


@dataclass(frozen=True)
class Canonicalized:
    """A trajectory with its cosmetic-only turns re-written, and what was re-written.

    `trajectory` is for filtering and export only: its re-written turns hold the canonical text
    in `raw` and no format issues, and it is rescored. `turns` lists (0-based turn index, kinds)
    for every re-written turn; the original trajectory keeps the raw replies.
    """

    trajectory: Trajectory
    turns: tuple[tuple[int, tuple[str, ...]], ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind once per re-written turn (what metrics.json counts)."""
        return tuple(kind for _, kinds in self.turns for kind in kinds)


def canonical_turn(turn: Turn) -> tuple[Turn, tuple[str, ...]] | None:
    """(the turn with its canonical text and no format issues, the kinds re-written), or None
    when there is nothing to re-write: the turn is already strict, is not a tool call that
    executed, or has an issue that is not cosmetic."""
    if not turn.format_issues or turn.error or not turn.operations or turn.action == ANSWER_ACTION:
        return None
    kinds = [cosmetic_kind(issue) for issue in turn.format_issues]
    if None in kinds or {op.tool for op in turn.operations} != {turn.action}:
        return None
    text = format_tool_turn(turn.think, turn.operations)
    check = parse_turn(text)  # the canonical text must read back as the same turn, strictly
    if check.format_issues or check.error or check.operations != turn.operations:
        return None
    if check.think != turn.think.strip() or check.action != turn.action:
        return None
    return dataclasses.replace(turn, raw=text, format_issues=()), tuple(dict.fromkeys(kinds))


def canonicalize(trajectory: Trajectory) -> Canonicalized:
    """Every cosmetic-only turn of `trajectory` re-written canonically (see Canonicalized)."""
    turns = list(trajectory.turns)
    rewritten: list[tuple[int, tuple[str, ...]]] = []
    for i, turn in enumerate(turns):
        found = canonical_turn(turn)
        if found:
            turns[i], kinds = found
            rewritten.append((i, kinds))
    if not rewritten:
        return Canonicalized(trajectory)
    canonical = dataclasses.replace(trajectory, turns=tuple(turns))
    canonical = dataclasses.replace(canonical, scores=score_trajectory(canonical))
    return Canonicalized(canonical, tuple(rewritten))


def with_canonical_meta(trajectory: Trajectory, canon: Canonicalized) -> Trajectory:
    """`trajectory` (raw replies, strict scores) with `meta["canonicalized"]` listing the turns
    its SFT export re-wrote: 1-based turn, kinds and the original format issues."""
    if not canon.turns:
        return trajectory
    notes = [
        {
            "turn": i + 1,
            "kinds": list(kinds),
            "format_issues": list(trajectory.turns[i].format_issues),
        }
        for i, kinds in canon.turns
    ]
    return dataclasses.replace(trajectory, meta={**trajectory.meta, "canonicalized": notes})
