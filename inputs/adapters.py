"""Adapters from the QA formats people feed such pipelines to one SourceItem shape.

Each adapter maps one raw record (a dict) to a SourceItem, or raises:
- InputRecordError: the record is malformed (a missing or mistyped field); it becomes an
  error record naming the record and the field;
- InputRejected: the record is well formed but cannot make a scorable trajectory (a
  free-form question); it becomes a rejected record with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from drawreason.inputs.media import InputRejected, is_video

Media = str | bytes  # a path or URI, or the encoded bytes of an image column


class InputRecordError(ValueError):
    """A raw input record lacks a field or has one of the wrong type; names both."""


@dataclass(frozen=True)
class SourceItem:
    """A question about one or more images (or one video, sampled to frames), before the
    media are loaded. `media` are paths relative to the dataset root, URIs, or image bytes."""

    id: str
    media: tuple[Media, ...]
    question: str
    question_type: str
    answer: str
    options: tuple[str, ...] = ()
    data_type: str = "vqa"
    grid_size: int | None = None
    video: bool = False


_TYPE_ALIASES = {
    "multiple choice": "multiple choice",
    "multiple-choice": "multiple choice",
    "multiple_choice": "multiple choice",
    "mc": "multiple choice",
    "choice": "multiple choice",
    "numerical": "numerical",
    "numeric": "numerical",
    "number": "numerical",
    "regression": "numerical",
    "counting": "numerical",
    "count": "numerical",
}
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.)]\s*(.+?)\s*$")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _field(record: Mapping[str, Any], name: str, rid: str, kind: type | tuple = str) -> Any:
    if name not in record or record[name] is None:
        raise InputRecordError(f"record {rid}: field {name!r} is missing")
    value = record[name]
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InputRecordError(
            f"record {rid}: field {name!r} should be {expected}, got {type(value).__name__}"
        )
    return value


def question_type_of(raw: str, rid: str) -> str:
    """A scorable question type from a source's name for it.

    Raises InputRejected(`free_form_question`) for anything else (free-form, OCR, ...): the
    reward cannot score those answers.
    """
    name = raw.strip().lower()
    if name in _TYPE_ALIASES:
        return _TYPE_ALIASES[name]
    raise InputRejected(
        "free_form_question", f"record {rid}: question type {raw!r} has no scorable answer"
    )


def _media_list(value: Any, rid: str, name: str) -> tuple[Media, ...]:
    if isinstance(value, str | bytes):
        value = [value]
    if isinstance(value, dict):  # a datasets Image feature: {"bytes": ..., "path": ...}
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise InputRecordError(f"record {rid}: field {name!r} should be a non-empty list of paths")
    out: list[Media] = []
    for i, entry in enumerate(value):
        if isinstance(entry, dict):
            entry = entry.get("bytes") or entry.get("path")
        if hasattr(entry, "save"):  # a PIL image (datasets with decode=True)
            import io

            buffer = io.BytesIO()
            entry.save(buffer, format="PNG")
            entry = buffer.getvalue()
        if not isinstance(entry, str | bytes) or not entry:
            raise InputRecordError(f"record {rid}: field {name!r}[{i}] is not a path or image")
        out.append(entry)
    return tuple(out)


def _options(value: Any, rid: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(o, str) for o in value):
        raise InputRecordError(f"record {rid}: field 'options' should be a list of strings")
    return tuple(value)


def _answer(value: Any, rid: str, name: str = "answer") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputRecordError(f"record {rid}: field {name!r} should be a string or a number")
    text = str(value).strip()
    tagged = _ANSWER_TAG.search(text)
    text = tagged.group(1).strip() if tagged else text
    if not text:
        raise InputRecordError(f"record {rid}: field {name!r} is empty")
    return text


def _grid(value: Any, rid: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputRecordError(f"record {rid}: field 'grid_size' should be an integer")
    return value


def split_options(question: str) -> tuple[str, tuple[str, ...]]:
    """A question with lettered option lines ("A. ...", "(B) ...") at its end, split."""
    lines = question.rstrip().splitlines()
    options: list[str] = []
    while lines and _OPTION_LINE.match(lines[-1]):
        options.insert(0, lines.pop().strip())
    letters = [_OPTION_LINE.match(o).group(1) for o in options]  # type: ignore[union-attr]
    expected = [chr(ord("A") + i) for i in range(len(options))]
    if len(options) < 2 or letters != expected:
        return question.strip(), ()
    return "\n".join(lines).strip(), tuple(options)


def generic(record: Mapping[str, Any], rid: str) -> SourceItem:
    """The documented generic format (see README, "Real-data input"): `id`, `images` (or one
    `video`), `question`, `question_type`, `options`, `answer`, `data_type`, `grid_size`."""
    item_id = str(record.get("id") or rid)
    if record.get("video") is not None:
        media, video = (_field(record, "video", item_id),), True
    else:
        media, video = (
            _media_list(_field(record, "images", item_id, (list, str)), item_id, "images"),
            False,
        )
    return SourceItem(
        id=item_id,
        media=media,
        question=_field(record, "question", item_id),
        question_type=question_type_of(_field(record, "question_type", item_id), item_id),
        answer=_answer(record.get("answer"), item_id),
        options=_options(record.get("options"), item_id),
        data_type=str(record.get("data_type") or ("video" if video else "vqa")),
        grid_size=_grid(record.get("grid_size"), item_id),
        video=video,
    )


def vilasr(record: Mapping[str, Any], rid: str) -> SourceItem:
    """ViLaSR's RL question file (`vilasr_rl_data.json`): `question`, `answer`, `image_path`
    (one path or a list), `question_type`, `data_type`, `options`, `grid_size`."""
    item_id = str(record.get("id") or rid)
    media = _media_list(_field(record, "image_path", item_id, (list, str)), item_id, "image_path")
    return SourceItem(
        id=item_id,
        media=media,
        question=_field(record, "question", item_id),
        question_type=question_type_of(_field(record, "question_type", item_id), item_id),
        answer=_answer(record.get("answer"), item_id),
        options=_options(record.get("options"), item_id),
        data_type=str(record.get("data_type") or "vqa"),
        grid_size=_grid(record.get("grid_size"), item_id),
        video=False,
    )


def spacer(record: Mapping[str, Any], rid: str) -> SourceItem:
    """SpaceR / SR-91k (Video-R1 style) JSONL: `problem_id`, `problem`, `problem_type`,
    `options`, `solution` (`<answer>X</answer>`), `path` (a video or an image), `data_type`."""
    item_id = str(record.get("problem_id") if record.get("problem_id") is not None else rid)
    path = _field(record, "path", item_id)
    data_type = str(record.get("data_type") or ("video" if is_video(path) else "image"))
    return SourceItem(
        id=item_id,
        media=(path,),
        question=_field(record, "problem", item_id),
        question_type=question_type_of(_field(record, "problem_type", item_id), item_id),
        answer=_answer(record.get("solution"), item_id, "solution"),
        options=_options(record.get("options"), item_id),
        data_type=data_type,
        video=data_type == "video" or is_video(path),
    )


def spar(record: Mapping[str, Any], rid: str) -> SourceItem:
    """SPAR-7M style (LLaVA conversations over views): `id`, `image` (one path or a list of
    views), `conversations` [{from: human, value: "<image>...question"}, {from: gpt, value}],
    `type`. Lettered option lines at the end of the question make it multiple choice; a
    numeric answer makes it numerical; anything else is free-form (rejected)."""
    item_id = str(record.get("id") or rid)
    media = _media_list(_field(record, "image", item_id, (list, str)), item_id, "image")
    turns = _field(record, "conversations", item_id, list)
    human = next((t for t in turns if isinstance(t, dict) and t.get("from") == "human"), None)
    gpt = next((t for t in turns if isinstance(t, dict) and t.get("from") == "gpt"), None)
    if human is None or gpt is None:
        raise InputRecordError(
            f"record {item_id}: field 'conversations' needs a human and a gpt turn"
        )
    question_text = _field(human, "value", item_id).replace("<image>", "").strip()
    answer = _answer(gpt.get("value"), item_id, "conversations[gpt].value")
    question, options = split_options(question_text)
    if options:
        question_type = "multiple choice"
        answer = answer.strip().strip("()").split(".", 1)[0].strip() or answer
    elif _NUMBER.match(answer.replace(",", "")):
        question_type = "numerical"
    else:
        raise InputRejected(
            "free_form_question",
            f"record {item_id}: answer {answer[:40]!r} is neither a choice nor a number",
        )
    return SourceItem(
        id=item_id,
        media=media,
        question=question,
        question_type=question_type,
        answer=answer,
        options=options,
        data_type=str(record.get("type") or "multi_view"),
    )


ID_FIELDS = {"generic": "id", "vilasr": "id", "spacer": "problem_id", "spar": "id"}


def record_key(record_format: str, record: object, rid: str) -> str:
    """The id a record gives itself in its format, else `rid` (its position-based id)."""
    if isinstance(record, Mapping):
        value = record.get(ID_FIELDS[record_format])
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return rid


ADAPTERS: dict[str, Callable[[Mapping[str, Any], str], SourceItem]] = {
    "generic": generic,
    "vilasr": vilasr,
    "spacer": spacer,
    "spar": spar,
}


def remap(record: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """`record` with columns renamed: `columns` maps our field name -> the source's column."""
    out = dict(record)
    for ours, theirs in columns.items():
        if theirs in record:
            out[ours] = record[theirs]
    return out
