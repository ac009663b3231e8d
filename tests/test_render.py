"""Renderer: the reference look, checked structurally and against small golden PNGs."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drawing.images import decode_image, encode_png, image_key
from drawing.render import BOX_COLORS, RenderStyle, render_state
from drawing.state import ImageState, merge_state
from schemas.records import BoxOp, LineOp

GOLDEN = Path(__file__).parent / "golden"
SCENES = {
    "two_boxes_one_line": [
        BoxOp(1, (8, 8, 60, 50), "cup"),
        BoxOp(1, (40, 40, 90, 90), "mug"),
        LineOp(1, (10, 80), (80, 20), "path"),
    ],
    "swapped_corners": [BoxOp(1, (70, 70, 20, 20), "box")],
    "ten_boxes_cycle_colours": [
        BoxOp(1, (i * 9, i * 9, i * 9 + 8, i * 9 + 8), f"b{i}") for i in range(10)
    ],
}


def _render(name: str) -> Image.Image:
    base = Image.new("RGB", (96, 96), "white")
    return render_state(base, merge_state(ImageState(), SCENES[name]))


@pytest.mark.parametrize("name", sorted(SCENES))
def test_matches_golden(name):
    image = _render(name)
    path = GOLDEN / f"{name}.png"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(encode_png(image))
    golden = np.asarray(decode_image(path.read_bytes()), dtype=np.int16)
    diff = np.abs(np.asarray(image, dtype=np.int16) - golden)
    assert diff.mean() < 1.0
    assert (diff.max(axis=2) > 64).mean() < 0.005


def test_reference_look():
    image = _render("two_boxes_one_line")
    px = image.load()
    assert px[8, 30] == BOX_COLORS[0]  # first box outline: red
    assert px[90 - 1, 70] == BOX_COLORS[1]  # second box outline: green
    assert px[10, 80] == RenderStyle().start_color  # red dot at the line's start
    assert px[80, 20] == RenderStyle().end_color  # blue dot at the line's end
    assert px[45, 50] == (0, 0, 0)  # the line itself is black
    assert px[30, 70] == (255, 255, 255)  # untouched background
    # The label sits inside the top-left corner of its box, on the box colour.
    label_area = np.asarray(image)[12:26, 12:40]
    assert (label_area == BOX_COLORS[0]).all(axis=2).mean() > 0.3


def test_colour_cycles_after_the_palette():
    px = _render("ten_boxes_cycle_colours").load()
    assert px[9 * 9, 9 * 9 + 4] == BOX_COLORS[9 % len(BOX_COLORS)]


def test_render_never_mutates_the_base_and_encoding_is_stable():
    base = Image.new("RGB", (32, 32), "white")
    before = base.tobytes()
    out = render_state(base, merge_state(ImageState(), [LineOp(1, (0, 0), (31, 31), "a")]))
    assert base.tobytes() == before and out.tobytes() != before
    assert encode_png(out) == encode_png(out.copy())
    assert image_key(encode_png(out)).endswith(".png") and len(image_key(b"x")) == 68


def test_decode_errors_name_the_image():
    with pytest.raises(ValueError, match="frame 3: cannot decode image"):
        decode_image(b"not an image", "frame 3")
