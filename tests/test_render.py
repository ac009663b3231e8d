"""Rendering in the reference look (golden PNGs with a tolerance) and PNG encoding/decoding.

Regenerate the goldens after an intended change of the look with
`UPDATE_GOLDEN=1 python -m pytest tests/test_render.py`, then look at them before committing.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from drawreason.drawing.images import decode_image, encode_png, image_key
from drawreason.drawing.render import BOX_COLORS, RenderStyle, render_state
from drawreason.drawing.state import ImageState, merge_state
from drawreason.schemas.records import BoxOp, LineOp
from PIL import Image

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
STYLE = RenderStyle()
RED, GREEN, BLUE = BOX_COLORS[0], BOX_COLORS[1], BOX_COLORS[2]


def _white(width: int = 96, height: int = 96) -> Image.Image:
    return Image.new("RGB", (width, height), "white")


def _render(ops: list, base: Image.Image | None = None) -> Image.Image:
    return render_state(base or _white(), merge_state(ImageState(), ops))


def _two_boxes_one_line() -> Image.Image:
    return _render(
        [
            BoxOp(1, (8, 8, 60, 50), "cup"),
            BoxOp(1, (40, 40, 90, 90), "mug"),
            LineOp(1, (10, 80), (80, 20), "path"),
        ]
    )


def _redrawn() -> Image.Image:
    first = merge_state(ImageState(), [LineOp(1, (10, 10), (80, 10), "route")])
    once = render_state(_white(), first)
    second = merge_state(first, [LineOp(2, (10, 10), (10, 80), "route")])
    return render_state(once, second)  # drawn on the rendered image: the old line stays visible


SCENES = {
    "two_boxes_one_line": _two_boxes_one_line,
    "swapped_corners": lambda: _render([BoxOp(1, (70, 70, 20, 20), "box")]),
    "ten_boxes_cycle_colours": lambda: _render(
        [BoxOp(1, (i * 9, i * 9, i * 9 + 8, i * 9 + 8), f"b{i}") for i in range(10)]
    ),
    "redrawn_on_rendered": _redrawn,
}


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_render_matches_golden(name):
    image = SCENES[name]()
    path = GOLDEN / f"{name}.png"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(encode_png(image))
    golden = Image.open(path).convert("RGB")
    assert golden.size == image.size
    diff = np.abs(_pixels(image) - _pixels(golden))
    assert diff.mean() < 1.0
    assert (diff.max(axis=2) > 64).mean() < 0.005


def test_render_returns_a_new_rgb_image_and_leaves_the_base_alone():
    base = Image.new("L", (40, 30), 255)
    state = merge_state(ImageState(), [BoxOp(1, (0, 0, 39, 29), "a")])
    out = render_state(base, state)
    assert out.mode == "RGB" and out.size == (40, 30) and out is not base
    assert base.getextrema() == (255, 255)
    assert render_state(_white(), ImageState()).tobytes() == _white().tobytes()


def test_box_outlines_take_the_colour_of_their_position():
    image = _two_boxes_one_line()
    assert image.getpixel((8, 40)) == RED  # left edge of box 1, below its label
    assert image.getpixel((60, 20)) == RED  # right edge of box 1
    assert image.getpixel((89, 70)) == GREEN  # right edge of box 2
    assert image.getpixel((30, 35)) == (255, 255, 255)  # inside box 1, clear of the label
    assert image.getpixel((10, 80)) == STYLE.start_color
    assert image.getpixel((80, 20)) == STYLE.end_color


def test_colour_cycles_after_the_palette():
    image = SCENES["ten_boxes_cycle_colours"]()
    assert image.getpixel((9 * 9, 9 * 9 + 4)) == BOX_COLORS[9 % len(BOX_COLORS)]
    assert image.getpixel((0, 4)) == BOX_COLORS[0]


def test_swapped_corners_draw_the_same_box():
    swapped = SCENES["swapped_corners"]()
    assert swapped.tobytes() == _render([BoxOp(1, (20, 20, 70, 70), "box")]).tobytes()


def test_label_sits_inside_the_top_left_corner_on_the_box_colour():
    image = _two_boxes_one_line()
    corner = _pixels(image.crop((13, 13, 40, 26))).reshape(-1, 3)
    is_red = (corner == RED).all(axis=1)
    assert is_red.mean() > 0.3  # the label background
    assert (~is_red).any()  # and the text on it


def test_odd_labels_render():
    for label in ("\x00", "😀", "漢字", "two\nlines", "x" * 300):
        assert _render([BoxOp(1, (1, 1, 50, 50), label)]).size == (96, 96)


def test_lines_are_black_with_a_red_start_and_a_blue_end():
    state = merge_state(ImageState(), [LineOp(1, (10, 48), (86, 48), "l")])
    image = render_state(_white(), state)
    assert image.getpixel((10, 48)) == STYLE.start_color
    assert image.getpixel((86, 48)) == STYLE.end_color
    assert image.getpixel((48, 48)) == (0, 0, 0)
    assert image.getpixel((48, 40)) == (255, 255, 255)


def test_lines_are_drawn_over_boxes():
    state = merge_state(
        ImageState(), [LineOp(1, (0, 30), (95, 30), "l"), BoxOp(1, (20, 20, 60, 60), "b")]
    )
    image = render_state(_white(), state)
    assert image.getpixel((20, 30)) == (0, 0, 0)  # the box's left edge, under the line


def test_redrawing_on_the_rendered_image_keeps_old_pixels_but_not_on_the_original():
    image = _redrawn()
    assert image.getpixel((45, 10)) == (0, 0, 0)  # the old horizontal line
    assert image.getpixel((10, 45)) == (0, 0, 0)  # the new vertical one
    state = merge_state(ImageState(), [LineOp(1, (10, 10), (10, 80), "route")])
    clean = render_state(_white(), state)
    assert clean.getpixel((45, 10)) == (255, 255, 255)


def test_encode_png_is_deterministic_and_drops_metadata():
    image = _two_boxes_one_line()
    image.info["icc_profile"] = b"not a real profile"
    image.info["comment"] = "hello"
    png = encode_png(image)
    assert png == encode_png(_two_boxes_one_line())
    assert b"iCCP" not in png and b"tEXt" not in png and b"tIME" not in png
    assert image_key(png) == image_key(bytes(png))
    assert image_key(png).endswith(".png") and len(image_key(png)) == 64 + 4
    assert decode_image(png).tobytes() == image.tobytes()


def test_decode_image_rejects_garbage_with_a_clear_error():
    with pytest.raises(ValueError, match="sample-1: cannot decode image"):
        decode_image(b"definitely not an image", what="sample-1")
    with pytest.raises(ValueError, match="cannot decode"):
        decode_image(encode_png(_white())[:60])


def test_decode_image_composites_transparency_on_white():
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    assert decoded.mode == "RGB" and decoded.getpixel((0, 0)) == (255, 255, 255)


def test_palette_images_stay_palette_and_decode_to_the_same_pixels():
    from drawreason.drawing.state import ImageState as _State

    state = merge_state(
        _State(), [BoxOp(1, (8, 8, 60, 50), "cup"), LineOp(1, (10, 80), (80, 20), "p")]
    )
    rgb = render_state(Image.new("RGB", (96, 96), "white"), state)
    palette_base = Image.new("P", (96, 96), 0)
    palette_base.putpalette([255, 255, 255])
    pal = render_state(palette_base, state)
    assert pal.mode == "P"
    decoded = np.asarray(decode_image(encode_png(pal)), dtype=np.int16)
    # Lines, dots and boxes are exact; only the label text loses its anti-aliasing.
    assert (np.abs(decoded - np.asarray(rgb, dtype=np.int16)).max(axis=2) > 0).mean() < 0.02
    full = Image.new("P", (8, 8), 0)
    full.putpalette(list(range(256)) * 3)
    assert render_state(full, state).mode == "RGB"  # no room for the style's colours
