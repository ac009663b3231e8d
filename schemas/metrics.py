"""metrics.json: the typed record a stage writes about its run, its version, and the one loader.

A data stage counts its outcomes under typed `StatKey`s (what, subset, detail), adds them up
into a `StageMetrics` and writes `StageMetrics.to_json()`; the evaluate stage writes the same
record with `benchmarks` instead of `subsets`. The CLI summary, the report, the dataset card and
the Hub push read the file back through `parse_metrics`, which checks every field and names the
file and the field in a one-line `MetricsError` when one is wrong, or when the file was written
by a newer major version of the schema. Pure: callers read the file with their own file system.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# major.minor: a reader accepts every minor version of its own major (new optional fields),
# and refuses a newer major (fields changed or removed).
SCHEMA_VERSION = "1.0"


class MetricsError(ValueError):
    """metrics.json is missing a field, has one of the wrong type, or a newer major version."""


# --- counting keys ---------------------------------------------------------------------------

# What a StatKey counts. Counted once per outcome: KEPT, REJECTED (detail: the reason), ERROR
# (the exception type), TURNS (detail: the turn count), REFLECTION (the kind), REFLECTIVE,
# SAMPLED, SAMPLED_REFLECTIVE, PASS_RATE (detail: the rate), CANONICALIZED (the kind), TOKENS
# (detail: the token length), GROUNDED_TRAJECTORY, CORRECTION (the kind). Summed amounts:
# USAGE (detail: the usage counter), GROUNDING_OPERATIONS, GROUNDED_OPERATIONS.
KEPT, REJECTED, ERROR = "kept", "rejected", "error"
TURNS, REFLECTION, REFLECTIVE = "turns", "reflection", "reflective"
SAMPLED, SAMPLED_REFLECTIVE, PASS_RATE = "sampled", "sampled_reflective", "pass_rate"
USAGE, CANONICALIZED, TOKENS = "usage", "canonicalized", "tokens"
GROUNDED_TRAJECTORY, CORRECTION = "grounded_trajectory", "correction"
GROUNDING_OPERATIONS, GROUNDED_OPERATIONS = "grounding_operations", "grounded_operations"


class StatKey(NamedTuple):
    """One thing a stage counts about one subset: `kind` (above), and its detail (a rejection
    reason, a turn count, a token length, ...; "" when the kind has none)."""

    kind: str
    subset: str
    detail: str | int = ""


# --- the record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenLengths:
    """Estimated token lengths of kept SFT records (filters/length.py): n, mean, percentiles,
    and a histogram of `bucket`-wide bins keyed by their start ("0", "1024", ...)."""

    n: int = 0
    mean: float = 0.0
    min: int = 0
    p50: int = 0
    p90: int = 0
    p99: int = 0
    max: int = 0
    bucket: int = 1024
    histogram: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Grounding:
    """Grounding of a subset's trajectories against their oracle (filters/grounding.py)."""

    trajectories: int = 0
    operations: int = 0  # operations checked
    grounded: int = 0  # of them, grounded
    grounded_share: float = 0.0
    corrections: dict[str, int] = field(default_factory=dict)  # redraws judged, by kind


@dataclass(frozen=True)
class SubsetMetrics:
    """One subset: input = kept + rejected + errors (`accounted`), and what the kept hold."""

    input: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> n
    errors: int = 0
    accounted: bool = True
    turns: dict[str, int] = field(default_factory=dict)  # assistant turns of a kept record -> n
    reflection: dict[str, int] = field(default_factory=dict)  # kept records reflecting, by kind
    reflective_kept: int = 0
    reflective_rate: float = 0.0
    canonicalized: dict[str, int] = field(default_factory=dict)  # turns re-written, by kind
    teacher_usage: dict[str, int] = field(default_factory=dict)
    token_length: TokenLengths | None = None
    grounding: Grounding | None = None
    # reflective_data: every policy sample drawn, and how many of them reflected
    sampled: int | None = None
    sampled_reflective: int | None = None
    sampled_reflection_rate: float | None = None
    pass_rate: dict[str, int] = field(default_factory=dict)  # rl_data: "0.625" -> questions


@dataclass(frozen=True)
class BenchmarkMetrics:
    """The evaluate stage's line for one benchmark (its results are in eval/<benchmark>.json)."""

    benchmark: str
    expected: int
    accounted: bool
    trajectories: int
    errors: int
    rejected: int
    accuracy: float


@dataclass(frozen=True)
class SkippedSource:
    """An input the run left out (e.g. no teacher to roll it out), and why."""

    subset: str
    source: str
    reason: str


@dataclass(frozen=True)
class StageMetrics:
    """metrics.json. Data stages fill `subsets`; the evaluate stage `benchmarks` and `summary`.
    `traces` is generators/diversity.py's figures per subset (cold_start_data)."""

    stage: str
    input: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    accounted: bool = True
    subsets: dict[str, SubsetMetrics] = field(default_factory=dict)
    teacher_usage: dict[str, int] = field(default_factory=dict)
    canonicalized: dict[str, int] = field(default_factory=dict)
    token_length: TokenLengths | None = None
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_sources: list[SkippedSource] = field(default_factory=list)
    benchmarks: dict[str, BenchmarkMetrics] = field(default_factory=dict)
    summary: str | None = None
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The JSON document; fields that are None are left out."""
        return _to_json(self)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {
            f.name: _to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


# --- the loader ------------------------------------------------------------------------------


def parse_metrics(doc: Any, source: str) -> StageMetrics:
    """metrics.json's parsed JSON -> StageMetrics; `source` (its path) names the file in errors.
    Raises MetricsError (one line: file, field, what is wrong) on a missing or newer-major
    `schema_version`, an unknown or missing field, or a value of the wrong type."""
    if not isinstance(doc, dict):
        raise MetricsError(f"{source}: not a JSON object")
    version = doc.get("schema_version")
    if not isinstance(version, str) or not _major(version):
        raise MetricsError(
            f"{source}: field schema_version: missing or not 'MAJOR.MINOR' ({version!r}); "
            "written before metrics.json had a schema: re-run the stage"
        )
    if _major(version) > _major(SCHEMA_VERSION):
        raise MetricsError(
            f"{source}: field schema_version: {version} is newer than this drawreason reads "
            f"({SCHEMA_VERSION}); upgrade drawreason"
        )
    # A newer minor version only adds fields: those are skipped, not refused.
    lenient = _version(version) > _version(SCHEMA_VERSION)
    return _from_json(StageMetrics, doc, source, "", lenient)


def _version(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (0, 0)


def _major(version: str) -> int:
    return _version(version)[0]


def _from_json(kind: Any, value: Any, source: str, where: str, lenient: bool) -> Any:
    """`value` checked against the type `kind`, dataclasses built; `where` is the field path;
    `lenient` skips unknown fields (a file of a newer minor version)."""

    def fail(what: str) -> MetricsError:
        return MetricsError(f"{source}: field {where or '(top level)'}: {what}")

    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _from_json(inner, value, source, where, lenient)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise fail(f"expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        known = {f.name: f for f in dataclasses.fields(kind)}
        unknown = sorted(set(value) - set(known))
        if unknown and not lenient:
            raise fail(f"unknown field {unknown[0]!r}")
        args = {}
        for name, f in known.items():
            path = f"{where}.{name}" if where else name
            if name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise MetricsError(f"{source}: field {path}: missing")
                continue
            args[name] = _from_json(hints[name], value[name], source, path, lenient)
        return kind(**args)
    if origin is dict:
        _, value_type = typing.get_args(kind)
        if not isinstance(value, dict):
            raise fail(f"expected an object, got {type(value).__name__}")
        return {
            k: _from_json(value_type, v, source, f"{where}.{k}", lenient) for k, v in value.items()
        }
    if origin is list:
        (item_type,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise fail(f"expected a list, got {type(value).__name__}")
        return [
            _from_json(item_type, v, source, f"{where}[{i}]", lenient) for i, v in enumerate(value)
        ]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"expected a number, got {value!r}")
        return float(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise fail(f"expected an integer, got {value!r}")
    if kind in (str, bool) and not isinstance(value, kind):
        raise fail(f"expected {'a string' if kind is str else 'true or false'}, got {value!r}")
    return value
