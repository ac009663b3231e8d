"""Typed records that travel between pipeline steps, with a versioned JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from drawreason.schemas.oracle import Grounding, OracleFacts, grounding_from_dict, oracle_from_dict

SCHEMA_VERSION = 1

QuestionType = Literal["multiple choice", "numerical", "free-form"]
QUESTION_TYPES: tuple[str, ...] = ("multiple choice", "numerical", "free-form")

# Every way a trajectory can end (docs/protocol.md). `answered` is the only successful one.
TERMINATIONS: tuple[str, ...] = (
    "answered",
    "turn_truncated",
    "no_action",
    "bad_operation",
    "too_many_images",
    "duplicate_operation",
    "budget_exhausted",
    "teacher_error",
)


class SchemaError(ValueError):
    """A record does not match its schema; the message names the record and the field."""


@dataclass(frozen=True)
class QAItem:
    """One spatial question about one or more input images.

    `images` are references (paths relative to a dataset root, or content-addressed keys of
    images carried beside the record); their order defines input indices 1..N. A generated
    question sent to a model may carry its `oracle` facts (schemas/oracle.py) for grounding.
    """

    id: str
    images: tuple[str, ...]
    question: str
    question_type: str
    answer: str
    options: tuple[str, ...] = ()
    data_type: str = "vqa"
    grid_size: int | None = None
    source: str = ""
    license: str = ""
    oracle: OracleFacts | None = None  # left out of the JSON when None

    def __post_init__(self) -> None:
        if not self.id:
            raise SchemaError("QAItem: field 'id' is empty")
        if self.question_type not in QUESTION_TYPES:
            raise SchemaError(
                f"QAItem {self.id!r}: field 'question_type' is {self.question_type!r}, "
                f"expected one of {QUESTION_TYPES}"
            )
        if not self.images:
            raise SchemaError(f"QAItem {self.id!r}: field 'images' is empty")


@dataclass(frozen=True)
class BoxOp:
    """Object Mapper: a labelled box on image `index` (1-based), absolute pixel corners."""

    index: int
    bbox_2d: tuple[float, float, float, float]
    label: str
    tool: Literal["Object Mapper"] = "Object Mapper"

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "bbox_2d": list(self.bbox_2d), "label": self.label}


@dataclass(frozen=True)
class LineOp:
    """Path Tracer: a labelled line on image `index` (1-based), absolute pixel end points."""

    index: int
    start_point_2d: tuple[float, float]
    end_point_2d: tuple[float, float]
    label: str
    tool: Literal["Path Tracer"] = "Path Tracer"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_point_2d": list(self.start_point_2d),
            "end_point_2d": list(self.end_point_2d),
            "label": self.label,
        }


Operation = BoxOp | LineOp
TOOLS: tuple[str, ...] = ("Object Mapper", "Path Tracer")


@dataclass(frozen=True)
class Turn:
    """One assistant turn as produced and as the environment understood it.

    `error` is a reason code (`no_action`, `bad_operation`, `duplicate_operation`, ...) with
    `error_detail` saying precisely what was wrong; both empty when the turn executed cleanly.
    `new_images` are the 1-based indices of the images this turn rendered.
    """

    raw: str
    think: str = ""
    action: str = ""  # "Object Mapper" | "Path Tracer" | "Answer" | ""
    operations: tuple[Operation, ...] = ()
    answer: str | None = None
    error: str = ""
    error_detail: str = ""
    format_issues: tuple[str, ...] = ()  # deviations from the strict turn shape (docs/protocol.md)
    finish_reason: str = "stop"
    new_images: tuple[int, ...] = ()
    env_reply: str = ""  # the environment (user) turn that followed, "" after the last turn


@dataclass(frozen=True)
class RenderedImage:
    """An image produced by a turn: its 1-based index, the image it was drawn on, its key."""

    index: int
    parent: int
    key: str
    width: int
    height: int


@dataclass(frozen=True)
class Provenance:
    """Where a trajectory came from, enough to reproduce it."""

    producer: str  # e.g. "generator:maze" or "teacher:openai:Qwen2.5-VL-72B"
    config_hash: str
    seed: int
    code_version: str


@dataclass(frozen=True)
class Trajectory:
    """A complete multi-turn drawing conversation about one QA item."""

    item: QAItem
    subset: str
    system_prompt: str
    user_prompt: str  # the first user turn (question wrapper), without image placeholders
    input_sizes: tuple[tuple[int, int], ...]  # (width, height) of each input image as seen
    turns: tuple[Turn, ...]
    rendered: tuple[RenderedImage, ...]
    termination: str
    provenance: Provenance
    scores: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    # Step-level grounding against `item.oracle` (filters/grounding.py); left out when None.
    grounding: Grounding | None = None

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def image_keys(self) -> tuple[str, ...]:
        """All image keys in index order: inputs first, then rendered images."""
        return self.item.images + tuple(r.key for r in self.rendered)


@dataclass(frozen=True)
class Rejection:
    """A sample a filter or the environment said no to, with the reason and the sample itself."""

    sample_id: str
    stage: str
    subset: str
    reason: str
    detail: str
    trajectory: Trajectory | None = None
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class ErrorRecord:
    """An unexpected failure of one record; the run goes on."""

    sample_id: str
    stage: str
    step: str
    error_type: str
    message: str
    schema_version: int = SCHEMA_VERSION


# --- JSON round trip -------------------------------------------------------------------------

_OP_TYPES = {"Object Mapper": BoxOp, "Path Tracer": LineOp}


# Optional fields written only when set, so records without them keep their exact bytes.
_OMIT_WHEN_NONE = frozenset({"oracle", "grounding"})


def _record_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if not (v is None and k in _OMIT_WHEN_NONE)}


def to_dict(record: Any) -> dict[str, Any]:
    """A JSON-ready dict of any record in this module (tuples become lists; `oracle` and
    `grounding` left out when None)."""
    if not dataclasses.is_dataclass(record):
        raise TypeError(f"not a record: {type(record).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(record, dict_factory=_record_dict)))


def to_json(record: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, so equal records give equal bytes."""
    return json.dumps(to_dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    return value


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise SchemaError(f"{where}: unknown field(s) {sorted(unknown)} for {cls.__name__}")
    try:
        return cls(**{k: _tuple(v) for k, v in data.items()})
    except TypeError as exc:
        raise SchemaError(f"{where}: {exc}") from exc


def operation_from_dict(data: dict[str, Any], where: str = "operation") -> Operation:
    tool = data.get("tool")
    if tool not in _OP_TYPES:
        raise SchemaError(f"{where}: field 'tool' is {tool!r}, expected one of {TOOLS}")
    return _build(_OP_TYPES[tool], data, where)


def qa_item_from_dict(data: dict[str, Any]) -> QAItem:
    data = dict(data)
    where = f"QAItem {data.get('id', '?')!r}"
    try:
        oracle = oracle_from_dict(data.pop("oracle", None))
    except (TypeError, ValueError, KeyError) as exc:
        raise SchemaError(f"{where}: field 'oracle': {exc}") from exc
    return dataclasses.replace(_build(QAItem, data, where), oracle=oracle)


def trajectory_from_dict(data: dict[str, Any]) -> Trajectory:
    data = dict(data)
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SchemaError(f"Trajectory: schema_version {version} is not {SCHEMA_VERSION}")
    item = qa_item_from_dict(data.pop("item"))
    where = f"Trajectory {item.id!r}"
    turns = []
    for i, t in enumerate(data.pop("turns")):
        t = dict(t)
        ops = tuple(
            operation_from_dict(o, f"{where} turn {i} op {j}")
            for j, o in enumerate(t.pop("operations", []))
        )
        turns.append(_build(Turn, {**t, "operations": ops}, f"{where} turn {i}"))
    rendered = tuple(_build(RenderedImage, r, where) for r in data.pop("rendered"))
    provenance = _build(Provenance, data.pop("provenance"), where)
    sizes = tuple(tuple(s) for s in data.pop("input_sizes"))
    try:
        grounding = grounding_from_dict(data.pop("grounding", None))
    except (TypeError, ValueError, KeyError) as exc:
        raise SchemaError(f"{where}: field 'grounding': {exc}") from exc
    return _build(
        Trajectory,
        {
            **data,
            "item": item,
            "turns": tuple(turns),
            "rendered": rendered,
            "provenance": provenance,
            "input_sizes": sizes,
            "grounding": grounding,
        },
        where,
    )


def rejection_from_dict(data: dict[str, Any]) -> Rejection:
    data = dict(data)
    traj = data.pop("trajectory", None)
    return _build(
        Rejection,
        {**data, "trajectory": trajectory_from_dict(traj) if traj else None},
        f"Rejection {data.get('sample_id', '?')!r}",
    )
