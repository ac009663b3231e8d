"""Families over several views or frames: `view_left_of` and `appearance_order`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from drawing.format import format_answer_turn, format_tool_turn
from generators.scenes.families import NoQuestion, Question, _boxes, _jittered
from generators.scenes.world import Camera, SceneObject, partly_in_frame
from schemas.records import BoxOp

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
    if not pairs:
        raise NoQuestion("no pair of objects left of each other in exactly one view")
    x, y, correct = pairs[int(rng.integers(len(pairs)))]
    size = cameras[0].size
    n = len(cameras)
    replies = []
    first = 1
    others = [o.name for o in objects if o.name in per_view[0] and o.name not in (x.name, y.name)]
    reflective = reflective and bool(others)
    if reflective:
        wrong = others[int(rng.integers(len(others)))]
        wrong_box = _jittered(per_view[0][wrong], rng, jitter, size)
        x_box = _jittered(per_view[0][x.name], rng, jitter, size)
        y_box = _jittered(per_view[0][y.name], rng, jitter, size)
        replies.append(
            format_tool_turn(
                f"I look for the {x.name} in view 1 and box it.", [BoxOp(1, wrong_box, x.name)]
            )
        )
        side = "left" if correct == 0 else "right"
        replies.append(
            format_tool_turn(
                f"The box labelled {x.name} sits on the {wrong}, not on the {x.name}. I redraw "
                f"it on image 1 around the {x.name} and box the {y.name} too: in view 1 the "
                f"{x.name} is to the {side} of the {y.name}.",
                [BoxOp(1, x_box, x.name), BoxOp(1, y_box, y.name)],
            )
        )
        first = 2
    for k in range(first, n + 1):
        boxes = per_view[k - 1]
        side = "left" if correct == k - 1 else "right"
        ops = [
            BoxOp(k, _jittered(boxes[x.name], rng, jitter, size), x.name),
            BoxOp(k, _jittered(boxes[y.name], rng, jitter, size), y.name),
        ]
        keep = " with the same labels, so each object keeps its label across views" if k > 1 else ""
        replies.append(
            format_tool_turn(
                f"In view {k} I box the {x.name} and the {y.name}{keep}. Here the {x.name} is "
                f"to the {side} of the {y.name}.",
                ops,
            )
        )
    letter = OPTION_LETTERS[correct]
    replies.append(
        format_answer_turn(
            f"Only in view {correct + 1} is the {x.name}'s box to the left of the {y.name}'s; in "
            f"every other view it is to the right. The answer is view {correct + 1}: option "
            f"{letter}.",
            letter,
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
            "reflective": reflective,
        },
    )


def _ordering(names: Sequence[str]) -> str:
    return ", then ".join(f"the {n}" for n in names)


def appearance_order_question(
    objects: Sequence[SceneObject],
    cameras: Sequence[Camera],
    rng: np.random.Generator,
    jitter: int,
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
    count = len(chosen)
    frames = [first[n] for n in chosen]
    listed = [chosen[int(i)] for i in rng.permutation(count)]
    perms = [p for p in itertools.permutations(chosen) if list(p) != chosen]
    picks = rng.choice(len(perms), size=3, replace=False)
    options_lists = [chosen] + [list(perms[int(i)]) for i in picks]
    order = rng.permutation(4)
    options = tuple(_ordering(options_lists[int(i)]) for i in order)
    letter = OPTION_LETTERS[int(np.flatnonzero(order == 0)[0])]
    size = cameras[0].size
    replies = []
    for name, k in zip(chosen, frames, strict=True):
        box = _jittered(per_view[k][name], rng, jitter, size)
        if k == 0:
            note = f"The {name} is already in frame 1, the first frame."
        elif seen[name] == k:
            note = f"The {name} first comes into view in frame {k + 1}; frame {k} does not show it."
        else:
            note = (
                f"The {name} is fully in view first in frame {k + 1} (in frame {seen[name] + 1} "
                "only a part of it showed), and still after the objects before it."
            )
        replies.append(format_tool_turn(f"{note} I box it there.", [BoxOp(k + 1, box, name)]))
    found = ", ".join(f"the {n} in frame {k + 1}" for n, k in zip(chosen, frames, strict=True))
    replies.append(
        format_answer_turn(
            f"First appearances: {found}. So the order is {_ordering(chosen)}: option {letter}.",
            letter,
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
        },
    )
