"""Families over several views or frames: `view_left_of` and `appearance_order`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.generators.phrasing import names, say
from drawreason.generators.scenes import phrasing as P
from drawreason.generators.scenes.answerable import TAG_COVER, tag_cover
from drawreason.generators.scenes.common import (
    NoQuestion,
    Question,
    _box_notice,
    _box_turn,
    _boxes,
    _jittered,
    _mistake,
    _named_clearly,
    legible,
)
from drawreason.generators.scenes.trace import SPLIT_SHARE
from drawreason.generators.scenes.world import Camera, SceneObject, partly_in_frame
from drawreason.schemas.records import BoxOp

OPTION_LETTERS = "ABCDEFGH"
LEFT_MARGIN_PX = 15  # box centres closer than this side to side are not clearly left or right


def _centre_u(box: tuple[float, ...]) -> float:
    return (box[0] + box[2]) / 2


def view_left_of_question(
    objects: Sequence[SceneObject],
    cameras: Sequence[Camera],
    rng: np.random.Generator,
    jitter: int,
    reflective: bool,
    want: float = 0.0,
) -> Question:
    """In which of several views is X to the left of Y (box centres, image left): box both in
    every view under one label per object (tracking), then answer. Only pairs clearly left or
    right in every view, left in exactly one, are asked."""
    if len(cameras) > len(OPTION_LETTERS):
        raise ValueError(f"at most {len(OPTION_LETTERS)} views, got {len(cameras)}")
    per_view = [_boxes(objects, cam) for cam in cameras]
    common = [o for o in objects if all(o.name in b for b in per_view)]
    pairs = []
    for x, y in itertools.permutations(common, 2):
        gaps = [_centre_u(b[y.name]) - _centre_u(b[x.name]) for b in per_view]
        if any(abs(g) < LEFT_MARGIN_PX for g in gaps):
            continue
        left = [k for k, g in enumerate(gaps) if g > 0]
        if len(left) == 1:
            pairs.append((x, y, left[0]))
    view = int(want * len(cameras))  # balanced answers: `want` is drawn once per sample
    pairs = [p for p in pairs if p[2] == view]
    if not pairs:
        raise NoQuestion(f"no pair of objects left of each other in view {view + 1} alone")
    x, y, correct = pairs[int(rng.integers(len(pairs)))]
    _named_clearly([x, y], objects)
    size = cameras[0].size
    n = len(cameras)
    replies = []
    others = [o.name for o in objects if o.name in per_view[0] and o.name not in (x.name, y.name)]
    kind = _mistake(rng, reflective, ("box",) if others else ())
    # View 1 is boxed one object per turn in some traces, and always when a box goes wrong there
    # (the fix redraws that box on the image before it, which holds the other one).
    split_first = kind is not None or bool(rng.random() < SPLIT_SHARE)
    fresh = n + 1  # the index the next drawn image gets
    for k in range(1, n + 1):
        boxes, cam = per_view[k - 1], cameras[k - 1]
        side = say(
            rng, P.VIEW_SIDE, a=x.name, b=y.name, side="left" if correct == k - 1 else "right"
        )
        ops = legible(
            [BoxOp(k, _jittered(boxes[o.name], rng, jitter, size), o.name) for o in (x, y)],
            objects,
            cam,
        )
        if k == 1 and split_first:
            replies.append(
                format_tool_turn(say(rng, P.VIEW_BOX, k=1, names=names([ops[0].label])), [ops[0]])
            )
            on, fresh = fresh, fresh + 1
            second = BoxOp(on, ops[1].bbox_2d, ops[1].label)
            text = f"{say(rng, P.BOX_ONE_NEXT, a=ops[1].label)} {side}"
            if kind is not None:
                wrong = others[int(rng.integers(len(others)))]
                bad = BoxOp(on, _jittered(boxes[wrong], rng, jitter, size), ops[1].label)
                if tag_cover(bad, 1, objects, cam) >= TAG_COVER:
                    raise NoQuestion("the wrong box's label would sit on its own colour")
                notice = _box_notice(rng, ops[1].label, wrong)
                replies.append(format_tool_turn(text, [bad]))
                shown, fresh = fresh, fresh + 1
                replies.append(format_tool_turn(notice(shown, on), [second]))
            else:
                replies.append(format_tool_turn(text, [second]))
            fresh += 1
            continue
        box_text = say(rng, P.VIEW_BOX, k=k, names=names([o.label for o in ops]))
        if k > 1:
            box_text = box_text[:-1] + say(rng, P.VIEW_SAME_LABELS) + "."
        replies.append(format_tool_turn(f"{box_text} {side}", ops))
    letter = OPTION_LETTERS[correct]
    replies.append(
        format_answer_turn(
            say(rng, P.VIEW_ANSWER, k=correct + 1, a=x.name, b=y.name, letter=letter), letter
        )
    )
    return Question(
        f"These {n} images show one scene from different viewpoints. In which view is the "
        f"{x.name} to the left of the {y.name} (left in the image)?",
        "multiple choice",
        letter,
        tuple(f"view {k}" for k in range(1, n + 1)),
        tuple(replies),
        {
            "object_x": x.name,
            "object_y": y.name,
            "left_in_view": correct + 1,
            "reflective": kind is not None,
            "mistake": kind,
        },
    )


def _ordering(names: Sequence[str]) -> str:
    return ", then ".join(f"the {n}" for n in names)


def appearance_order_question(
    objects: Sequence[SceneObject],
    cameras: Sequence[Camera],
    rng: np.random.Generator,
    jitter: int,
    want: float = 0.0,
) -> Question:
    """In which order do 3-4 objects first appear in the frames of a moving camera: box each in
    the frame where it first appears, then answer. An object "appears" in the first frame where
    it is fully in the frame and at most 35% hidden (the rule of every family); it is only asked
    about if no part of it is in any earlier frame, so its first appearance is unambiguous."""
    per_view = [_boxes(objects, cam) for cam in cameras]
    # first[name]: the first frame where the object is visible; seen[name]: the first frame
    # where any part of it is in the picture (cut by the edge or hidden counts), seen <= first.
    first: dict[str, int] = {}
    seen: dict[str, int] = {}
    for o in objects:
        frames = [k for k, b in enumerate(per_view) if o.name in b]
        if frames:
            first[o.name] = frames[0]
            seen[o.name] = next(j for j in range(frames[0] + 1) if partly_in_frame(o, cameras[j]))
    named = sorted(first, key=lambda n: (first[n], n))
    chains = [
        list(c)
        for count in (3, 4)
        for c in itertools.combinations(named, count)
        if all(first[a] < seen[b] for a, b in itertools.pairwise(c))
    ]
    if not chains:
        raise NoQuestion("no three objects that come into view one clearly after another")
    chosen = chains[int(rng.integers(len(chains)))]
    _named_clearly([o for o in objects if o.name in chosen], objects)
    count = len(chosen)
    frames = [first[n] for n in chosen]
    listed = [chosen[int(i)] for i in rng.permutation(count)]
    perms = [p for p in itertools.permutations(chosen) if list(p) != chosen]
    picks = rng.choice(len(perms), size=3, replace=False)
    options_lists = [chosen] + [list(perms[int(i)]) for i in picks]
    # The correct order goes to letter `want * 4` (balanced), the wrong ones around it shuffled.
    wrong = [options_lists[int(i)] for i in 1 + rng.permutation(3)]
    slot = int(want * 4)
    options = tuple(_ordering(o) for o in [*wrong[:slot], chosen, *wrong[slot:]])
    letter = OPTION_LETTERS[slot]
    size = cameras[0].size
    replies = []
    for name, k in zip(chosen, frames, strict=True):
        box = _jittered(per_view[k][name], rng, jitter, size)
        if k == 0:
            note = say(rng, P.APPEAR_FIRST, a=name)
        elif seen[name] == k:
            note = say(rng, P.APPEAR_NEW, a=name, k=k + 1, prev=k)
        else:
            note = (
                f"The {name} is fully in view first in frame {k + 1} (in frame {seen[name] + 1} "
                "only a part of it showed), and still after the objects before it."
            )
        text = f"{note} {say(rng, P.APPEAR_BOX)}"
        replies.append(_box_turn(text, [BoxOp(k + 1, box, name)], objects, cameras[k]))
    found = ", ".join(f"the {n} in frame {k + 1}" for n, k in zip(chosen, frames, strict=True))
    replies.append(
        format_answer_turn(
            say(rng, P.APPEAR_ANSWER, found=found, order=_ordering(chosen), letter=letter), letter
        )
    )
    listed_text = ", ".join(f"the {n}" for n in listed[:-1]) + f" and the {listed[-1]}"
    return Question(
        f"These {len(cameras)} frames come from a camera moving sideways through one scene. In "
        f"which order do {listed_text} first appear in the frames?",
        "multiple choice",
        letter,
        options,
        tuple(replies),
        {
            "objects_asked": listed,
            "first_frames": {n: k + 1 for n, k in zip(chosen, frames, strict=True)},
            "partly_seen_frames": {n: seen[n] + 1 for n in chosen},
            "reflective": False,
            "mistake": None,
        },
    )
