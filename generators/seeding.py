"""Per-sample randomness: a generator seeded from (run seed, sample id) through a stable hash."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(run_seed: int, *parts: str | int) -> int:
    """A 64-bit seed that depends only on the run seed and the parts, on any machine or worker."""
    text = "\x1f".join([str(run_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def sample_rng(run_seed: int, sample_id: str) -> np.random.Generator:
    """The random generator of one sample; never share it between samples."""
    return np.random.default_rng(derive_seed(run_seed, sample_id))
