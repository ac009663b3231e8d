"""The drawing environment as a trainer sees it: one assistant turn in, images and text out.

Trainer adapters (integrations.verl, integrations.trl) differ only in how a tool call
reaches us and how the answer goes back; everything that decides what a turn does is the project's
`drawing.environment.DrawingEnv` (parser, per-image state, renderer, budgets, terminations,
image numbering) and `drawing.prompts.Prompts` (the environment's wording). Nothing here
re-implements any of it:

- `turn_call(text)` reads an assistant turn with the project's tolerant parser and says which
  tool call it is (or none: an answer, no action or an unparsable turn ends the trajectory in
  every trainer loop, as it does in `DrawingEnv`).
- `DrawingSession.call(tool, operations)` executes one call as the turn text
  `canonical_turn(tool, operations)` through `DrawingEnv.step`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.drawing.environment import DrawingEnv, EnvConfig, StepResult
from drawreason.drawing.parse import ANSWER, parse_to_turn
from drawreason.drawing.prompts import IMAGE_TOKEN, Prompts
from PIL import Image

# Tool names as trainers dispatch them (function names must be identifiers), and the protocol's
# action names they stand for.
TOOL_ACTIONS: Mapping[str, str] = {"object_mapper": "Object Mapper", "path_tracer": "Path Tracer"}
ACTION_TOOLS: Mapping[str, str] = {action: tool for tool, action in TOOL_ACTIONS.items()}


@dataclass(frozen=True)
class TurnCall:
    """The tool call one assistant turn makes: tool name and its operations (JSON objects)."""

    tool: str
    operations: tuple[dict[str, Any], ...]

    def arguments(self) -> dict[str, Any]:
        return {"operations": [dict(op) for op in self.operations]}


def turn_call(text: str) -> TurnCall | None:
    """The tool call of an assistant turn, or None when the turn makes none (it answers, has no
    action, or its operations do not parse: the trajectory ends there, as in DrawingEnv)."""
    turn = parse_to_turn(text)
    if turn.error or turn.action == ANSWER or not turn.operations:
        return None
    tool = ACTION_TOOLS.get(turn.action)
    if tool is None:
        return None
    return TurnCall(tool, tuple(op.to_json() for op in turn.operations))


def canonical_turn(tool: str, operations: Sequence[Mapping[str, Any]]) -> str:
    """The protocol turn text of a tool call (the docs/protocol.md shape, no think text)."""
    action = TOOL_ACTIONS.get(tool)
    if action is None:
        raise ValueError(f"unknown drawing tool {tool!r}; known: {sorted(TOOL_ACTIONS)}")
    body = json.dumps([dict(op) for op in operations], ensure_ascii=False)
    return f"Action: {action}\n```json\n{body}\n```"


@dataclass(frozen=True)
class Budgets:
    """What a trajectory's environment needs besides its images; travels in the dataset
    (verl: extra_info.tools_kwargs.<tool>.create_kwargs)."""

    max_calls: int = 10
    max_images: int = 42
    image_sizes: tuple[tuple[int, int], ...] = ()  # (width, height) of each input as prompted
    item_id: str = ""
    grid_size: int | None = None

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Budgets:
        sizes = tuple((int(w), int(h)) for w, h in kwargs.get("image_sizes") or ())
        grid = kwargs.get("grid_size")
        return cls(
            max_calls=int(kwargs.get("max_calls", 10)),
            max_images=int(kwargs.get("max_images", 42)),
            image_sizes=sizes,
            item_id=str(kwargs.get("item_id", "")),
            grid_size=None if grid is None else int(grid),
        )

    def to_kwargs(self) -> dict[str, Any]:
        return {
            "max_calls": self.max_calls,
            "max_images": self.max_images,
            "image_sizes": [list(s) for s in self.image_sizes],
            "item_id": self.item_id,
            "grid_size": self.grid_size,
        }


def split_reply(reply: str, images: Sequence[Image.Image]) -> list[dict[str, Any]]:
    """An environment reply as interleaved chat content: each `<image>` token of the reply
    becomes the next image part, the text between them text parts.

    Raises ValueError if the number of tokens and images differ (a template bug)."""
    pieces = reply.split(IMAGE_TOKEN)
    if len(pieces) - 1 != len(images):
        raise ValueError(f"reply has {len(pieces) - 1} {IMAGE_TOKEN} token(s) for {len(images)}")
    content: list[dict[str, Any]] = []
    for n, piece in enumerate(pieces):
        if n:
            content.append({"type": "image", "image": images[n - 1]})
        if piece:
            content.append({"type": "text", "text": piece})
    return content


class DrawingSession:
    """One trajectory's DrawingEnv behind tool calls.

    `images` are the inputs exactly as the policy sees them; if `budgets.image_sizes` is set it
    must match them (the prompts state those sizes, and coordinates are pixels of what the
    model saw), else ValueError.
    """

    def __init__(
        self,
        images: Sequence[Image.Image],
        budgets: Budgets = Budgets(),
        prompts: Prompts | None = None,
    ) -> None:
        sizes = tuple(tuple(im.size) for im in images)
        if budgets.image_sizes and sizes != budgets.image_sizes:
            raise ValueError(
                f"item {budgets.item_id!r}: the policy sees images of sizes {list(sizes)} but "
                f"the prompt states {list(budgets.image_sizes)} (raise the trainer's max_pixels "
                "or write the data at the size the trainer shows)"
            )
        self.budgets = budgets
        self.env = DrawingEnv(images, EnvConfig(budgets.max_calls, budgets.max_images), prompts)
        self.last: StepResult | None = None

    @property
    def done(self) -> bool:
        return self.env.done

    @property
    def termination(self) -> str:
        return self.env.termination

    def call(self, tool: str, operations: Sequence[Mapping[str, Any]]) -> StepResult:
        """Execute one tool call; raises RuntimeError if the trajectory already ended."""
        if not isinstance(operations, Sequence) or isinstance(operations, str | bytes):
            operations = [operations]  # type: ignore[list-item]
        self.last = self.env.step(canonical_turn(tool, operations))
        return self.last

    def step_text(self, text: str) -> StepResult:
        """Execute one assistant turn as written (what our own rollout does)."""
        self.last = self.env.step(text)
        return self.last

    def reply_text(self) -> str:
        """The last environment reply without image tokens (for trainers whose tool message
        puts the images first and the text after)."""
        if self.last is None:
            return ""
        return self.last.env_reply.replace(f"{IMAGE_TOKEN}\n", "").replace(IMAGE_TOKEN, "")

    def reply_content(self) -> list[dict[str, Any]]:
        """The last environment reply as interleaved image/text content parts."""
        if self.last is None or self.last.done:
            return []
        return split_reply(self.last.env_reply, [im for _, im in self.last.new_images])
