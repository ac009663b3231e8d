"""The drawing environment: executes assistant turns, renders images, writes the replies."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace

from drawreason.drawing.parse import ANSWER, BAD_OPERATION, parse_to_turn
from drawreason.drawing.prompts import Prompts
from drawreason.drawing.render import RenderStyle, render_state
from drawreason.drawing.state import ImageState, merge_state, normalize_box
from drawreason.schemas.records import BoxOp, Operation, Turn
from PIL import Image


@dataclass(frozen=True)
class EnvConfig:
    """Budgets (docs/protocol.md) and the rendering style."""

    max_calls: int = 10  # assistant turns in total, the final answer included
    max_images: int = 42  # images in a trajectory, inputs included
    style: RenderStyle = field(default_factory=RenderStyle)

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ValueError(f"max_calls must be >= 1, got {self.max_calls}")
        if self.max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {self.max_images}")


@dataclass(frozen=True)
class StepResult:
    """One executed turn: the recorded Turn, the images it rendered as (index, image), the
    environment reply ("" once done), and whether and how the trajectory ended."""

    turn: Turn
    new_images: tuple[tuple[int, Image.Image], ...]
    env_reply: str
    done: bool
    termination: str


@dataclass(frozen=True)
class Rollout:
    """A finished scripted trajectory: its turns, all images in index order, their parents."""

    turns: tuple[Turn, ...]
    images: tuple[Image.Image, ...]
    parents: tuple[int, ...]  # 0 for inputs, else the 1-based index the image was drawn on
    termination: str


def operation_signature(op: Operation) -> tuple:
    """What makes two operations the same: tool, image, label and geometry (a box with swapped
    corners is the same box)."""
    if isinstance(op, BoxOp):
        geometry = normalize_box(op).bbox_2d
    else:
        geometry = (*op.start_point_2d, *op.end_point_2d)
    return (op.tool, op.index, tuple(float(v) for v in geometry), op.label)


def _points(op: Operation) -> list[tuple[str, float, float]]:
    if isinstance(op, BoxOp):
        x1, y1, x2, y2 = op.bbox_2d
        return [("bbox_2d", x1, y1), ("bbox_2d", x2, y2)]
    return [("start_point_2d", *op.start_point_2d), ("end_point_2d", *op.end_point_2d)]


def check_operations(
    ops: Sequence[Operation],
    sizes: Sequence[tuple[int, int] | None],
    issued: Set[tuple] = frozenset(),
) -> tuple[str, str]:
    """(reason, detail) of the first operation, in order, that cannot execute; else ("", "").

    `sizes[i]` is the (width, height) of image i + 1 (None where unknown: the bounds check is
    skipped for that image), `issued` the signatures of operations executed earlier in the
    trajectory. An index out of range or a point outside its image is `bad_operation`; an
    operation already issued, or issued earlier in this turn, is `duplicate_operation`. The
    environment and the reward (trainer/reward.py) both call this, so they never disagree.
    """
    seen = set(issued)
    for n, op in enumerate(ops, start=1):
        if not 1 <= op.index <= len(sizes):
            return BAD_OPERATION, f"operation {n}: index {op.index} out of range 1..{len(sizes)}"
        size = sizes[op.index - 1]
        if size is not None:
            width, height = size
            for key, x, y in _points(op):
                if not (0 <= x <= width and 0 <= y <= height):
                    return BAD_OPERATION, (
                        f"operation {n}: '{key}' point ({x}, {y}) outside image {op.index} "
                        f"(x in 0..{width}, y in 0..{height})"
                    )
        signature = operation_signature(op)
        if signature in seen:
            return "duplicate_operation", (
                f"operation {n}: {op.tool} {op.label!r} on image {op.index} was already issued"
            )
        seen.add(signature)
    return "", ""


class DrawingEnv:
    """One trajectory's images, per-image states and turns; `step` executes one reply."""

    def __init__(
        self,
        images: Sequence[Image.Image],
        config: EnvConfig = EnvConfig(),
        prompts: Prompts | None = None,
    ) -> None:
        if not images:
            raise ValueError("a trajectory needs at least one input image")
        self.config = config
        self.prompts = prompts or Prompts()
        # Palette images stay palette images (see render_state); everything else becomes RGB.
        self.images = [im if im.mode in ("RGB", "P") else im.convert("RGB") for im in images]
        self.parents: list[int] = [0] * len(images)
        self.states: list[ImageState] = [ImageState() for _ in images]
        self.turns: list[Turn] = []
        self.done = False
        self.termination = ""
        self._issued: set[tuple] = set()
        self.final_sent = False  # the last environment turn told the model to answer now

    def _check(self, ops: Sequence[Operation]) -> tuple[str, str]:
        return check_operations(ops, [im.size for im in self.images], self._issued)

    def _finish(
        self, turn: Turn, termination: str, new_images: tuple[tuple[int, Image.Image], ...] = ()
    ) -> StepResult:
        self.turns.append(turn)
        self.done = True
        self.termination = termination
        return StepResult(turn, new_images, "", True, termination)

    def step(self, text: str, finish_reason: str = "stop") -> StepResult:
        """Execute one assistant reply and record it as a Turn; never raises on model text.

        Raises RuntimeError if the trajectory already ended (a bug in the caller).
        """
        if self.done:
            raise RuntimeError(f"step() after the trajectory ended ({self.termination})")
        turn = parse_to_turn(text, finish_reason)
        if finish_reason == "length":
            return self._finish(
                replace(turn, error="turn_truncated", error_detail="the turn hit the token limit"),
                "turn_truncated",
            )
        if turn.error:
            return self._finish(turn, turn.error)
        if turn.action == ANSWER:
            return self._finish(turn, "answered")
        reason, detail = self._check(turn.operations)
        if reason:
            return self._finish(replace(turn, error=reason, error_detail=detail), reason)
        targets: dict[int, list[Operation]] = {}
        for op in turn.operations:
            targets.setdefault(op.index, []).append(op)
        if len(self.images) + len(targets) > self.config.max_images:
            detail = f"{len(targets)} new image(s) would exceed {self.config.max_images} images"
            return self._finish(
                replace(turn, error="too_many_images", error_detail=detail), "too_many_images"
            )
        new_images: list[tuple[int, Image.Image]] = []
        for k, ops in targets.items():
            state = merge_state(self.states[k - 1], ops)
            self.images.append(render_state(self.images[k - 1], state, self.config.style))
            self.states.append(state)
            self.parents.append(k)
            new_images.append((len(self.images), self.images[-1]))
        self._issued.update(operation_signature(op) for op in turn.operations)
        calls = len(self.turns) + 1
        indices = tuple(i for i, _ in new_images)
        if calls >= self.config.max_calls or self.final_sent:
            if self.final_sent and calls < self.config.max_calls:
                detail = "a tool call after the answer-now turn (the image cap was near)"
            else:
                detail = f"a tool call in the last of {self.config.max_calls} allowed turns"
            turn = replace(turn, new_images=indices, error="budget_exhausted", error_detail=detail)
            return self._finish(turn, "budget_exhausted", tuple(new_images))
        # The answer-now turn goes out when the next call is the last one allowed, or when a
        # turn drawing on as many images as this one would pass the image cap.
        self.final_sent = (
            calls == self.config.max_calls - 1
            or len(self.images) + len(targets) > self.config.max_images
        )
        reply = self.prompts.env_reply(
            [(i, im.width, im.height) for i, im in new_images], final=self.final_sent
        )
        turn = replace(turn, new_images=indices, env_reply=reply)
        self.turns.append(turn)
        return StepResult(turn, tuple(new_images), reply, False, "")


def run_replies(
    images: Sequence[Image.Image],
    replies: Sequence[str],
    config: EnvConfig = EnvConfig(),
    prompts: Prompts | None = None,
) -> Rollout:
    """Feed scripted assistant replies in order until the trajectory ends.

    Raises ValueError if the replies run out first (a bug in the script, not model output).
    """
    env = DrawingEnv(images, config, prompts)
    for reply in replies:
        env.step(reply)
        if env.done:
            break
    if not env.done:
        raise ValueError(f"{len(replies)} replies ended before the trajectory did")
    return Rollout(tuple(env.turns), tuple(env.images), tuple(env.parents), env.termination)
