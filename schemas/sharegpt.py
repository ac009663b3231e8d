"""LLaMA-Factory sharegpt records with images: build, validate, register in dataset_info."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from drawreason.schemas.layout import (
    image_file as image_path,  # re-exported: the records' image paths
)
from drawreason.schemas.records import Trajectory

# The LLaMA-Factory SFT hand-off's sequence cutoff and image pixel cap (trainer/handoff.py); the
# SFT stages reject records whose estimated length exceeds the cutoff (filters/length.py), so
# the trainer never truncates one through its image tokens.
CUTOFF_LEN = 16384
IMAGE_MAX_PIXELS = 262144

IMAGE_TOKEN = "<image>"
# LLaMA-Factory treats these as placeholders too; stray ones in model text break the count.
OTHER_MEDIA_TOKENS = ("<video>", "<audio>")
ROLE_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


class ExportError(ValueError):
    """A record would break LLaMA-Factory; the message names the record and the field."""


def to_sharegpt(trajectory: Trajectory) -> dict[str, Any]:
    """The sharegpt record of a trajectory: system, user, (assistant, user)*, assistant.

    Raises ExportError (via validate_sharegpt) when the record would not load.
    """
    messages = [
        {"role": "system", "content": trajectory.system_prompt},
        {"role": "user", "content": trajectory.user_prompt},
    ]
    for turn in trajectory.turns:
        messages.append({"role": "assistant", "content": turn.raw})
        if turn.env_reply:
            messages.append({"role": "user", "content": turn.env_reply})
    record = {
        "id": trajectory.id,
        "conversations": messages,
        "images": [image_path(k) for k in trajectory.image_keys],
    }
    validate_sharegpt(record)
    return record


def validate_sharegpt(record: Mapping[str, Any]) -> None:
    """Check the invariants LLaMA-Factory's sharegpt loader and multimodal plugin enforce.

    Optional leading system message; then strictly alternating user / assistant, starting with
    user and ending with assistant; non-empty string contents; `<image>` only in user turns,
    and exactly one per entry of `images`, in order (LLaMA-Factory counts them).
    """
    rid = record.get("id", "?")
    messages = record.get("conversations")
    images = record.get("images")
    if not isinstance(messages, list) or not messages:
        raise ExportError(f"record {rid!r}: field 'conversations' must be a non-empty list")
    if not isinstance(images, list) or not all(isinstance(p, str) and p for p in images):
        raise ExportError(f"record {rid!r}: field 'images' must be a list of paths")
    body = messages[1:] if messages[0].get("role") == "system" else messages
    if len(body) < 2 or len(body) % 2:
        raise ExportError(
            f"record {rid!r}: field 'conversations' needs user/assistant pairs, got {len(body)} "
            "messages after the system prompt"
        )
    placeholders = 0
    for i, message in enumerate(messages):
        where = f"record {rid!r}: conversations[{i}]"
        content = message.get("content")
        role = message.get("role")
        if not isinstance(content, str) or not content.strip():
            raise ExportError(f"{where}.content is empty")
        offset = i - (len(messages) - len(body))
        if offset >= 0:
            expected = "user" if offset % 2 == 0 else "assistant"
            if role != expected:
                raise ExportError(f"{where}.role is {role!r}, expected {expected!r}")
        count = content.count(IMAGE_TOKEN)
        if count and role != "user":
            raise ExportError(f"{where}: {role} content contains {count} {IMAGE_TOKEN} token(s)")
        for token in OTHER_MEDIA_TOKENS:
            if token in content:
                raise ExportError(f"{where}: content contains the media token {token}")
        placeholders += count
    if placeholders != len(images):
        raise ExportError(
            f"record {rid!r}: {placeholders} {IMAGE_TOKEN} placeholders but {len(images)} images"
        )


def dataset_info(entries: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """dataset_info.json content: one sharegpt entry per (dataset name, file name)."""
    return {
        name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "images": "images"},
            "tags": dict(ROLE_TAGS),
        }
        for name, file_name in sorted(entries)
    }
