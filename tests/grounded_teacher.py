"""A scripted teacher for generated mazes and scenes: it recognises the question by its first
image, reads the question's oracle facts (made by the same generator call the pipeline makes)
and draws what a test asks for: a grounded trajectory, a wrong box, a line through a wall, a
wrong box then fixed, or a cosmetic redraw. Every variant answers correctly."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Callable

from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.filters.grounding import box_iou, named_objects
from drawreason.generators.oracle import GeneratedQuestion, generate_question
from drawreason.schemas.oracle import MazeOracle, SceneOracle
from drawreason.schemas.records import BoxOp, LineOp

from tests.scripted_server import assistant_turns, decode_data_url, image_urls

MAZE_VARIANTS = ("good", "wall", "partial")
SCENE_VARIANTS = ("good", "wrong_box", "fixed", "cosmetic")


def generated_questions(
    allocation: dict[str, int], seed: int, salt: str, configs: dict[str, object]
) -> dict[str, GeneratedQuestion]:
    """image key of the first input -> the question, for every generated question of a run."""
    found = {}
    for subset, count in allocation.items():
        for index in range(count):
            q = generate_question(subset, index, seed, configs[subset], salt=salt, with_oracle=True)
            found[q.item.images[0]] = q
    return found


def _first_image_key(messages) -> str:
    png = decode_data_url(image_urls(messages)[0])
    return f"{hashlib.sha256(png).hexdigest()}.png"


# --- mazes ------------------------------------------------------------------------------------


def _centre(oracle: MazeOracle, cell) -> tuple[int, int]:
    left, top, right, bottom = oracle.axes
    cw, ch = (right - left) / oracle.grid_size, (bottom - top) / oracle.grid_size
    return round(left + (cell[1] + 0.5) * cw), round(top + (cell[0] + 0.5) * ch)


def _runs(route) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(first cell, last cell) of every straight stretch of a route."""
    runs, start = [], route[0]
    for k in range(1, len(route) - 1):
        a, b, c = route[k - 1], route[k], route[k + 1]
        if (b[0] - a[0], b[1] - a[1]) != (c[0] - b[0], c[1] - b[1]):
            runs.append((start, b))
            start = b
    runs.append((start, route[-1]))
    return runs


def _walled_probe(oracle: MazeOracle) -> tuple:
    """(cell, neighbour) on the route with a wall between them."""
    passages = set(oracle.passages)
    for cell in oracle.route:
        for di, dj in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            other = (cell[0] + di, cell[1] + dj)
            if 0 <= other[0] < oracle.grid_size and 0 <= other[1] < oracle.grid_size:
                if tuple(sorted((cell, other))) not in passages:
                    return cell, other
    raise ValueError("a maze with no wall beside its route")


def _on(image: int, line: LineOp, label: str) -> LineOp:
    return LineOp(image, line.start_point_2d, line.end_point_2d, label)


def maze_turn(question: GeneratedQuestion, variant: str, turn: int) -> str:
    oracle = question.item.oracle
    runs = _runs(oracle.route)
    lines = [
        LineOp(1, _centre(oracle, a), _centre(oracle, b), f"segment {k + 1}")
        for k, (a, b) in enumerate(runs)
    ]
    half = max(1, len(lines) // 2)
    first, rest = lines[:half], [_on(2, line, line.label) for line in lines[half:]]
    if variant == "wall":
        a, b = _walled_probe(oracle)
        first = [*first, LineOp(1, _centre(oracle, a), _centre(oracle, b), "shortcut")]
    if variant == "partial":  # the first stretch only, drawn twice under two labels
        first, rest = lines[:1], [_on(2, lines[0], "segment 1 again")]
    if turn == 0:
        return format_tool_turn(f"variant {variant}: I trace the route from the start.", first)
    if turn == 1:
        if not rest:
            rest = [_on(2, lines[-1], "last segment")]
        return format_tool_turn("The lines follow the corridors; I go on to the goal.", rest)
    return format_answer_turn("The drawn route answers the question.", question.item.answer)


# --- scenes -----------------------------------------------------------------------------------


def _boxes(oracle: SceneOracle) -> dict:
    return {o.name: o.box for o in oracle.views[0].objects}


def _anchor(question: GeneratedQuestion) -> str:
    """The object the question names that is not an option (the closest family's anchor)."""
    oracle = question.item.oracle
    names = [n for n in named_objects(question.item.question, oracle)]
    return next(n for n in names if n not in oracle.option_objects)


def _int_box(box) -> tuple[int, int, int, int]:
    return tuple(round(v) for v in box)


def scene_turn(question: GeneratedQuestion, variant: str, turn: int) -> str:
    oracle = question.item.oracle
    boxes = _boxes(oracle)
    anchor = _anchor(question)
    right = _int_box(boxes[anchor])
    others = [n for n in boxes if n != anchor]
    wrong = _int_box(boxes[min(others, key=lambda n: box_iou(boxes[n], boxes[anchor]))])
    answer = question.item.answer
    target = oracle.option_objects["ABCD".index(answer)]
    base = ((right[0] + right[2]) // 2, right[3])
    t_box = boxes[target]
    line_to = (round((t_box[0] + t_box[2]) / 2), round(t_box[3]))
    plan = {
        "good": [[BoxOp(1, right, anchor)], "line"],
        "wrong_box": [[BoxOp(1, wrong, anchor)], "line"],
        "fixed": [[BoxOp(1, wrong, anchor)], [BoxOp(1, right, anchor)], "line"],
        "cosmetic": [
            [BoxOp(1, right, anchor)],
            [BoxOp(2, (right[0] + 1, right[1], right[2], right[3]), anchor)],
            "line",
        ],
    }[variant]
    if turn >= len(plan):
        return format_answer_turn(f"The line to the {target} is the shortest.", answer)
    step = plan[turn]
    if step == "line":
        image = turn + 1  # the newest image: each earlier turn rendered one
        return format_tool_turn(
            f"I trace the floor from the {anchor} to the {target}.",
            [LineOp(image, base, line_to, f"to {target}")],
        )
    think = f"variant {variant}: I box the {anchor}." if turn == 0 else "I redraw the box."
    return format_tool_turn(think, step)


# --- the script -------------------------------------------------------------------------------


class GroundedTeacher:
    """Answers a request for a generated question with the variant `choose(question)` names
    (cold start: fixed per question) or, with `per_sample`, the next variant of a per-question
    cycle (reflective sampling: K samples of one question get different variants); later turns
    read the variant back from the first assistant message."""

    def __init__(
        self,
        questions: dict[str, GeneratedQuestion],
        choose: Callable[[GeneratedQuestion], str] | None = None,
        per_sample: tuple[str, ...] = (),
    ) -> None:
        self.questions = questions
        self.choose = choose
        self.per_sample = per_sample
        self.seen: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, messages) -> str:
        question = self.questions[_first_image_key(messages)]
        turn = assistant_turns(messages)
        if turn == 0:
            if self.per_sample:
                with self.lock:
                    n = self.seen[question.item.id]
                    self.seen[question.item.id] += 1
                variant = self.per_sample[n % len(self.per_sample)]
            else:
                variant = self.choose(question)
        else:
            first = next(m for m in messages if m["role"] == "assistant")["content"]
            variant = re.search(r"variant (\w+)", first).group(1)
        if isinstance(question.item.oracle, MazeOracle):
            return maze_turn(question, variant, turn)
        return scene_turn(question, variant, turn)
