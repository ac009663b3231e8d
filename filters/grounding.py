"""Step-level grounding of drawing operations against a generated question's oracle (pure).

Mazes: a Path Tracer line is grounded when both end points are cell centres (within
`centre_tolerance` of a cell side) of two cells in one row or column and every step between
them is an open passage; the lines drawn on the final image must connect start and goal (a
valid route) and are the shortest route when they draw exactly one and nothing else. Scenes:
an Object Mapper box is grounded when its IoU with the true box of the object its label names
(`<colour> <shape>`, or an option letter whose option is an object) in that view reaches
`iou_threshold`; a Path Tracer line is grounded when it is anchored on the objects its label
names (an end point inside a named object's box, widened by `anchor_margin_px`) and its other
end on an object too. A redraw of a label on one lineage is `corrective` when it makes the
element better grounded, `cosmetic` when it changes nothing, `regressive` when it makes it
worse. docs/grounding.md has the rules and the reasons.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from drawreason.drawing.state import ImageState, merge_state
from drawreason.filters.scoring import lineage_roots, operation_geometry
from drawreason.schemas.oracle import (
    Cell,
    Correction,
    ElementCheck,
    Grounding,
    MazeOracle,
    ObjectBox,
    OracleFacts,
    RouteCheck,
    SceneOracle,
)
from drawreason.schemas.records import BoxOp, LineOp, Operation, Trajectory, Turn

GROUNDING_REASONS: tuple[str, ...] = (
    "ungrounded_box",
    "ungrounded_line",
    "line_off_grid",
    "line_through_wall",
    "route_invalid",
)


@dataclass(frozen=True)
class GroundingConfig:
    """Thresholds of the grounding check (every key can be set in a stage's `grounding`).

    enabled: grounding is computed and filtered on for questions that carry oracle facts.
    iou_threshold: a box is grounded from this IoU with the named object's true box on.
    centre_tolerance: how far a maze line's end point may lie from a cell centre, as a share
      of the cell's smaller side.
    anchor_margin_px: how far outside a named object's box a scene line may end and still be
      anchored on it.
    require_route: mazes are rejected `route_invalid` unless the final drawing connects start
      and goal.
    """

    enabled: bool = True
    iou_threshold: float = 0.5
    centre_tolerance: float = 0.25
    anchor_margin_px: float = 6.0
    require_route: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"grounding.iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if not 0.0 < self.centre_tolerance < 0.5:
            raise ValueError(
                f"grounding.centre_tolerance must be in (0, 0.5), got {self.centre_tolerance}"
            )
        if self.anchor_margin_px < 0:
            raise ValueError(
                f"grounding.anchor_margin_px must be >= 0, got {self.anchor_margin_px}"
            )


# --- mazes -----------------------------------------------------------------------------------


def _cell_at(point: Sequence[float], oracle: MazeOracle, tolerance: float) -> Cell | str:
    """The cell whose centre `point` is, or a sentence saying why it is none."""
    left, top, right, bottom = oracle.axes
    g = oracle.grid_size
    cw, ch = (right - left) / g, (bottom - top) / g
    x, y = float(point[0]), float(point[1])
    i, j = math.floor((y - top) / ch), math.floor((x - left) / cw)
    if not (0 <= i < g and 0 <= j < g):
        return f"({x:g}, {y:g}) is outside the maze"
    off = math.hypot(x - (left + (j + 0.5) * cw), y - (top + (i + 0.5) * ch))
    if off > tolerance * min(cw, ch):
        return f"({x:g}, {y:g}) is {off:.0f} px from the centre of row {i + 1}, column {j + 1}"
    return (i, j)


def _cells_between(a: Cell, b: Cell) -> list[Cell]:
    (i, j), (k, m) = a, b
    if i == k:
        step = 1 if m > j else -1
        return [(i, c) for c in range(j, m + step, step)]
    step = 1 if k > i else -1
    return [(r, j) for r in range(i, k + step, step)]


def _edge(a: Cell, b: Cell) -> tuple[Cell, Cell]:
    return (a, b) if a <= b else (b, a)


def maze_line_moves(
    op: LineOp, oracle: MazeOracle, tolerance: float
) -> tuple[list[tuple[Cell, Cell]], str, str]:
    """(the moves a line draws, reason, detail): reason is "" when grounded, else
    `line_off_grid` (an end point off a cell centre, both in one cell, or not in one row or
    column) or `line_through_wall` (a step between two cells without a passage)."""
    ends = [_cell_at(p, oracle, tolerance) for p in (op.start_point_2d, op.end_point_2d)]
    for end in ends:
        if isinstance(end, str):
            return [], "line_off_grid", end
    a, b = ends
    if a == b:
        return [], "line_off_grid", f"both ends are in row {a[0] + 1}, column {a[1] + 1}"
    if a[0] != b[0] and a[1] != b[1]:
        return [], "line_off_grid", "the line is not along one row or column"
    cells = _cells_between(a, b)
    passages = set(oracle.passages)
    moves = list(zip(cells, cells[1:], strict=False))
    for p, q in moves:
        if _edge(p, q) not in passages:
            where = f"row {p[0] + 1}, column {p[1] + 1} and row {q[0] + 1}, column {q[1] + 1}"
            return [], "line_through_wall", f"a wall stands between {where}"
    return moves, "", ""


def _route_edges(oracle: MazeOracle) -> set[tuple[Cell, Cell]]:
    return {_edge(a, b) for a, b in zip(oracle.route, oracle.route[1:], strict=False)}


def check_route(lines: Sequence[LineOp], oracle: MazeOracle, tolerance: float) -> RouteCheck:
    """Whether the grounded lines among `lines` connect start and goal, and draw exactly a
    shortest route."""
    drawn: set[tuple[Cell, Cell]] = set()
    for line in lines:
        moves, _, _ = maze_line_moves(line, oracle, tolerance)
        drawn.update(_edge(a, b) for a, b in moves)
    neighbours: dict[Cell, list[Cell]] = {}
    for a, b in drawn:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    dist = {oracle.start: 0}
    queue = deque([oracle.start])
    while queue:
        cell = queue.popleft()
        for nxt in neighbours.get(cell, ()):
            if nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    if oracle.goal not in dist:
        return RouteCheck(False, False, "the drawn lines do not connect start and goal")
    shortest = dist[oracle.goal] == len(oracle.route) - 1 and len(drawn) == dist[oracle.goal]
    detail = "" if shortest else "the drawn lines reach the goal with a detour or extra lines"
    return RouteCheck(True, shortest, detail)


# --- scenes ----------------------------------------------------------------------------------


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def named_objects(label: str, oracle: SceneOracle) -> list[str]:
    """The object names a label names: `<colour> <shape>` (plural too: cubes, boxes) anywhere
    in it, or an option letter (`B`, `option B`, `(B)`) whose option is an object."""
    text = _words(label)
    names = sorted({o.name for view in oracle.views for o in view.objects})
    found = [n for n in names if any(f" {n}{end} " in text for end in ("", "s", "es"))]
    if not found and oracle.option_objects:
        letter = re.fullmatch(r" (?:option )?([a-z]) ", text)
        if letter:
            k = ord(letter.group(1)) - ord("a")
            if 0 <= k < len(oracle.option_objects):
                found = [oracle.option_objects[k]]
    return found


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax1, ay1, ax2, ay2 = min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])
    bx1, by1, bx2, by2 = b
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def _on(point: Sequence[float], box: Sequence[float], margin: float) -> bool:
    x, y = float(point[0]), float(point[1])
    return box[0] - margin <= x <= box[2] + margin and box[1] - margin <= y <= box[3] + margin


def check_scene_op(
    op: Operation, view: int, oracle: SceneOracle, config: GroundingConfig
) -> tuple[bool, float, str, str]:
    """(grounded, score, reason, detail) of one operation on a scene view (1-based)."""
    objects: dict[str, ObjectBox] = {}
    if 1 <= view <= len(oracle.views):
        objects = {o.name: o for o in oracle.views[view - 1].objects}
    names = named_objects(op.label, oracle)
    if isinstance(op, BoxOp):
        if len(names) != 1:
            what = "no object" if not names else f"{len(names)} objects"
            return False, 0.0, "ungrounded_box", f"label {op.label!r} names {what} of the scene"
        name = names[0]
        if name not in objects:
            return False, 0.0, "ungrounded_box", f"the {name} is not in view {view}"
        iou = box_iou(op.bbox_2d, objects[name].box)
        if iou >= config.iou_threshold:
            return True, round(iou, 4), "", ""
        return False, round(iou, 4), "ungrounded_box", f"IoU {iou:.2f} with the {name}"
    margin = config.anchor_margin_px
    ends = (op.start_point_2d, op.end_point_2d)
    missing = [n for n in names if n not in objects]
    if missing or len(names) > 2:
        why = f"the {missing[0]} is not in view {view}" if missing else "names over 2 objects"
        return False, 0.0, "ungrounded_line", f"label {op.label!r}: {why}"

    def on_named(point: Sequence[float], name: str) -> bool:
        return _on(point, objects[name].box, margin)

    def on_any(point: Sequence[float]) -> bool:
        return any(_on(point, o.box, margin) for o in objects.values())

    p, q = ends
    if len(names) == 2:
        a, b = names
        ok = (on_named(p, a) and on_named(q, b)) or (on_named(p, b) and on_named(q, a))
    elif len(names) == 1:
        a = names[0]
        ok = (on_named(p, a) and on_any(q)) or (on_named(q, a) and on_any(p))
    else:
        ok = on_any(p) and on_any(q)
    if ok:
        return True, 1.0, "", ""
    named = " and ".join(f"the {n}" for n in names) or "an object at each end"
    return False, 0.0, "ungrounded_line", f"label {op.label!r} is not anchored on {named}"


# --- a whole trajectory ----------------------------------------------------------------------


def _grade(check: ElementCheck) -> int:
    """How well grounded an element is: 0 not, 1 a maze line off the route, 2 fully."""
    if not check.grounded:
        return 0
    return 1 if check.on_route is False else 2


def _executed(turns: Sequence[Turn]) -> list[tuple[int, Turn]]:
    return [
        (t, turn) for t, turn in enumerate(turns, start=1) if turn.operations and not turn.error
    ]


def _final_lines(turns: Sequence[Turn], num_inputs: int) -> list[LineOp]:
    """The lines on the last rendered image (per-image state replayed as the environment
    keeps it: drawing on image k starts from k's state)."""
    states = {i: ImageState() for i in range(1, num_inputs + 1)}
    count = num_inputs
    for _, turn in _executed(turns):
        for index in dict.fromkeys(op.index for op in turn.operations):
            count += 1
            ops = [op for op in turn.operations if op.index == index]
            states[count] = merge_state(states.get(index, ImageState()), ops)
    return list(states[count].lines) if count > num_inputs else []


def ground_operations(
    turns: Sequence[Turn],
    num_inputs: int,
    parents: Sequence[int],
    oracle: OracleFacts,
    config: GroundingConfig = GroundingConfig(),
) -> Grounding:
    """Grounding of executed operations against `oracle` (see the module docstring).

    `parents[k]` is the parent of rendered image num_inputs + 1 + k, as in
    filters.scoring.detect_reflections. Boxes on a maze are not checked.
    """
    roots = lineage_roots(num_inputs, parents)
    checks: list[ElementCheck] = []
    route_edges = _route_edges(oracle) if isinstance(oracle, MazeOracle) else set()
    for t, turn in _executed(turns):
        for n, op in enumerate(turn.operations):
            view = roots.get(op.index, op.index)
            if isinstance(oracle, MazeOracle):
                if not isinstance(op, LineOp):
                    continue
                moves, reason, detail = maze_line_moves(op, oracle, config.centre_tolerance)
                on_route = not reason and all(_edge(a, b) in route_edges for a, b in moves)
                check = ElementCheck(
                    t,
                    n,
                    op.label,
                    op.tool,
                    view,
                    not reason,
                    float(not reason),
                    reason,
                    detail,
                    on_route if not reason else None,
                )
            else:
                grounded, score, reason, detail = check_scene_op(op, view, oracle, config)
                check = ElementCheck(t, n, op.label, op.tool, view, grounded, score, reason, detail)
            checks.append(check)
    return _summarise(turns, num_inputs, checks, oracle, config)


def _summarise(
    turns: Sequence[Turn],
    num_inputs: int,
    checks: list[ElementCheck],
    oracle: OracleFacts,
    config: GroundingConfig,
) -> Grounding:
    ops = {(t, n): op for t, turn in _executed(turns) for n, op in enumerate(turn.operations)}
    steps: dict[int, list[bool]] = {}
    latest: dict[tuple[int, str], ElementCheck] = {}
    corrections: list[Correction] = []
    for check in checks:
        steps.setdefault(check.turn, []).append(check.grounded)
        key = (check.view, check.label)
        old = latest.get(key)
        if old is not None and old.turn != check.turn:
            if operation_geometry(ops[(old.turn, old.op)]) != operation_geometry(
                ops[(check.turn, check.op)]
            ):
                before, after = _grade(old), _grade(check)
                kind = (
                    "corrective"
                    if after > before
                    else ("regressive" if after < before else "cosmetic")
                )
                corrections.append(Correction(check.label, check.view, old.turn, check.turn, kind))
        latest[key] = check
    grounded = sum(c.grounded for c in checks)
    route = None
    if isinstance(oracle, MazeOracle):
        route = check_route(_final_lines(turns, num_inputs), oracle, config.centre_tolerance)
    return Grounding(
        checks=tuple(checks),
        steps=tuple((t, round(sum(v) / len(v), 4)) for t, v in sorted(steps.items())),
        score=round(grounded / len(checks), 4) if checks else 0.0,
        final_ungrounded=tuple(c for c in latest.values() if not c.grounded),
        corrections=tuple(corrections),
        route=route,
    )


def ground_trajectory(
    trajectory: Trajectory, config: GroundingConfig = GroundingConfig()
) -> Grounding | None:
    """The grounding of a trajectory whose question carries oracle facts, else None."""
    oracle = trajectory.item.oracle
    if oracle is None or not config.enabled:
        return None
    parents = [r.parent for r in trajectory.rendered]
    return ground_operations(trajectory.turns, len(trajectory.item.images), parents, oracle, config)


def with_grounding(trajectory: Trajectory, grounding: Grounding | None) -> Trajectory:
    """`trajectory` carrying `grounding` and its score as `scores["grounding"]` (unchanged
    when `grounding` is None)."""
    if grounding is None:
        return trajectory
    scores = {**trajectory.scores, "grounding": grounding.score}
    return dataclasses.replace(trajectory, grounding=grounding, scores=scores)


def correction_kinds(grounding: Grounding | None) -> tuple[str, ...]:
    return tuple(c.kind for c in grounding.corrections) if grounding else ()
