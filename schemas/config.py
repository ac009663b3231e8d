"""Builds typed configs from JSON/YAML dicts: unknown keys and wrong types name the bad key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, Union

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is wrong; the message names the full key path."""


SECTIONS = "drawreason_sections"  # the field metadata key of `sections_field`


def sections_field(entries: Callable[[], dict[str, type]]) -> Any:
    """A dict field of a config dataclass whose entries are top-level keys of the config:
    `entries()` names the keys it takes and the dataclass each one is built as (the registered
    generators: `maze:` and `scenes:` are keys of a stage's config, held in its `generators`
    field). A config file or `config_to_dict` never shows the field's own name."""
    return dataclasses.field(default_factory=dict, metadata={SECTIONS: entries})


def config_sections(cls: type) -> dict[str, tuple[str, type]]:
    """{section key: (field name, dataclass)} of the sections fields of `cls`."""
    out: dict[str, tuple[str, type]] = {}
    for f in dataclasses.fields(cls):
        if SECTIONS in f.metadata:
            out.update({key: (f.name, kind) for key, kind in f.metadata[SECTIONS]().items()})
    return out


def _convert(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return build_config(hint, value, path)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {value!r} fits no option")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        key_type, value_type = args or (Any, Any)
        return {
            _convert(k, key_type, f"{path}.{k}"): _convert(v, value_type, f"{path}.{k}")
            for k, v in value.items()
        }
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")
    return value


def build_config(cls: type[T], data: dict[str, Any], path: str = "config") -> T:
    """An instance of dataclass `cls` from `data`; defaults fill what `data` leaves out.

    Raises ConfigError naming the key for an unknown key, a wrong type, or a value the
    dataclass's own validation refuses.
    """
    hints = typing.get_type_hints(cls)
    sections = config_sections(cls)
    plain = {f.name for f in dataclasses.fields(cls) if f.init and SECTIONS not in f.metadata}
    clash = sorted(plain & set(sections))
    if clash:
        raise ConfigError(f"{path}: section(s) {', '.join(clash)} have the name of a key")
    fields = plain | set(sections)
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k in sections:
            name, kind = sections[k]
            kwargs.setdefault(name, {})[k] = _convert(v, kind, f"{path}.{k}")
        else:
            kwargs[k] = _convert(v, hints[k], f"{path}.{k}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path}: {exc}") from exc


def merge_dicts(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; nested mappings merge key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = value
    return out


def merge_overrides(cls: type[T], base: T, overrides: dict[str, Any], path: str = "config") -> T:
    """`base` with the keys of `overrides` replaced (nested dicts merge into nested configs)."""
    return build_config(cls, merge_dicts(config_to_dict(base), overrides), path)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-native dict of a config (tuples become lists), the entries of a sections field
    at the top level (`sections_field`), as a config file spells them."""
    data = json.loads(json.dumps(dataclasses.asdict(config)))
    for f in dataclasses.fields(config):
        if SECTIONS in f.metadata:
            data.update(data.pop(f.name))
    return data


def config_hash(config: Any, ignore: Sequence[str] = ()) -> str:
    """A short stable hash of a config's canonical JSON, leaving out the dotted key paths in
    `ignore` (settings that do not change the data, such as a server's address)."""
    data = strip_keys(config_to_dict(config), ignore)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def strip_keys(data: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A copy of `data` without the dotted key paths `paths` (missing ones are fine)."""
    out = json.loads(json.dumps(data))
    for path in paths:
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out
