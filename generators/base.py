"""The sample every generator returns, and the signature a generator has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class GeneratedSample:
    """A generated question with its input images and the oracle assistant turns that solve it.

    `replies` are the assistant turns in order (tool turns, then the answer turn); `max_calls`
    is the call budget this kind of sample is run with; `meta` holds JSON-native values only.
    """

    question: str
    question_type: str  # "multiple choice" | "numerical"
    answer: str
    options: tuple[str, ...]
    data_type: str
    grid_size: int | None
    images: tuple[Image.Image, ...]
    replies: tuple[str, ...]
    max_calls: int
    meta: dict[str, Any]


class Generator(Protocol):
    """Makes sample `sample_id` from its own random generator and a generator config."""

    def __call__(
        self, sample_id: str, rng: np.random.Generator, config: Any
    ) -> GeneratedSample: ...
