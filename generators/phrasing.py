"""Picking a wording: `say` fills one template of a phrasing pool, chosen by the sample's rng."""

from __future__ import annotations

import numpy as np


def say(rng: np.random.Generator, pool: tuple[str, ...], **fields: object) -> str:
    """One template of `pool`, picked by `rng`, filled in and capitalized."""
    text = pool[int(rng.integers(len(pool)))].format(**fields)
    return text[:1].upper() + text[1:]


def names(items: list[str]) -> str:
    """'the a', 'the a and the b', 'the a, the b and the c'."""
    parts = [f"the {n}" for n in items]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
