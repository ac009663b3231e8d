"""Oracle facts a generated question carries for step-level grounding, and grounding results.

A generated task knows its ground truth beyond the answer: a maze's open passages, start,
goal and solver route in pixel geometry; a scene's exact box of every object in every view.
These facts travel with the question (`QAItem.oracle`) so the grounding check
(filters/grounding.py) never recovers them from prompt text.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Cell = tuple[int, int]


@dataclass(frozen=True)
class MazeOracle:
    """A maze in pixels: `axes` (left, top, right, bottom) of the grid area, `grid_size` cells
    per side, the open `passages` between grid-adjacent cells, `start`, `goal` and the solver's
    shortest `route` (cells, start to goal). Cells are (row, column), 0-based."""

    grid_size: int
    axes: tuple[float, float, float, float]
    passages: tuple[tuple[Cell, Cell], ...]
    start: Cell
    goal: Cell
    route: tuple[Cell, ...]
    kind: Literal["maze"] = "maze"


@dataclass(frozen=True)
class ObjectBox:
    """One object as a view shows it: its name (`<colour> <shape>`), colour and shape words,
    and the box of its projection clipped to the image (x1, y1, x2, y2)."""

    name: str
    color: str
    shape: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class SceneView:
    """The objects at least partly in one view (input image), with their exact boxes."""

    width: int
    height: int
    objects: tuple[ObjectBox, ...]


@dataclass(frozen=True)
class SceneOracle:
    """A synthetic scene: one SceneView per input image, in input order, and the object each
    multiple-choice option names (empty when the options are not objects)."""

    views: tuple[SceneView, ...]
    option_objects: tuple[str, ...] = ()
    kind: Literal["scene"] = "scene"


OracleFacts = MazeOracle | SceneOracle


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def oracle_from_dict(data: dict[str, Any] | None) -> OracleFacts | None:
    """The oracle facts of a JSON dict (as `schemas.records.to_dict` writes them), or None.
    Raises ValueError for an unknown `kind` or unknown fields."""
    if data is None:
        return None
    kind = data.get("kind")
    if kind == "maze":
        return MazeOracle(**{k: _tuples(v) for k, v in data.items()})
    if kind == "scene":
        views = tuple(
            SceneView(
                int(v["width"]),
                int(v["height"]),
                tuple(ObjectBox(**{k: _tuples(x) for k, x in o.items()}) for o in v["objects"]),
            )
            for v in data["views"]
        )
        return SceneOracle(views, tuple(data.get("option_objects", ())))
    raise ValueError(f"oracle: field 'kind' is {kind!r}, expected 'maze' or 'scene'")


# --- grounding results -----------------------------------------------------------------------

CORRECTION_KINDS: tuple[str, ...] = ("corrective", "cosmetic", "regressive")


@dataclass(frozen=True)
class ElementCheck:
    """The grounding of one drawing operation: its turn (1-based), position in the turn,
    label, tool and the input image (view) its lineage starts from; `grounded`, the rejection
    reason when not (`ungrounded_box`, `ungrounded_line`, `line_off_grid`,
    `line_through_wall`) with a detail, a `score` (the IoU for a box, 1 or 0 for a line) and,
    for maze lines, whether every move it draws is a move of the shortest route."""

    turn: int
    op: int
    label: str
    tool: str
    view: int
    grounded: bool
    score: float
    reason: str = ""
    detail: str = ""
    on_route: bool | None = None


@dataclass(frozen=True)
class Correction:
    """A label redrawn on one lineage (a reflection) judged against the oracle: `corrective`
    (an ungrounded element made grounded, or a maze detour moved onto the route), `cosmetic`
    (no better, no worse) or `regressive` (worse)."""

    label: str
    view: int
    first_turn: int
    turn: int
    kind: str


@dataclass(frozen=True)
class RouteCheck:
    """The route drawn on a maze's final image: `valid` when grounded lines connect start and
    goal, `shortest` when they draw exactly a shortest route and nothing else."""

    valid: bool
    shortest: bool
    detail: str = ""


@dataclass(frozen=True)
class Grounding:
    """Step-level grounding of a trajectory against its question's oracle.

    `checks` has one entry per operation; `steps` the share of grounded operations of every
    tool turn (1-based turn, share); `score` the share over the whole trajectory (0 when
    nothing was drawn); `final_ungrounded` the checks still ungrounded in the final drawing
    (no later redraw of their label on their lineage); `route` for mazes.
    """

    checks: tuple[ElementCheck, ...]
    steps: tuple[tuple[int, float], ...]
    score: float
    final_ungrounded: tuple[ElementCheck, ...] = ()
    corrections: tuple[Correction, ...] = ()
    route: RouteCheck | None = None


def grounding_from_dict(data: dict[str, Any] | None) -> Grounding | None:
    if data is None:
        return None
    route = data.get("route")
    return Grounding(
        checks=tuple(ElementCheck(**c) for c in data["checks"]),
        steps=tuple((int(t), float(s)) for t, s in data["steps"]),
        score=float(data["score"]),
        final_ungrounded=tuple(ElementCheck(**c) for c in data.get("final_ungrounded", ())),
        corrections=tuple(Correction(**c) for c in data.get("corrections", ())),
        route=RouteCheck(**route) if route else None,
    )


# --- oracle facts in RL rows -----------------------------------------------------------------


def oracle_json(facts: OracleFacts) -> str:
    """The facts as compact JSON (sorted keys, no spaces), the form RL rows carry them in;
    `oracle_from_dict(json.loads(...))` reads it back."""
    return json.dumps(dataclasses.asdict(facts), sort_keys=True, separators=(",", ":"))


def resize_oracle(
    facts: OracleFacts,
    old_sizes: Sequence[tuple[int, int]],
    new_sizes: Sequence[tuple[int, int]],
) -> OracleFacts:
    """The facts in the pixels of the input images resized from `old_sizes` to `new_sizes`
    (width, height, in input order), as an RL row shows them to the policy.
    Raises ValueError when the size lists and the facts' views disagree in number."""
    if len(old_sizes) != len(new_sizes):
        raise ValueError(f"{len(old_sizes)} old sizes for {len(new_sizes)} new sizes")
    factors = [(nw / ow, nh / oh) for (ow, oh), (nw, nh) in zip(old_sizes, new_sizes, strict=True)]
    if all(f == (1.0, 1.0) for f in factors):
        return facts
    if isinstance(facts, MazeOracle):
        fx, fy = factors[0]
        left, top, right, bottom = facts.axes
        return dataclasses.replace(facts, axes=(left * fx, top * fy, right * fx, bottom * fy))
    if len(facts.views) != len(factors):
        raise ValueError(f"{len(facts.views)} scene views for {len(factors)} images")
    views = tuple(
        SceneView(
            nw,
            nh,
            tuple(
                dataclasses.replace(
                    o, box=(o.box[0] * fx, o.box[1] * fy, o.box[2] * fx, o.box[3] * fy)
                )
                for o in view.objects
            ),
        )
        for view, (fx, fy), (nw, nh) in zip(facts.views, factors, new_sizes, strict=True)
    )
    return dataclasses.replace(facts, views=views)
