"""Turns a finished teacher rollout into a scored Trajectory, the way generators/oracle does."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from drawreason.drawing.images import decode_image, image_key
from drawreason.filters.scoring import score_trajectory
from drawreason.generators.oracle import SampleBundle
from drawreason.rollout.conversation import RolloutRecord
from drawreason.schemas.records import Provenance, QAItem, RenderedImage, Trajectory


def build_teacher_sample(
    record: RolloutRecord,
    item: QAItem,
    subset: str,
    provenance: Provenance,
    meta: Mapping[str, Any] | None = None,
) -> SampleBundle:
    """A scored Trajectory and the PNG bytes of every image it references.

    The item's image references are replaced by the content keys of the images the teacher saw
    (so stored images match the coordinates); its id becomes `record.key`. `meta` gains the
    sample index, the token counts, every turn's request (image bytes as sha256) and raw reply,
    and the teacher error text when the termination is `teacher_error`. The run-level usage
    (requests, cache hits, retries) goes in the bundle's `usage`. Raises ValueError if the item
    and the record disagree on the input count.
    """
    if len(item.images) != record.num_inputs:
        raise ValueError(
            f"{record.key!r}: item has {len(item.images)} image(s), rollout {record.num_inputs}"
        )
    keys = [image_key(png) for png in record.pngs]
    n = record.num_inputs
    images = record.images or tuple(decode_image(png, record.key) for png in record.pngs)
    rendered = tuple(
        RenderedImage(i + 1, record.parents[i], keys[i], images[i].width, images[i].height)
        for i in range(n, len(keys))
    )
    sizes = tuple(im.size for im in images[:n])
    full_meta: dict[str, Any] = {
        **dict(meta or {}),
        "sample_index": record.sample_index,
        "teacher_tokens": {
            "prompt": sum(log.prompt_tokens for log in record.turn_logs),
            "completion": sum(log.completion_tokens for log in record.turn_logs),
        },
        "turn_logs": [
            {
                "request": log.request,
                "raw_reply": log.raw_reply,
                "finish_reason": log.finish_reason,
                "prompt_tokens": log.prompt_tokens,
                "completion_tokens": log.completion_tokens,
            }
            for log in record.turn_logs
        ],
    }
    if record.error:
        full_meta["teacher_error"] = record.error
    trajectory = Trajectory(
        item=dataclasses.replace(item, id=record.key, images=tuple(keys[:n])),
        subset=subset,
        system_prompt=record.system,
        user_prompt=record.user,
        input_sizes=sizes,
        turns=record.turns,
        rendered=rendered,
        termination=record.termination,
        provenance=provenance,
        meta=full_meta,
    )
    trajectory = dataclasses.replace(trajectory, scores=score_trajectory(trajectory))
    unique = dict(zip(keys, record.pngs, strict=True))
    usage = tuple(sorted((name, int(n)) for name, n in record.usage.items()))
    return SampleBundle(trajectory=trajectory, images=tuple(unique.items()), usage=usage)
