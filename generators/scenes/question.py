"""A scene question with its answer and oracle replies, and the signal to try another scene."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class NoQuestion(Exception):
    """This scene and these views do not support the family; the caller tries another scene."""


@dataclass(frozen=True)
class Question:
    text: str
    question_type: str
    answer: str
    options: tuple[str, ...]
    replies: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
