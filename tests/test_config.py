"""Config building: defaults, nested keys, and errors that name the bad key."""

from dataclasses import dataclass, field

import pytest
from drawreason.schemas.config import (
    ConfigError,
    build_config,
    config_hash,
    config_to_dict,
    merge_overrides,
)


@dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (3, 4)
    share: float = 0.2

    def __post_init__(self):
        if not 0 <= self.share <= 1:
            raise ValueError(f"share must be in [0, 1], got {self.share}")


@dataclass(frozen=True)
class Outer:
    n: int = 5
    name: str = "x"
    flag: bool = False
    mix: dict[str, float] = field(default_factory=lambda: {"a": 1.0})
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_defaults_and_nested():
    cfg = build_config(Outer, {"n": 7, "inner": {"sizes": [5, 6]}, "mix": {"a": 1, "b": 2}})
    assert cfg.n == 7 and cfg.inner.sizes == (5, 6) and cfg.inner.share == 0.2
    assert cfg.mix == {"a": 1.0, "b": 2.0}
    assert build_config(Outer, config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nn": 1}, "config: unknown key(s) nn"),
        ({"n": "5"}, "config.n: expected an integer, got '5'"),
        ({"n": True}, "config.n: expected an integer"),
        ({"inner": {"sizes": [3, "x"]}}, "config.inner.sizes[1]: expected an integer"),
        ({"inner": {"share": 2}}, "config.inner: share must be in [0, 1], got 2.0"),
        ({"inner": {"bogus": 1}}, "config.inner: unknown key(s) bogus"),
        ({"flag": "yes"}, "config.flag: expected true or false"),
        ({"mix": [1]}, "config.mix: expected a mapping"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        build_config(Outer, data)
    assert message in str(err.value)


def test_overrides_and_hash():
    base = build_config(Outer, {})
    cfg = merge_overrides(Outer, base, {"n": 9, "inner": {"share": 0.5}})
    assert (cfg.n, cfg.inner.share, cfg.inner.sizes) == (9, 0.5, (3, 4))
    assert config_hash(cfg) != config_hash(base)
    assert config_hash(build_config(Outer, {})) == config_hash(base)
