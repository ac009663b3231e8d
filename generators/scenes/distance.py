"""The `distance` family: how far apart two objects' centres are, measured against a reference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from drawreason.drawing.format import format_answer_turn
from drawreason.generators.phrasing import say
from drawreason.generators.scenes import phrasing as P
from drawreason.generators.scenes.common import (
    NoQuestion,
    Question,
    _box_notice,
    _boxes,
    _jittered,
    _line_notice,
    _mistake,
    _named_clearly,
    _wrong_box,
    box_phase,
    legible,
)
from drawreason.generators.scenes.trace import Mistake, Phase, lay_out, split_choices
from drawreason.generators.scenes.world import Camera, SceneObject, depth_of, distance_3d_cm
from drawreason.schemas.records import BoxOp, LineOp

# Round objects have one known width in every horizontal direction, so their width can be traced
# along the camera's right axis (parallel to the image plane), where pixels scale exactly.
REFERENCE_SHAPES = ("cylinder", "ball", "cone")
DEPTH_TOLERANCE = 0.05  # relative depth spread allowed: "at about the same distance"
MAX_ESTIMATE_ERROR = 0.04  # the scorer's strictest MRA threshold is 5%; keep a margin


def _point(camera: Camera, xyz: Sequence[float]) -> tuple[int, int]:
    uv, _ = camera.project(np.array([xyz], dtype=float))
    return (round(float(uv[0][0])), round(float(uv[0][1])))


def _width_segment(obj: SceneObject, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """3-D endpoints of the object's width traced along the camera's right axis: through the
    middle of a cylinder or ball, across the base of a cone (where a cone is `width` wide)."""
    _, right, _ = camera._basis()
    z = 0.0 if obj.shape == "cone" else obj.height / 2
    mid = np.array([obj.x, obj.y, z])
    return mid - right * obj.width / 2, mid + right * obj.width / 2


def _px(line: LineOp) -> int:
    (x1, y1), (x2, y2) = line.start_point_2d, line.end_point_2d
    return round(float(np.hypot(x2 - x1, y2 - y1)))


def distance_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
) -> Question:
    """Distance in cm between the centres of two objects, from a round reference of known width
    at the same depth: box the three, trace the centre-to-centre line and the reference's width,
    convert by proportion. The estimate is the answer (as in `size`); scenes whose estimate is
    not within 4% of the truth are not asked, so the oracle answer always scores 1.0."""
    boxes = _boxes(objects, camera)
    visible = [o for o in objects if o.name in boxes]
    if len(visible) < 3:
        raise NoQuestion("fewer than three visible objects")
    depth = {o.name: depth_of(camera, o.center) for o in visible}
    size = camera.size
    triples = []
    for ref in visible:
        if ref.shape not in REFERENCE_SHAPES:
            continue
        ref_a, ref_b = _width_segment(ref, camera)
        ref_depth = depth_of(camera, (ref_a + ref_b) / 2)
        for a in visible:
            for b in visible:
                if len({ref.name, a.name, b.name}) < 3 or a.name > b.name:
                    continue
                mid = (depth[a.name] + depth[b.name]) / 2
                if abs(depth[a.name] - depth[b.name]) / mid > DEPTH_TOLERANCE:
                    continue
                if abs(ref_depth - mid) / mid > DEPTH_TOLERANCE:
                    continue
                triples.append((ref, a, b, ref_a, ref_b))
    if not triples:
        raise NoQuestion("no reference at the depth of two objects at one depth")
    for i in rng.permutation(len(triples)):
        ref, a, b, ref_a, ref_b = triples[int(i)]
        truth = distance_3d_cm(a, b)
        answer = round(truth)
        ab_line = LineOp(
            0, _point(camera, a.center), _point(camera, b.center), f"{a.name} to {b.name}"
        )
        ref_line = LineOp(0, _point(camera, ref_a), _point(camera, ref_b), f"{ref.name} width")
        ab_px, ref_px = _px(ab_line), _px(ref_line)
        if ref_px < 25 or ab_px < 60:
            continue
        estimate = ref.width * ab_px / ref_px
        close = abs(estimate - truth) / truth < MAX_ESTIMATE_ERROR
        if close and answer > 0 and abs(round(estimate) - answer) / answer < MAX_ESTIMATE_ERROR:
            break
    else:
        raise NoQuestion("no pair whose distance the reference measures within 4%")
    _named_clearly([ref, a, b], objects)
    named = [ref, a, b]
    ops = legible(
        [BoxOp(0, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in named],
        objects,
        camera,
    )
    end = ab_line.end_point_2d
    others = [
        o
        for o in visible
        if o.name not in (a.name, b.name, ref.name)
        and float(np.hypot(*np.subtract(_point(camera, o.center), end))) > 20
    ]
    w = f"{ref.width:g}"
    who = {"a": a.name, "b": b.name, "ref": ref.name, "w": w}
    phases = [
        box_phase(rng, ops, say(rng, P.DISTANCE_ROLES, **who)),
        Phase(
            (ab_line, ref_line),
            say(rng, P.DISTANCE_LINES, **who),
            (say(rng, P.AB_ONE, **who), say(rng, P.REF_WIDTH_ONE, **who)),
        ),
    ]
    kind = _mistake(rng, reflective, ("box", "line") if others else ())
    mistake = None
    if kind is not None:
        wrong = others[int(rng.integers(len(others)))]
        if kind == "box":
            k = int(rng.integers(3))
            bad = _wrong_box(ops[k], _jittered(boxes[wrong.name], rng, jitter, size))
            mistake = Mistake(0, k, bad, _box_notice(rng, ops[k].label, wrong.name))
        else:
            bad = LineOp(0, ab_line.start_point_2d, _point(camera, wrong.center), ab_line.label)
            mistake = Mistake(1, 0, bad, _line_notice(rng, ab_line.label, wrong.name, b.name))
    split = split_choices(rng, 2, mistake.phase if mistake else None)
    replies, _ = lay_out(phases, split, mistake, objects, camera)
    replies.append(
        format_answer_turn(
            say(
                rng,
                P.DISTANCE_ANSWER,
                ab=ab_px,
                rp=ref_px,
                ref=ref.name,
                w=w,
                est=f"{estimate:.1f}",
            ),
            f"{round(estimate)}",
        )
    )
    return Question(
        f"The {ref.name} is {ref.width:g} cm wide. How far apart are the centres of the "
        f"{a.name} and the {b.name}, in centimetres? Use the reference object to measure.",
        "numerical",
        f"{answer}",
        (),
        tuple(replies),
        {
            "reference": ref.name,
            "object_a": a.name,
            "object_b": b.name,
            "distance_cm": round(truth, 2),
            "estimate_cm": round(estimate, 2),
            "reflective": mistake is not None,
            "mistake": kind,
        },
    )
