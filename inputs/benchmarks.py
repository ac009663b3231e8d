"""Readers for public spatial benchmarks in their released formats (docs/benchmarks.md).

Each reader maps one raw record to a BenchmarkItem (the SourceItem the environment rolls out
plus the benchmark's sub-task), or raises like the input adapters do:
- InputRecordError: a field is missing or mistyped; the message names the record and field;
- InputRejected(`free_form_question`): the record cannot be scored by exact match or MRA.
Records are read with inputs.sources (JSONL, JSON, Parquet, or a `datasets` folder / hub name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from drawreason.inputs.adapters import (
    InputRecordError,
    SourceItem,
    _answer,
    _field,
    _media_list,
    _options,
    question_type_of,
    split_options,
)
from drawreason.inputs.media import InputRejected, MediaConfig
from drawreason.inputs.prepare import PreparedItem, build_item, load_media
from drawreason.inputs.sources import InputConfig, read_records

_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_LETTER = re.compile(r"^\(?([A-Z])\)?(?:[.:)]|\s|$)")
# "A. 1, B. 2, C. 3", "A: left, B: right" or "(A) left (B) right" inside one line of text.
_INLINE_OPTION = re.compile(r"(?:^|[\s,;])\(?([A-H])[.):]\s*(.+?)(?=(?:[\s,;]+\(?[A-H][.):]\s)|$)")


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark question ready to load: its SourceItem and sub-task name."""

    source: SourceItem
    subtask: str


def _subtask(record: Mapping[str, Any], name: str, rid: str) -> str:
    value = _field(record, name, rid, (str, int))
    text = str(value).strip()
    if not text:
        raise InputRecordError(f"record {rid}: field {name!r} is empty")
    return text


def _letter_answer(answer: str, options: tuple[str, ...], rid: str, name: str) -> str:
    """The option letter of a ground truth given as a letter ("B", "(B)", "B. left") or as
    the text of one option."""
    match = _LETTER.match(answer.strip())
    if match and ord(match.group(1)) - ord("A") < max(len(options), 1):
        return match.group(1)
    for n, option in enumerate(options):
        text = re.sub(r"^\(?[A-Z][.)]\s*", "", option).strip()
        if text.lower() == answer.strip().lower():
            return chr(ord("A") + n)
    raise InputRecordError(
        f"record {rid}: field {name!r} ({answer[:40]!r}) is neither an option letter nor the "
        "text of an option"
    )


def _mc_or_numerical(
    question: str, options: tuple[str, ...], answer: str, rid: str, name: str
) -> tuple[str, tuple[str, ...], str, str]:
    """(question, options, question type, answer): options given or split from the question
    make it multiple choice; a numeric answer makes it numerical; else free-form (rejected)."""
    if not options:
        question, options = split_options(question)
    if options:
        return question, options, "multiple choice", _letter_answer(answer, options, rid, name)
    if _NUMBER.match(answer.replace(",", "")):
        return question, (), "numerical", answer
    raise InputRejected(
        "free_form_question",
        f"record {rid}: answer {answer[:40]!r} is neither a choice nor a number",
    )


def vilasr_eval(record: Mapping[str, Any], rid: str) -> BenchmarkItem:
    """ViLaSR's evaluation files (eval/infer.py's input): `question`, `problem_type`,
    `options` (lettered strings), `image_path` (one path or a list), `solution`
    (`<answer>X</answer>`) or `answer`, `grid_size` (mazes), `data_type`,
    `original_question_type`. Sub-task: `grid_<n>` for mazes, else the original question type,
    else the data type."""
    item_id = str(record.get("id") or record.get("problem_id") or rid)
    media = _media_list(_field(record, "image_path", item_id, (list, str)), item_id, "image_path")
    kind = question_type_of(_field(record, "problem_type", item_id), item_id)
    raw = record.get("solution") if record.get("solution") is not None else record.get("answer")
    answer = _answer(raw, item_id, "solution")
    options = _options(record.get("options"), item_id)
    question = _field(record, "question", item_id)
    if kind == "multiple choice":
        if not options:
            question, options = split_options(question)
        if not options:
            raise InputRecordError(f"record {item_id}: field 'options' is empty")
        answer = _letter_answer(answer, options, item_id, "solution")
    grid = record.get("grid_size")
    if grid is not None and (isinstance(grid, bool) or not isinstance(grid, int)):
        raise InputRecordError(f"record {item_id}: field 'grid_size' should be an integer")
    data_type = str(record.get("data_type") or ("maze" if grid else "vqa"))
    if grid:
        subtask = f"grid_{grid}"
    else:
        subtask = str(record.get("original_question_type") or data_type)
    source = SourceItem(item_id, media, question, kind, answer, options, data_type, grid_size=grid)
    return BenchmarkItem(source, subtask)


def vsi_bench(record: Mapping[str, Any], rid: str) -> BenchmarkItem:
    """VSI-Bench (nyu-visionx/VSI-Bench test parquet): `id`, `dataset` (arkitscenes, scannet,
    scannetpp), `scene_name`, `question_type` (the sub-task), `question`, `options` (lettered,
    multiple-choice tasks only), `ground_truth`. The video is `<dataset>/<scene_name>.mp4`
    under the benchmark's image root."""
    item_id = str(record.get("id") if record.get("id") is not None else rid)
    dataset = _field(record, "dataset", item_id)
    scene = _field(record, "scene_name", item_id)
    subtask = _subtask(record, "question_type", item_id)
    options = _options(record.get("options"), item_id)
    answer = _answer(record.get("ground_truth"), item_id, "ground_truth")
    question, options, kind, answer = _mc_or_numerical(
        _field(record, "question", item_id), options, answer, item_id, "ground_truth"
    )
    media = (f"{dataset}/{scene}.mp4",)
    source = SourceItem(item_id, media, question, kind, answer, options, "video", video=True)
    return BenchmarkItem(source, subtask)


def spar_bench(record: Mapping[str, Any], rid: str) -> BenchmarkItem:
    """SPAR-Bench (jasonzhango/SPAR-Bench): `id`, `image` (one image or a list of views:
    paths or image bytes), `question` (options as lettered lines), `answer`, `task` (the
    sub-task), `format_type` (`select`: multiple choice, `fill`: numerical), `img_type`."""
    item_id = str(record.get("id") or rid)
    media = _media_list(
        _field(record, "image", item_id, (list, str, bytes, dict)), item_id, "image"
    )
    subtask = _subtask(record, "task", item_id)
    answer = _answer(record.get("answer"), item_id)
    question = _field(record, "question", item_id).replace("<image>", "").strip()
    form = str(record.get("format_type") or "").strip().lower()
    if form == "select":
        question, options = split_options(question)
        if not options:
            raise InputRecordError(
                f"record {item_id}: field 'question' has no lettered options for format_type select"
            )
        kind, answer = "multiple choice", _letter_answer(answer, options, item_id, "answer")
    else:
        question, options, kind, answer = _mc_or_numerical(question, (), answer, item_id, "answer")
    data_type = "multi_view" if len(media) > 1 else "single_view"
    source = SourceItem(item_id, media, question, kind, answer, options, data_type)
    return BenchmarkItem(source, subtask)


def mmsi_bench(record: Mapping[str, Any], rid: str) -> BenchmarkItem:
    """MMSI-Bench (RunsenXu/MMSI-Bench parquet): `id`, `images` (a list of image bytes),
    `question_type` (the sub-task), `question` (options in the text), `answer` (a letter),
    `thought` (not used). Every question is multiple choice."""
    item_id = str(record.get("id") if record.get("id") is not None else rid)
    media = _media_list(_field(record, "images", item_id, (list, str, bytes)), item_id, "images")
    subtask = _subtask(record, "question_type", item_id)
    question = _field(record, "question", item_id)
    body, options = split_options(question)
    if not options:
        body, options = _inline_options(question)
    if not options:
        raise InputRecordError(f"record {item_id}: field 'question' has no lettered options")
    answer = _letter_answer(_answer(record.get("answer"), item_id), options, item_id, "answer")
    data_type = "multi_view" if len(media) > 1 else "single_view"
    source = SourceItem(item_id, media, body, "multiple choice", answer, options, data_type)
    return BenchmarkItem(source, subtask)


def spatial_eval(record: Mapping[str, Any], rid: str) -> BenchmarkItem:
    """SpatialEval (MilaWang/SpatialEval, `vqa` / `vtqa` configs): `id` (its prefix before the
    first `.` or `_` is the task: spatialmap, mazenav, spatialgrid, spatialreal), `text` (the
    question with "Available options: A. ..., B. ..."), `image`, `oracle_answer`,
    `oracle_option` (the letter), `oracle_full_answer`. A `task` column, if any, wins."""
    item_id = str(record.get("id") or rid)
    media = _media_list(
        _field(record, "image", item_id, (list, str, bytes, dict)), item_id, "image"
    )
    subtask = str(record.get("task") or re.split(r"[._]", item_id, maxsplit=1)[0])
    text = _field(record, "text", item_id)
    question, options = split_options(text)
    if not options:
        question, options = _inline_options(text)
    if not options:
        raise InputRecordError(f"record {item_id}: field 'text' has no lettered options")
    answer = _letter_answer(
        _answer(record.get("oracle_option"), item_id, "oracle_option"),
        options,
        item_id,
        "oracle_option",
    )
    source = SourceItem(item_id, media, question, "multiple choice", answer, options, "vqa")
    return BenchmarkItem(source, subtask)


def _inline_options(text: str) -> tuple[str, tuple[str, ...]]:
    """Options written on one line ("Available options: A. 1, B. 2, C. 3."), split off the
    question when the letters run A, B, C, ... from the first."""
    lines = text.rstrip().splitlines()
    for n in range(len(lines) - 1, -1, -1):
        found = list(_INLINE_OPTION.finditer(lines[n]))
        letters = [m.group(1) for m in found]
        if len(found) >= 2 and letters == [chr(ord("A") + i) for i in range(len(found))]:
            head = lines[n][: found[0].start()]
            head = re.sub(r"(available\s+)?(options|choices)\s*:\s*$", "", head, flags=re.I)
            body = "\n".join([*lines[:n], head]).strip()
            options = tuple(f"{m.group(1)}. {m.group(2).strip().rstrip('.,;')}" for m in found)
            return body or text.strip(), options
    return text.strip(), ()


@dataclass(frozen=True)
class BenchmarkFormat:
    reader: Callable[[Mapping[str, Any], str], BenchmarkItem]
    id_field: str
    license: str  # the licence the benchmark is released under, as far as we know


BENCHMARK_FORMATS: dict[str, BenchmarkFormat] = {
    "vilasr_maze": BenchmarkFormat(vilasr_eval, "id", ""),
    "vsi_bench": BenchmarkFormat(vsi_bench, "id", "apache-2.0"),
    "spar_bench": BenchmarkFormat(spar_bench, "id", ""),
    "mmsi_bench": BenchmarkFormat(mmsi_bench, "id", ""),
    "spatial_eval": BenchmarkFormat(spatial_eval, "id", ""),
}


@dataclass(frozen=True)
class BenchmarkConfig:
    """One public benchmark to evaluate on.

    format: one of BENCHMARK_FORMATS (vilasr_maze, vsi_bench, spar_bench, mmsi_bench,
      spatial_eval).
    path: the released file (.jsonl/.json/.parquet) or a `datasets` folder / hub name (`hf`).
    name: the benchmark's name in the results (eval/<name>.json); default the format.
    image_root: where relative image or video paths point (default: the file's folder).
    hf: read `path` with `datasets` (a save_to_disk folder, a data folder or a hub name).
    split: the `datasets` split (default test).
    limit: read at most this many records (0: all).
    columns: renames before reading: our field -> the file's column.
    """

    format: str = ""
    path: str = ""
    name: str = ""
    image_root: str = ""
    hf: bool = False
    split: str = "test"
    limit: int = 0
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in BENCHMARK_FORMATS:
            raise ValueError(
                f"benchmark format {self.format!r} is not one of {tuple(BENCHMARK_FORMATS)}"
            )
        if not self.path:
            raise ValueError(f"benchmark {self.format}: needs a path")
        if self.limit < 0:
            raise ValueError(f"benchmark {self.format}: limit must be >= 0, got {self.limit}")

    @property
    def benchmark(self) -> str:
        return self.name or self.format

    def input_config(self) -> InputConfig:
        """The InputConfig that reads this benchmark's raw records (and resolves its media)."""
        return InputConfig(
            kind="hf" if self.hf else "generic",
            path=self.path,
            name=self.benchmark,
            image_root=self.image_root,
            columns=dict(self.columns),
            split=self.split,
            limit=self.limit,
            license=BENCHMARK_FORMATS[self.format].license,
        )


def read_benchmark(config: BenchmarkConfig) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(position, raw record) of every record, in order (see inputs.sources.read_records)."""
    yield from read_records(config.input_config())


def benchmark_record_id(config: BenchmarkConfig, record: object, position: int) -> str:
    """The id a record gives itself, else `<benchmark>-<position>`."""
    if isinstance(record, Mapping):
        value = record.get(BENCHMARK_FORMATS[config.format].id_field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return f"{config.benchmark}-{position:06d}"


def adapt_benchmark(config: BenchmarkConfig, position: int, record: Any) -> BenchmarkItem:
    """The BenchmarkItem of one raw record. Raises InputRecordError (naming the record and the
    field) or InputRejected."""
    rid = f"{config.benchmark}-{position:06d}"
    if isinstance(record, str):  # the reader could not parse it
        raise InputRecordError(f"record {rid}: {record}")
    return BENCHMARK_FORMATS[config.format].reader(record, rid)


def prepare_benchmark_record(
    config: BenchmarkConfig, media: MediaConfig, position: int, record: Any
) -> tuple[str, PreparedItem]:
    """(sub-task, PreparedItem) of one raw record, its media loaded as the policy will see
    them. Raises InputRecordError (naming the record and the field) or InputRejected (unusable
    media, an unscorable question); nothing else for bad data."""
    adapted = adapt_benchmark(config, position, record)
    source_config = config.input_config()
    images, refs = load_media(adapted.source, source_config.root, media)
    item = build_item(source_config, adapted.source, refs)
    return adapted.subtask, PreparedItem(config.benchmark, item, tuple(images), tuple(refs))
