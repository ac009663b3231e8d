"""Oracle traces: Path Tracer turns along the solved route, maybe with a corrected wrong turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from drawing.format import format_answer_turn, format_tool_turn
from generators.maze.grid import Cell
from generators.maze.questions import MazeQuestion, format_route
from generators.maze.render import cell_center_px
from generators.maze.solve import Run, SideBranch, path_runs, run_spans
from schemas.records import LineOp

_TOWARD = {"up": "upward", "down": "downward", "left": "to the left", "right": "to the right"}


@dataclass(frozen=True)
class Trace:
    """The assistant turns of an oracle trajectory and how they were laid out."""

    replies: tuple[str, ...]
    tool_turns: int
    segments_per_turn: tuple[int, ...]  # route segments drawn by each tool turn (wrong one: 0)
    reflective: bool


def cell_text(cell: Cell) -> str:
    """'row 2, column 3' (1-based, as a person reads the maze)."""
    return f"row {cell[0] + 1}, column {cell[1] + 1}"


def _moves(n: int) -> str:
    return f"{n} move" if n == 1 else f"{n} moves"


def _chunks(items: Sequence[int], parts: int) -> list[list[int]]:
    """Consecutive, nearly equal groups (earlier groups one larger), at most len(items) groups."""
    parts = min(parts, len(items))
    if parts <= 0:
        return []
    base, extra = divmod(len(items), parts)
    out, pos = [], 0
    for k in range(parts):
        size = base + (1 if k < extra else 0)
        out.append(list(items[pos : pos + size]))
        pos += size
    return out


def can_reflect(branch: SideBranch, max_calls: int) -> bool:
    """True iff a wrong turn at `branch` fits the budget (wrong turn, correction, answer)."""
    tool_turns = max_calls - 1
    return tool_turns >= (2 if branch.run_index == 0 else 3)


def plan_turns(n: int, max_calls: int, wrong_at: int | None = None) -> list[list[int]]:
    """Segment indices drawn per tool turn; [] marks the wrong turn before segment `wrong_at`.

    One segment per turn when the budget allows, else consecutive segments packed so that the
    tool turns plus the answer turn fit `max_calls`.
    """
    budget = max_calls - 1
    if wrong_at is None:
        return _chunks(range(n), budget)
    if n + 1 <= budget:
        return [[k] for k in range(wrong_at)] + [[]] + [[k] for k in range(wrong_at, n)]
    left = budget - 1  # turns for the route segments, the wrong turn aside
    before = 0 if wrong_at == 0 else min(max(1, round(left * wrong_at / n)), left - 1)
    return _chunks(range(wrong_at), before) + [[]] + _chunks(range(wrong_at, n), left - before)


def _segment_sentence(k: int, runs: list[Run], spans: list[tuple[Cell, Cell]]) -> str:
    a, b = spans[k]
    d, n = runs[k].direction, runs[k].count
    if k == 0:
        text = f"From the start at {cell_text(a)} the corridor opens {_TOWARD[d]}; "
    else:
        text = f"At {cell_text(a)} the route turns {_TOWARD[d]}; "
    text += f"I trace {_moves(n)} {d} to {cell_text(b)} as segment {k + 1}"
    if k == len(runs) - 1:
        return text + ", which is the goal."
    return text + "."


def _check_sentence(previous: list[int]) -> str:
    if not previous:
        return ""
    if len(previous) == 1:
        return f"Segment {previous[0] + 1} follows open cells without crossing a wall. "
    return (
        f"Segments {previous[0] + 1}-{previous[-1] + 1} follow open cells without crossing a wall. "
    )


def _answer_think(question: MazeQuestion, path: Sequence[Cell], runs: list[Run]) -> str:
    n, moves = len(runs), len(path) - 1
    text = (
        f"The traced route from the start at {cell_text(path[0])} to the goal at "
        f"{cell_text(path[-1])} is {format_route(runs)}: {n} straight "
        f"segment{'s' if n != 1 else ''} and {_moves(moves)}."
    )
    if question.kind == "route":
        return text + f" That is option {question.answer}, {question.options[question.correct]}."
    if question.kind == "moves":
        total = " + ".join(str(r.count) for r in runs)
        return text + f" Adding the moves of the segments: {total} = {moves}."
    if n == 1:
        return text + " A single straight segment never changes direction: 0 turns."
    return (
        text + f" The direction changes once between each pair of consecutive segments: "
        f"{n} - 1 = {n - 1} turns."
    )


def build_trace(
    question: MazeQuestion,
    path: Sequence[Cell],
    grid_size: int,
    image_size: int,
    max_calls: int,
    wrong_turn: SideBranch | None = None,
) -> Trace:
    """The oracle turns: Path Tracer segments between cell centres, one per straight run.

    Each tool turn draws on the newest image (the maze is image 1; tool turn t yields image
    1 + t), so the route accumulates. With `wrong_turn`, the segment after its junction is
    first drawn into the side branch, then noticed and redrawn under the same label on the
    image before the mistake. Raises ValueError if the route is empty or the budget is too small.
    """
    runs = path_runs(path)
    if not runs:
        raise ValueError("a trace needs a route of at least one move")
    if max_calls < 2:
        raise ValueError(f"max_calls must be >= 2, got {max_calls}")
    if wrong_turn is not None and not can_reflect(wrong_turn, max_calls):
        raise ValueError(f"max_calls {max_calls} leaves no room for a wrong turn")
    spans = run_spans(path)

    def px(cell: Cell) -> tuple[int, int]:
        return cell_center_px(cell, grid_size, image_size)

    wrong_at = None if wrong_turn is None else wrong_turn.run_index
    plan = plan_turns(len(runs), max_calls, wrong_at)
    replies: list[str] = []
    current = 1  # the newest image, which the next turn draws on
    before_mistake = 1
    previous: list[int] = []
    correcting = False  # the turn right after the wrong turn redraws its segment
    for t, group in enumerate(plan, start=1):
        if not group and wrong_turn is not None:  # the wrong turn
            k, b = wrong_turn.run_index, wrong_turn
            label = f"segment {k + 1}"
            where = "From the start at" if k == 0 else "At"
            think = _check_sentence(previous) + (
                f"{where} {cell_text(b.junction)} the corridor branches. I try the passage "
                f"{_TOWARD[b.direction]} first and trace {_moves(b.count)} {b.direction} to "
                f"{cell_text(b.end)} as {label}."
            )
            op = LineOp(current, px(b.junction), px(b.end), label)
            replies.append(format_tool_turn(think, [op]))
            before_mistake, current = current, 1 + t
            previous, correcting = [], True
            continue
        ops = []
        sentences = []
        draw_on = current
        if correcting and wrong_turn is not None:
            b = wrong_turn
            label = f"segment {b.run_index + 1}"
            if b.leaf:
                sentences.append(
                    f"{label.capitalize()} runs into a dead end at {cell_text(b.end)}; "
                    "that is wrong."
                )
            else:
                sentences.append(
                    f"{label.capitalize()} leads into a side branch that only ends in dead ends "
                    f"beyond {cell_text(b.end)}; it never reaches the goal, so that is wrong."
                )
            sentences.append(
                f"I redraw {label} on image {before_mistake}, the drawing before the mistake."
            )
            draw_on = before_mistake
            correcting = False
        else:
            sentences.append(_check_sentence(previous).strip())
        for k in group:
            a, z = spans[k]
            ops.append(LineOp(draw_on, px(a), px(z), f"segment {k + 1}"))
            sentences.append(_segment_sentence(k, runs, spans))
        replies.append(format_tool_turn(" ".join(s for s in sentences if s), ops))
        current = 1 + t
        previous = group
    replies.append(format_answer_turn(_answer_think(question, path, runs), question.answer))
    return Trace(
        replies=tuple(replies),
        tool_turns=len(plan),
        segments_per_turn=tuple(len(group) for group in plan),
        reflective=wrong_turn is not None,
    )
