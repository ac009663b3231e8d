"""The `distance` family: how far apart two objects' centres are, measured against a reference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from drawing.format import format_answer_turn, format_tool_turn
from generators.scenes.families import NoQuestion, Question, _boxes, _jittered
from generators.scenes.world import Camera, SceneObject, depth_of, distance_3d_cm
from schemas.records import BoxOp, LineOp

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
    ref_box = _jittered(boxes[ref.name], rng, jitter, size)
    a_box = _jittered(boxes[a.name], rng, jitter, size)
    b_box = _jittered(boxes[b.name], rng, jitter, size)
    replies = [
        format_tool_turn(
            f"The reference is the {ref.name}, {ref.width:g} cm wide. I box it, the {a.name} and "
            f"the {b.name}.",
            [BoxOp(1, ref_box, ref.name), BoxOp(1, a_box, a.name), BoxOp(1, b_box, b.name)],
        )
    ]
    ab_line = LineOp(2, ab_line.start_point_2d, ab_line.end_point_2d, ab_line.label)
    ref_line = LineOp(2, ref_line.start_point_2d, ref_line.end_point_2d, ref_line.label)
    trace = (
        f"The {a.name}, the {b.name} and the {ref.name} are at about the same distance from the "
        f"camera, so lengths across the view compare directly in pixels. I trace a line from the "
        f"centre of the {a.name} to the centre of the {b.name}, and one across the {ref.name} "
        f"along its {ref.width:g} cm width."
    )
    others = [
        o
        for o in visible
        if o.name not in (a.name, b.name, ref.name)
        and float(np.hypot(*np.subtract(_point(camera, o.center), ab_line.end_point_2d))) > 20
    ]
    reflective = reflective and bool(others)
    if reflective:
        wrong = others[int(rng.integers(len(others)))]
        wrong_line = LineOp(2, ab_line.start_point_2d, _point(camera, wrong.center), ab_line.label)
        replies.append(format_tool_turn(trace, [wrong_line, ref_line]))
        replies.append(
            format_tool_turn(
                f"The line labelled {ab_line.label} ends on the {wrong.name}, not on the "
                f"{b.name}. I redraw it on image 3 from the centre of the {a.name} to the centre "
                f"of the {b.name} (the old stroke stays in the picture; the new line is the "
                "corrected one).",
                [LineOp(3, ab_line.start_point_2d, ab_line.end_point_2d, ab_line.label)],
            )
        )
    else:
        replies.append(format_tool_turn(trace, [ab_line, ref_line]))
    replies.append(
        format_answer_turn(
            f"The line between the centres is {ab_px} px and the {ref.name}'s width line is "
            f"{ref_px} px for {ref.width:g} cm, so the centres are about {ref.width:g} * {ab_px} "
            f"/ {ref_px} = {estimate:.1f} cm apart.",
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
            "reflective": reflective,
        },
    )
