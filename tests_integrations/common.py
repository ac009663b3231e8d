"""Scripted inputs shared by the integration tests (no trainer import here)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from drawreason.drawing.images import encode_png
from drawreason.schemas.records import QAItem
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SIZE = (112, 112)  # the tiny processor's max_pixels is 112*112: verl shows it unresized

REPLIES = (
    "<think> The red square is at the top left. </think> Action: Object Mapper\n"
    '```json\n[{"index": 1, "bbox_2d": [10, 10, 50, 50], "label": "red square"}]\n```',
    "<think> Trace from the square to the goal. </think> Action: Path Tracer\n"
    '```JSON\n[{"index": 2, "start_point_2d": [30, 30], "end_point_2d": [90, 90], '
    '"label": "route",}]\n```',
    "<think> The route goes down and right. </think> Action: Answer\n<answer> B </answer>",
)
GROUND_TRUTH = "B"
# Oracle facts of the toy image (a generated question's, as RL rows carry them): the box of
# REPLIES is on the red square (grounded), the line's far end on no object (not): grounding 0.5.
ORACLE = (
    '{"kind":"scene","option_objects":[],"views":[{"height":112,"objects":[{"box":'
    '[10,10,50,50],"color":"red","name":"red square","shape":"square"}],"width":112}]}'
)
GROUNDING_WEIGHT = 0.5


def input_image() -> Image.Image:
    image = Image.new("RGB", SIZE, "white")
    for x in range(10, 50):
        for y in range(10, 50):
            image.putpixel((x, y), (200, 30, 30))
    return image


def qa_item() -> QAItem:
    return QAItem(
        id="toy-000001",
        images=("images/toy.png",),
        question="Which way leads from the red square to the corner?",
        question_type="multiple choice",
        answer=GROUND_TRUTH,
        options=("up", "down and right", "left"),
        data_type="vqa",
    )


def png(image: Image.Image) -> bytes:
    return encode_png(image)


def load_png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def build_tiny_model(out: Path) -> Path:
    """The tiny random Qwen2-VL of scripts/tiny_qwen2vl.py, built with this venv's python."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "tiny_qwen2vl.py"), str(out), "--with-model"],
        check=True,
        capture_output=True,
    )
    return out
