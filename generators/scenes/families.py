"""Question families over one view: `size`, `closest`, and the multi-frame `count`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from drawreason.drawing.format import format_answer_turn
from drawreason.generators.phrasing import names, say
from drawreason.generators.scenes import phrasing as P
from drawreason.generators.scenes.answerable import hidden_lines
from drawreason.generators.scenes.common import (
    LETTERS,
    NoQuestion,
    Question,
    _base,
    _bases_in_sight,
    _box_notice,
    _box_turn,
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
from drawreason.generators.scenes.world import (
    Camera,
    SceneObject,
    box_2d,
    distance_cm,
    partly_in_frame,
)
from drawreason.schemas.records import BoxOp, LineOp


def _height_line(obj: SceneObject, camera: Camera, label: str, image: int) -> LineOp:
    """A vertical line from where the object stands to its top, in pixels."""
    uv, _ = camera.project(np.array([(obj.x, obj.y, 0.0), (obj.x, obj.y, obj.height)]))
    (bx, by), (tx, ty) = (round(float(u)) for u in uv[0]), (round(float(u)) for u in uv[1])
    return LineOp(image, (bx, by), (tx, ty), label)


def _length(line: LineOp) -> float:
    (x1, y1), (x2, y2) = line.start_point_2d, line.end_point_2d
    return float(np.hypot(x2 - x1, y2 - y1))


def size_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
) -> Question:
    """Height of a target in cm from a reference of known height at a similar distance:
    box both, trace each one's height, convert by proportion. A reflective trace boxes one of
    them on another object, or draws a height line on another object, then fixes it."""
    boxes = _boxes(objects, camera)
    eye = np.array(camera.eye)
    visible = [o for o in objects if o.name in boxes]
    depth = {o.name: float(np.linalg.norm(np.array(o.center) - eye)) for o in visible}
    pairs = [
        (r, t)
        for r in visible
        for t in visible
        if r is not t and abs(depth[r.name] - depth[t.name]) / depth[r.name] < 0.025
    ]
    if not pairs:
        raise NoQuestion("no two visible objects at a similar distance")
    ref, target = pairs[int(rng.integers(len(pairs)))]
    _named_clearly([ref, target], objects)
    _bases_in_sight([ref, target], boxes, objects, camera)
    size = camera.size
    named = {ref.name: ref, target.name: target}
    ops = legible(
        [BoxOp(0, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in (ref, target)],
        objects,
        camera,
    )
    ref_line = _height_line(ref, camera, f"{ref.name} height", 0)
    target_line = _height_line(target, camera, f"{target.name} height", 0)
    ref_px, target_px = _length(ref_line), _length(target_line)
    if ref_px < 15 or target_px < 15:
        raise NoQuestion("objects too small to measure")
    h = f"{ref.height:g}"
    roles = say(rng, P.SIZE_ROLES, ref=ref.name, target=target.name, h=h)
    lines = Phase(
        (ref_line, target_line),
        say(rng, P.SIZE_LINES, ref=ref.name, target=target.name),
        (say(rng, P.SIZE_LINE_FIRST, a=ref.name), say(rng, P.SIZE_LINE_NEXT, a=target.name)),
    )
    phases = [box_phase(rng, ops, roles), lines]
    mistake = None
    kind = _mistake(rng, reflective, ("box", "line"))
    if kind is not None:
        k = int(rng.integers(2))
        right = phases[0].ops[k] if kind == "box" else lines.ops[k]
        obj = named[right.label.removesuffix(" height")]
        far = [
            o
            for o in visible
            if o.name not in named
            and float(np.hypot(*np.subtract(_base(boxes[o.name]), _base(boxes[obj.name])))) > 30
        ]
        if far:
            wrong = far[int(rng.integers(len(far)))]
            if kind == "box":
                bad = _wrong_box(right, _jittered(boxes[wrong.name], rng, jitter, size))
                mistake = Mistake(0, k, bad, _box_notice(rng, right.label, wrong.name))
            else:
                bad = _height_line(wrong, camera, right.label, 0)
                notice = _line_notice(rng, right.label, wrong.name, obj.name)
                mistake = Mistake(1, k, bad, notice)
    split = split_choices(rng, 2, mistake.phase if mistake else None)
    replies, _ = lay_out(phases, split, mistake, objects, camera)
    estimate = ref.height * target_px / ref_px
    replies.append(
        format_answer_turn(
            say(
                rng,
                P.SIZE_ANSWER,
                ref=ref.name,
                target=target.name,
                h=h,
                rp=f"{ref_px:.0f}",
                tp=f"{target_px:.0f}",
                est=f"{estimate:.1f}",
            ),
            f"{round(estimate)}",
        )
    )
    return Question(
        f"The {ref.name} is {ref.height:g} cm tall. About how tall is the {target.name}, in "
        "centimetres? Use the reference object to measure.",
        "numerical",
        f"{round(target.height)}",
        (),
        tuple(replies),
        {
            "reference": ref.name,
            "target": target.name,
            "estimate_cm": round(estimate, 2),
            "reflective": mistake is not None,
            "mistake": kind if mistake else None,
        },
    )


def closest_question(
    objects: Sequence[SceneObject],
    camera: Camera,
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
    want: float = 0.0,
) -> Question:
    """Which object is closest to an anchor: lines on the floor from the anchor to each option.
    Asked only when the drawing decides it: the nearest on the floor is also clearly the shortest
    line in the image, and no line hides under a longer one. The correct option goes to letter
    `want * 3` (`want` in [0, 1), drawn once per sample), so letters are balanced. A reflective
    trace boxes an object on another one, or ends a line on another object, then fixes it."""
    boxes = _boxes(objects, camera)
    visible = [o for o in objects if o.name in boxes]
    if len(visible) < 4:
        raise NoQuestion("fewer than four visible objects")
    slot = int(want * 3)
    order = rng.permutation(len(visible))
    anchor = visible[int(order[0])]
    candidates = [visible[int(i)] for i in order[1:4]]
    real = sorted(candidates, key=lambda o: distance_cm(anchor, o))
    start = _base(boxes[anchor.name])
    px = {o.name: float(np.hypot(*np.subtract(_base(boxes[o.name]), start))) for o in candidates}
    seen = sorted(candidates, key=lambda o: px[o.name])
    # Keep questions the drawing can decide: the image agrees with the floor, with a margin.
    if real[0] is not seen[0] or distance_cm(anchor, real[1]) < 1.25 * distance_cm(anchor, real[0]):
        raise NoQuestion("the nearest object is not clear on the floor")
    if px[seen[0].name] > 0.8 * px[seen[1].name]:
        raise NoQuestion("the shortest line is not clearly the shortest in the image")
    if hidden_lines(start, [_base(boxes[o.name]) for o in candidates]):
        raise NoQuestion("a line would lie under a longer one")
    _named_clearly([anchor, *candidates], objects)
    _bases_in_sight([anchor, *candidates], boxes, objects, camera)
    correct = real[0]
    rest = [o for o in candidates if o is not correct]
    candidates = rest[:slot] + [correct] + rest[slot:]
    size = camera.size
    named = [anchor, *candidates]
    ops = legible(
        [BoxOp(0, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in named],
        objects,
        camera,
    )
    lines = [LineOp(0, start, _base(boxes[o.name]), f"to {o.name}") for o in candidates]
    phases = [
        box_phase(rng, ops),
        Phase(
            tuple(lines),
            say(rng, P.CLOSEST_LINES, anchor=anchor.name),
            tuple(say(rng, P.CLOSEST_LINE_ONE, anchor=anchor.name, a=o.name) for o in candidates),
        ),
    ]
    # A box may go on any other visible object; a line only on one outside the question (one
    # ending on another candidate would lie on that candidate's own line).
    far = [o for o in visible if o not in named]
    kind = _mistake(rng, reflective, ("box", "line") if far else ("box",))
    mistake = None
    if kind == "box":
        k = int(rng.integers(len(ops)))
        spare = [o for o in visible if o.name != ops[k].label]
        wrong = spare[int(rng.integers(len(spare)))]
        bad = _wrong_box(ops[k], _jittered(boxes[wrong.name], rng, jitter, size))
        mistake = Mistake(0, k, bad, _box_notice(rng, ops[k].label, wrong.name))
    elif kind == "line":
        wrong = far[int(rng.integers(len(far)))]
        k = int(rng.integers(3))
        bad = LineOp(0, start, _base(boxes[wrong.name]), lines[k].label)
        notice = _line_notice(rng, lines[k].label, wrong.name, candidates[k].name)
        mistake = Mistake(1, k, bad, notice)
    split = split_choices(rng, 2, mistake.phase if mistake else None)
    replies, _ = lay_out(phases, split, mistake, objects, camera)
    letter = LETTERS[candidates.index(correct)]
    replies.append(
        format_answer_turn(
            say(
                rng,
                P.CLOSEST_ANSWER,
                a=correct.name,
                anchor=anchor.name,
                ap=f"{px[seen[0].name]:.0f}",
                bp=f"{px[seen[1].name]:.0f}",
                letter=letter,
            ),
            letter,
        )
    )
    return Question(
        f"Which object is closest to the {anchor.name}?",
        "multiple choice",
        letter,
        tuple(o.name for o in candidates),
        tuple(replies),
        {
            "anchor": anchor.name,
            "candidates": [o.name for o in candidates],
            "reflective": mistake is not None,
            "mistake": kind if mistake else None,
        },
    )


def count_question(
    objects: Sequence[SceneObject],
    cameras: Sequence[Camera],
    rng: np.random.Generator,
    jitter: int,
    want: int | None = None,
) -> Question:
    """How many distinct objects of a colour appear across frames (each counted once); with
    `want`, only a colour with exactly that many objects in view is asked (answer balance)."""
    per_view = [_boxes(objects, cam) for cam in cameras]
    for cam, boxes in zip(cameras, per_view, strict=True):
        if any(o.name not in boxes and partly_in_frame(o, cam) for o in objects):
            # A half-visible object could be counted or not: ambiguous, so no question.
            raise NoQuestion("an object is cut by the frame edge")
    in_view = [o for o in objects if any(o.name in b for b in per_view)]
    colors = sorted({o.color for o in in_view})
    if want is not None:
        colors = [c for c in colors if sum(o.color == c for o in in_view) == want]
        if not colors:
            raise NoQuestion(f"no colour with {want} objects in view")
    color = colors[int(rng.integers(len(colors)))]
    for cam, boxes in zip(cameras, per_view, strict=True):
        if any(o.color == color and o.name not in boxes and box_2d(o, cam) for o in objects):
            raise NoQuestion(f"a {color} object is hidden behind another in a frame")
    members = [o for o in in_view if o.color == color]
    replies = []
    seen_in: dict[str, list[int]] = {}
    skipped: list[int] = []
    for k, (cam, boxes) in enumerate(zip(cameras, per_view, strict=True), start=1):
        here = [o for o in members if o.name in boxes]
        if not here:
            skipped.append(k)
            continue
        for o in here:
            seen_in.setdefault(o.name, []).append(k)
        pool = P.COUNT_FRAME if len(here) > 1 else P.COUNT_FRAME_ONE
        text = say(rng, pool, k=k, names=names([o.name for o in here]))
        if skipped and skipped[-1] == k - 1:
            text += " " + say(rng, P.COUNT_NONE, k=k - 1, color=color)
        ops = [BoxOp(k, _jittered(boxes[o.name], rng, jitter, cam.size), o.name) for o in here]
        replies.append(_box_turn(text, ops, objects, cam))
    if len(replies) < 2:
        raise NoQuestion("the colour appears in fewer than two frames")
    repeated = [
        f"the {n} (frames {', '.join(map(str, ks))})" for n, ks in seen_in.items() if len(ks) > 1
    ]
    summary = "; ".join(repeated) if repeated else "no object appears twice"
    count = len(seen_in)
    total = f"{count} distinct {color} object{'s' if count != 1 else ''}"
    replies.append(
        format_answer_turn(say(rng, P.COUNT_ANSWER, summary=summary, count=total), str(count))
    )
    return Question(
        f"These {len(cameras)} frames show one scene from a moving camera. How many distinct "
        f"{color} objects appear in the frames, counting each object once?",
        "numerical",
        str(count),
        (),
        tuple(replies),
        {"color": color, "seen_in": seen_in, "reflective": False, "mistake": None},
    )
