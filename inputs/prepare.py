"""One raw record -> a QA item with the exact images the teacher will see, or a reason not to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drawreason.inputs.adapters import ADAPTERS, InputRecordError, SourceItem, split_options
from drawreason.inputs.media import (
    MediaConfig,
    decode_limited,
    prepare_image,
    read_bytes,
    sample_frames,
)
from drawreason.inputs.sources import InputConfig
from drawreason.schemas.records import QAItem
from PIL import Image


@dataclass(frozen=True)
class PreparedItem:
    """A QA item ready for rollouts: `images` are exactly what the teacher sees (resized),
    `media` the source references they came from (paths, URIs, `<column bytes>`)."""

    subset: str
    item: QAItem
    images: tuple[Image.Image, ...]
    media: tuple[str, ...] = ()
    max_calls: int = 0  # the turn budget of this kind of question; 0: the teacher's default
    pngs: tuple[bytes, ...] = ()  # the images' PNG bytes when already encoded (generated ones)


def record_id(subset: str, position: int) -> str:
    """The id of a record that has none of its own: `<subset>-<position>`."""
    return f"{subset}-{position:06d}"


def adapt(config: InputConfig, position: int, record: dict[str, Any] | str) -> SourceItem:
    """The SourceItem of one raw record. Raises InputRecordError (malformed; the message
    names the record and the field) or InputRejected (e.g. a free-form question)."""
    rid = record_id(config.subset, position)
    if isinstance(record, str):  # the reader could not parse it
        raise InputRecordError(f"record {rid}: {record}")
    return ADAPTERS[config.record_format](record, rid)


def load_media(
    source: SourceItem, root: str, media: MediaConfig
) -> tuple[list[Image.Image], list[str]]:
    """The teacher-ready images of an item and a reference string for each.

    A video becomes `media.video_frames` frames sampled evenly. Raises InputRejected with the
    reason of the first media that cannot be used.
    """
    images: list[Image.Image] = []
    refs: list[str] = []
    for n, ref in enumerate(source.media):
        what = f"item {source.id}: media {ref if isinstance(ref, str) else f'#{n}'}"
        data = ref if isinstance(ref, bytes) else read_bytes(root, ref, media)
        label = ref if isinstance(ref, str) else f"<column bytes #{n}>"
        if source.video:
            frames = sample_frames(data, what, media.video_frames, media.max_input_pixels)
            images += frames
            refs += [f"{label}#frame{k}/{len(frames)}" for k in range(len(frames))]
        else:
            images.append(decode_limited(data, what, media.max_input_pixels))
            refs.append(label)
    return [prepare_image(image, media) for image in images], refs


def build_item(config: InputConfig, source: SourceItem, refs: Sequence[str]) -> QAItem:
    """The QAItem of an adapted record whose media loaded as `refs`. A multiple-choice
    question without an `options` list takes lettered option lines from its end. Raises
    InputRecordError naming the record and the field."""
    question, options = source.question, source.options
    if source.question_type == "multiple choice" and not options:
        question, options = split_options(question)
        if not options:
            raise InputRecordError(
                f"record {source.id}: field 'options' is empty for a multiple-choice question"
            )
    try:
        return QAItem(
            id=source.id,
            images=tuple(refs),
            question=question,
            question_type=source.question_type,
            answer=source.answer,
            options=options,
            data_type=source.data_type,
            grid_size=source.grid_size,
            source=f"{config.kind}:{config.path}",
            license=config.license,
        )
    except ValueError as exc:  # SchemaError names the field
        raise InputRecordError(f"record {source.id}: {exc}") from exc


def prepare_record(
    config: InputConfig, media: MediaConfig, position: int, record: dict[str, Any] | str
) -> PreparedItem:
    """Adapt, load and check one raw record. Raises InputRecordError or InputRejected (see
    adapt, load_media and build_item); nothing else for bad data."""
    source = adapt(config, position, record)
    images, refs = load_media(source, config.root, media)
    item = build_item(config, source, refs)
    return PreparedItem(config.subset, item, tuple(images), tuple(refs))
