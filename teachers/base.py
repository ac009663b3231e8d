"""The one seam for teacher models: chat messages with images in, text and usage out."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

IMAGE_TOKEN = "<image>"  # the placeholder our prompts use, one per attached image
ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    """One chat message. `text` holds one literal `<image>` per entry of `images`, in order;
    `images` are PNG bytes. Assistant messages carry no images and their text is free (a
    model may well write `<image>`), so the placeholder check applies to the other roles.
    `image_ids` optionally names each image by a content hash the caller already computed
    (the rollout uses the PNG's sha256), so a back end that caches media by id (vLLM) need
    not hash the image again; it is not part of equality.

    Raises ValueError on an unknown role, a placeholder count that does not match the images,
    or `image_ids` given with a length other than the number of images.
    """

    role: str
    text: str
    images: tuple[bytes, ...] = ()
    image_ids: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"ChatMessage: role {self.role!r} is not one of {ROLES}")
        if self.image_ids and len(self.image_ids) != len(self.images):
            raise ValueError(
                f"ChatMessage ({self.role}): {len(self.image_ids)} image id(s) "
                f"for {len(self.images)} image(s)"
            )
        if self.role == "assistant" and not self.images:
            return
        found = self.text.count(IMAGE_TOKEN)
        if found != len(self.images):
            raise ValueError(
                f"ChatMessage ({self.role}): {found} {IMAGE_TOKEN!r} placeholder(s) "
                f"for {len(self.images)} image(s)"
            )


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling options sent to the teacher."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"SamplingParams: max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams: top_p must be in (0, 1], got {self.top_p}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams: temperature must be >= 0, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TeacherReply:
    """What a teacher returned: the text, why it stopped ("stop", "length", ...), token usage,
    the raw response JSON (never containing credentials), and how many retries it took (not
    part of equality: a cached reply took none)."""

    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    retries: int = field(default=0, compare=False)


class TeacherError(RuntimeError):
    """A teacher call failed: retries were exhausted, or the error was not retryable."""


@runtime_checkable
class Teacher(Protocol):
    """A chat model behind one async call; implementations bound their own concurrency."""

    name: str
    model: str

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> TeacherReply: ...

    async def close(self) -> None: ...


def png_data_url(png: bytes) -> str:
    """`data:image/png;base64,...` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI chat `messages`: a text-only message keeps plain string content; a message with
    images becomes content parts, text split on `<image>` and each placeholder replaced by an
    `image_url` part carrying a PNG data URL, in order (empty text pieces are left out)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            out.append({"role": message.role, "content": message.text})
            continue
        pieces = message.text.split(IMAGE_TOKEN)
        parts: list[dict[str, Any]] = []
        for i, piece in enumerate(pieces):
            if piece:
                parts.append({"type": "text", "text": piece})
            if i < len(message.images):
                url = png_data_url(message.images[i])
                parts.append({"type": "image_url", "image_url": {"url": url}})
        out.append({"role": message.role, "content": parts})
    return out
