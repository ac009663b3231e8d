"""A small real-data folder for tests: images, a video, and QA records in every input format,
with a scripted teacher that answers them correctly (or not) by a tag in the question."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
from drawreason.drawing.format import format_answer_turn, format_tool_turn
from drawreason.schemas.records import BoxOp, LineOp
from PIL import Image

from tests.scripted_server import assistant_turns, first_user_text


def _image(path: Path, size: tuple[int, int], shade: int, fmt: str = "PNG") -> None:
    rng = np.random.default_rng(shade)
    array = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    array[: size[1] // 2] = shade
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def write_video(path: Path, frames: int = 30, size: tuple[int, int] = (96, 64)) -> None:
    """An mp4 whose frame k is a flat grey of level 8k (frame order is checkable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened(), "OpenCV cannot write mp4 here"
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), 8 * k, dtype=np.uint8))
    writer.release()


def _draws(n_images: int) -> list[str]:
    return [
        format_tool_turn("I box the object.", [BoxOp(1, (4, 4, 30, 30), "obj")]),
        format_tool_turn(
            "I trace from the first view.", [LineOp(n_images, (2, 2), (40, 30), "path")]
        ),
    ]


def correct_replies(answer: str, n_images: int = 1) -> list[str]:
    """Box, trace, answer: a trajectory the cold-start filters keep."""
    return [*_draws(n_images), format_answer_turn("Both checked.", answer)]


def build_dataset(root: Path) -> dict[str, dict]:
    """Writes images, a video, `qa.jsonl` (generic) and returns {tag: expectation}.

    Each record's question carries its tag `[Qname]`; the expectation says what the pipeline
    must make of it: kept, or the rejection reason, or an error.
    """
    _image(root / "img/a.png", (120, 90), 10)
    _image(root / "img/b.jpg", (100, 100), 60, "JPEG")
    _image(root / "img/c.png", (80, 60), 120)
    _image(root / "img/huge.png", (900, 900), 30)
    (root / "img/corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    write_video(root / "video/scene0001.mp4")
    outside = root.parent / "secret.png"
    _image(outside, (40, 40), 200)
    records = [
        (
            "Qsingle",
            {
                "images": ["img/a.png"],
                "question_type": "multiple choice",
                "options": ["left", "right"],
                "answer": "B",
            },
            "kept",
        ),
        (
            "Qmulti",
            {
                "images": ["img/a.png", "img/b.jpg", "img/c.png"],
                "question_type": "multiple choice",
                "options": ["cup", "plate", "bowl"],
                "answer": "C",
                "data_type": "multi_view",
            },
            "kept",
        ),
        (
            "Qvideo",
            {"video": "video/scene0001.mp4", "question_type": "numerical", "answer": "3"},
            "kept",
        ),
        ("Qnum", {"images": ["img/c.png"], "question_type": "numerical", "answer": "2.5"}, "kept"),
        (
            "Qwrong",
            {
                "images": ["img/b.jpg"],
                "question_type": "multiple choice",
                "options": ["yes", "no"],
                "answer": "A",
            },
            "wrong_answer",
        ),
        (
            "Qfree",
            {"images": ["img/a.png"], "question_type": "free-form", "answer": "a chair"},
            "free_form_question",
        ),
        (
            "Qescape",
            {"images": ["../secret.png"], "question_type": "numerical", "answer": "1"},
            "unsafe_path",
        ),
        (
            "Qabsolute",
            {"images": [str(outside)], "question_type": "numerical", "answer": "1"},
            "unsafe_path",
        ),
        (
            "Qmissing",
            {"images": ["img/nope.png"], "question_type": "numerical", "answer": "1"},
            "media_missing",
        ),
        (
            "Qcorrupt",
            {"images": ["img/corrupt.png"], "question_type": "numerical", "answer": "1"},
            "image_unreadable",
        ),
        (
            "Qhuge",
            {"images": ["img/huge.png"], "question_type": "numerical", "answer": "1"},
            "image_too_large",
        ),
        (
            "Qnoquestion",
            {"images": ["img/a.png"], "question_type": "numerical", "answer": "1"},
            "error",
        ),
    ]
    expect: dict[str, dict] = {}
    lines = []
    for tag, fields, outcome in records:
        record = {"id": tag, **fields}
        if tag != "Qnoquestion":
            record["question"] = f"[{tag}] What about the objects?"
        lines.append(json.dumps(record))
        n_images = 16 if "video" in fields else len(fields["images"])
        expect[tag] = {"outcome": outcome, "answer": fields["answer"], "images": n_images}
    lines.insert(5, "{not json")
    expect["qa-000005"] = {"outcome": "error", "answer": "", "images": 0}
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n")
    return expect


def script_for(expect: dict[str, dict]):
    """A server script: correct box/trace/answer turns per tag; `Qwrong` answers wrongly."""

    def script(messages):
        tag = re.search(r"\[(Q\w+)\]", first_user_text(messages)).group(1)
        spec = expect[tag]
        answer = "B" if tag == "Qwrong" else spec["answer"]
        return correct_replies(answer, spec["images"])[assistant_turns(messages)]

    return script
