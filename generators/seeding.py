"""Per-sample randomness: a generator seeded from (run seed, sample id) through a stable hash.

Each data stage mixes its own salt (`seed_salt`, default the stage name) into the run seed
before seeding its generated questions (`stage_seed`), so the stages of one run seed draw
disjoint questions; an empty salt uses the run seed itself.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np


def derive_seed(run_seed: int, *parts: str | int) -> int:
    """A 64-bit seed that depends only on the run seed and the parts, on any machine or worker."""
    text = "\x1f".join([str(run_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def sample_rng(run_seed: int, sample_id: str) -> np.random.Generator:
    """The random generator of one sample; never share it between samples."""
    return np.random.default_rng(derive_seed(run_seed, sample_id))


SALT_PATTERN = re.compile(r"[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*")


def stage_seed(run_seed: int, salt: str) -> int:
    """The seed a stage's generated questions come from: derive_seed(run seed, salt), or the
    run seed itself for an empty salt (the seeding before stages were salted)."""
    return derive_seed(run_seed, salt) if salt else run_seed


def check_salt(salt: str, key: str = "seed_salt") -> None:
    """A salt is part of every generated question id: letters, digits, `_`, `.` and inner
    `-` only (or empty)."""
    if salt and not SALT_PATTERN.fullmatch(salt):
        raise ValueError(
            f"{key} must be letters, digits, '_', '.' and inner '-' (or empty), got {salt!r}"
        )
