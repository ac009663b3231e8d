"""Oracle traces: Path Tracer turns along the solved route, maybe with a corrected mistake
(a wrong turn into a side branch, or a segment drawn on through a wall)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.generators.maze import phrasing as P
from drawreason.generators.maze.grid import Cell
from drawreason.generators.maze.questions import MazeQuestion, format_route
from drawreason.generators.maze.render import cell_center_px
from drawreason.generators.maze.solve import Run, SideBranch, WallCrossing, path_runs, run_spans
from drawreason.schemas.records import LineOp

_TOWARD = {"up": "upward", "down": "downward", "left": "to the left", "right": "to the right"}


@dataclass(frozen=True)
class Trace:
    """The assistant turns of an oracle trajectory and how they were laid out."""

    replies: tuple[str, ...]
    tool_turns: int
    segments_per_turn: tuple[int, ...]  # route segments each tool turn draws right (wrong: 0)
    reflective: bool


def cell_text(cell: Cell) -> str:
    """'row 2, column 3' (1-based, as a person reads the maze)."""
    return f"row {cell[0] + 1}, column {cell[1] + 1}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _moves(n: int) -> str:
    return _plural(n, "move")


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


Mistake = SideBranch | WallCrossing


def can_reflect(mistake: Mistake, max_calls: int) -> bool:
    """True iff `mistake` fits the budget (the mistaken turn, its correction, the answer)."""
    tool_turns = max_calls - 1
    return tool_turns >= (2 if mistake.run_index == 0 else 3)


def _notice(rng: np.random.Generator, mistake: Mistake, img: int) -> str:
    """What the image rendered after the mistaken turn shows wrong about its line."""
    label = f"segment {mistake.run_index + 1}"
    if isinstance(mistake, WallCrossing):
        pool = P.NOTICE_THROUGH_WALL
        fields = dict(last=cell_text(mistake.through), end=cell_text(mistake.end))
        return P.say(rng, pool, label=label, img=img, d=mistake.direction, **fields)
    pool = P.NOTICE_DEAD_END if mistake.leaf else P.NOTICE_SIDE_BRANCH
    return P.say(rng, pool, label=label, img=img, end=cell_text(mistake.end))


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


def _move_sentence(
    rng: np.random.Generator, first: bool, a: Cell, b: Cell, d: str, n: int, label: str, goal: bool
) -> str:
    """One drawn stretch: where it leaves, which way, how far, its label. Correct segments and
    the staged wrong turn are both worded here, from the same pools."""
    fields = dict(
        a=cell_text(a), b=cell_text(b), toward=_TOWARD[d], d=d, moves=_moves(n), label=label
    )
    opener = P.say(rng, P.FIRST_MOVE if first else P.NEXT_MOVE, **fields)
    joiner = P.JOINERS[int(rng.integers(len(P.JOINERS)))]
    body = P.MOVE_BODY[int(rng.integers(len(P.MOVE_BODY)))].format(**fields)
    if joiner.startswith("."):
        body = body[:1].upper() + body[1:]
    ending = P.REACHES_GOAL[int(rng.integers(len(P.REACHES_GOAL)))] if goal else "."
    return opener + joiner + body + ending


def junction_groups(
    spans: Sequence[tuple[Cell, Cell]], junctions: Collection[Cell]
) -> list[list[int]]:
    """Consecutive segments up to the next junction: a group ends where a segment ends on a
    cell in `junctions` (or at the goal)."""
    groups: list[list[int]] = [[]]
    for k, (_, end) in enumerate(spans):
        groups[-1].append(k)
        if end in junctions and k < len(spans) - 1:
            groups.append([])
    return groups


def _junction_plan(
    spans: Sequence[tuple[Cell, Cell]],
    junctions: Collection[Cell],
    max_calls: int,
    wrong_at: int | None,
) -> list[list[int]] | None:
    """The plan of `plan_turns` by junction groups, or None if they do not fit the budget or
    the wrong turn does not start a group."""
    groups = junction_groups(spans, junctions)
    if wrong_at is not None:
        starts = [g[0] for g in groups]
        if wrong_at not in starts:
            return None
        at = starts.index(wrong_at)
        groups = groups[:at] + [[]] + groups[at:]
    return groups if len(groups) <= max_calls - 1 else None


def _segment_sentence(
    rng: np.random.Generator, k: int, runs: list[Run], spans: list[tuple[Cell, Cell]]
) -> str:
    a, b = spans[k]
    last = k == len(runs) - 1
    return _move_sentence(
        rng, k == 0, a, b, runs[k].direction, runs[k].count, f"segment {k + 1}", last
    )


def _check_sentence(
    rng: np.random.Generator,
    previous: list[int],
    runs: list[Run],
    spans: list[tuple[Cell, Cell]],
    image: int,
) -> str:
    """Confirms the segments drawn last turn, as image `image` shows them ('' on turn 1)."""
    if not previous:
        return ""
    last = previous[-1]
    fields = dict(img=image, end=cell_text(spans[last][1]))
    if len(previous) == 1:
        run = runs[last]
        seg = f"segment {last + 1}"
        return P.say(rng, P.CHECK_ONE, seg=seg, d=run.direction, moves=_moves(run.count), **fields)
    seg = f"segments {previous[0] + 1}-{last + 1}"
    return P.say(rng, P.CHECK_MANY, seg=seg, **fields)


def _answer_think(
    rng: np.random.Generator, question: MazeQuestion, path: Sequence[Cell], runs: list[Run]
) -> str:
    n, moves = len(runs), len(path) - 1
    text = P.say(
        rng,
        P.ANSWER_ROUTE,
        start=cell_text(path[0]),
        goal=cell_text(path[-1]),
        route=format_route(runs),
        segs=_plural(n, "straight segment"),
        moves=_moves(moves),
    )
    if question.kind == "route":
        step = P.say(
            rng,
            P.ANSWER_OPTION,
            letter=question.answer,
            option=question.options[question.correct],
        )
    elif question.kind == "moves":
        total = " + ".join(str(r.count) for r in runs)
        step = P.say(rng, P.ANSWER_MOVES, total=total, count=moves)
    elif n == 1:
        step = P.say(rng, P.ANSWER_NO_TURN)
    else:
        step = P.say(rng, P.ANSWER_TURNS, n=n, turns=_plural(n - 1, "turn"))
    return f"{text} {step}"


def build_trace(
    question: MazeQuestion,
    path: Sequence[Cell],
    grid_size: int,
    image_size: int,
    max_calls: int,
    mistake: Mistake | None = None,
    rng: np.random.Generator | None = None,
    junctions: Collection[Cell] | None = None,
    whole_route: bool = False,
) -> Trace:
    """The oracle turns: Path Tracer segments between cell centres, one per straight run.

    Each tool turn draws on the newest image (the maze is image 1; tool turn t yields image 1 +
    t), so the route accumulates. With `mistake`, its segment is first drawn wrong (into the
    side branch of a SideBranch, or one move on through the wall of a WallCrossing), worded like
    any correct step; the next turn notices it in the rendered image (a dead end, a wall
    crossed) and redraws the segment under the same label on the image before the mistake. `rng`
    picks the wording (`generators/maze/phrasing.py`); without it a fixed seed is used. With
    `junctions` (cells with three or more open sides), a turn draws every segment up to the next
    junction when that fits the budget. With `whole_route`, see `_whole_route_turns`. Raises
    ValueError if the route is empty or the budget is too small.
    """
    runs = path_runs(path)
    if not runs:
        raise ValueError("a trace needs a route of at least one move")
    if max_calls < 2:
        raise ValueError(f"max_calls must be >= 2, got {max_calls}")
    if mistake is not None and not can_reflect(mistake, max_calls):
        raise ValueError(f"max_calls {max_calls} leaves no room for a mistake")
    if rng is None:
        rng = np.random.default_rng(0)
    spans = run_spans(path)

    def px(cell: Cell) -> tuple[int, int]:
        return cell_center_px(cell, grid_size, image_size)

    if whole_route:
        return _whole_route_turns(question, path, px, mistake, rng)
    wrong_at = None if mistake is None else mistake.run_index
    plan = None if junctions is None else _junction_plan(spans, junctions, max_calls, wrong_at)
    if plan is None:
        plan = plan_turns(len(runs), max_calls, wrong_at)
    replies: list[str] = []
    current = 1  # the newest image, which the next turn draws on
    before_mistake = 1
    previous: list[int] = []
    correcting = False  # the turn right after the mistake redraws its segment
    for t, group in enumerate(plan, start=1):
        sentences = []
        if correcting and mistake is not None:
            label = f"segment {mistake.run_index + 1}"
            sentences.append(_notice(rng, mistake, current))
            sentences.append(P.say(rng, P.REDRAW, label=label, before=before_mistake))
            draw_on = before_mistake
            correcting = False
        else:
            sentences.append(_check_sentence(rng, previous, runs, spans, current))
            draw_on = current
        if not group and mistake is not None:  # the mistake, worded as a correct step
            b = mistake
            label = f"segment {b.run_index + 1}"
            sentences.append(
                _move_sentence(
                    rng, b.run_index == 0, b.junction, b.end, b.direction, b.count, label, False
                )
            )
            op = LineOp(draw_on, px(b.junction), px(b.end), label)
            replies.append(format_tool_turn(" ".join(s for s in sentences if s), [op]))
            before_mistake, current = current, 1 + t
            previous, correcting = [], True
            continue
        ops = []
        for k in group:
            a, z = spans[k]
            ops.append(LineOp(draw_on, px(a), px(z), f"segment {k + 1}"))
            sentences.append(_segment_sentence(rng, k, runs, spans))
        replies.append(format_tool_turn(" ".join(s for s in sentences if s), ops))
        current = 1 + t
        previous = group
    replies.append(format_answer_turn(_answer_think(rng, question, path, runs), question.answer))
    return Trace(
        replies=tuple(replies),
        tool_turns=len(plan),
        segments_per_turn=tuple(len(group) for group in plan),
        reflective=mistake is not None,
    )


def _whole_route_turns(
    question: MazeQuestion,
    path: Sequence[Cell],
    px: Callable[[Cell], tuple[int, int]],
    mistake: Mistake | None,
    rng: np.random.Generator,
) -> Trace:
    """One Path Tracer turn draws every segment on the maze (image 1 -> image 2); the answer
    turn first checks image 2 (the route open and reaching the goal). With `mistake`, its
    segment is drawn wrong inside that one drawing, worded like the others; the next turn
    notices it in image 2 and redraws that segment on image 2 (image 3: the old line stays as a
    stub, since redrawing the whole route on image 1 would repeat executed operations), and the
    answer turn checks image 3. Three replies at most, so any budget of 3 calls fits."""
    runs, spans = path_runs(path), run_spans(path)
    n = len(runs)
    segs = _plural(n, "straight segment")
    plan = P.say(rng, P.ROUTE_PLAN, start=cell_text(path[0]), goal=cell_text(path[-1]), segs=segs)
    sentences, ops = [plan], []
    for k, (a, z) in enumerate(spans):
        label = f"segment {k + 1}"
        if mistake is not None and k == mistake.run_index:  # worded as a correct step
            b = mistake
            sentences.append(
                _move_sentence(rng, k == 0, b.junction, b.end, b.direction, b.count, label, False)
            )
            ops.append(LineOp(1, px(b.junction), px(b.end), label))
            continue
        sentences.append(_segment_sentence(rng, k, runs, spans))
        ops.append(LineOp(1, px(a), px(z), label))
    replies = [format_tool_turn(" ".join(sentences), ops)]
    cells = dict(start=cell_text(path[0]), goal=cell_text(path[-1]))
    if mistake is None:
        check = P.say(rng, P.CHECK_ROUTE, img=2, segs=segs, final=f"segment {n}", **cells)
    else:
        label = f"segment {mistake.run_index + 1}"
        fixed = [
            _notice(rng, mistake, 2),
            P.say(rng, P.REDRAW_ROUTE, label=label, img=2),
            _segment_sentence(rng, mistake.run_index, runs, spans),
        ]
        a, z = spans[mistake.run_index]
        replies.append(format_tool_turn(" ".join(fixed), [LineOp(2, px(a), px(z), label)]))
        check = P.say(rng, P.CHECK_ROUTE_FIXED, img=3, label=label, **cells)
    answer = f"{check} {_answer_think(rng, question, path, runs)}"
    replies.append(format_answer_turn(answer, question.answer))
    per_turn = (n,) if mistake is None else (n - 1, 1)
    return Trace(
        replies=tuple(replies),
        tool_turns=len(replies) - 1,
        segments_per_turn=per_turn,
        reflective=mistake is not None,
    )
