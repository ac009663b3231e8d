"""Pixel caps from the config, checked from the header before any decode: PNG, JPEG, WebP, GIF
(every frame), video frame sizes; Pillow's own guard set to the same limit."""

import io
import struct
import zlib

import cv2
import pytest
from drawreason.inputs import media as media_module
from drawreason.inputs.media import InputRejected, decode_limited, gif_extent, sample_frames
from PIL import Image, ImageFile, WebPImagePlugin

from tests.realdata import write_video

LIMIT = 1_000_000


def _encode(fmt: str, size: tuple[int, int] = (16, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 80, 120)).save(buffer, format=fmt)
    return buffer.getvalue()


def _claim_png(width: int, height: int) -> bytes:
    data = bytearray(_encode("PNG"))
    struct.pack_into(">2I", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))  # IHDR's CRC
    return bytes(data)


def _claim_jpeg(width: int, height: int) -> bytes:
    data = bytearray(_encode("JPEG"))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    struct.pack_into(">2H", data, sof + 5, height, width)
    return bytes(data)


def _claim_webp(width: int, height: int) -> bytes:
    data = bytearray(_encode("WEBP"))
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"  # simple lossy layout
    struct.pack_into("<2H", data, 26, width, height)
    return bytes(data)


# A hand-made GIF: a 1x1 logical screen with a 2-colour table, then frames.
_GIF_HEAD = b"GIF89a" + struct.pack("<2H", 1, 1) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
_GIF_PIXELS = b"\x02\x02\x44\x01\x00"  # LZW code size 2, one sub-block: clear, 0, end


def _gif_frame(width: int, height: int) -> bytes:
    return b"\x2c" + struct.pack("<4H", 0, 0, width, height) + b"\x00" + _GIF_PIXELS


def _claim_gif(width: int, height: int) -> bytes:
    data = bytearray(_encode("GIF"))
    struct.pack_into("<2H", data, 6, width, height)  # the logical screen
    return bytes(data)


CLAIMS = {"PNG": _claim_png, "JPEG": _claim_jpeg, "WEBP": _claim_webp, "GIF": _claim_gif}


@pytest.fixture
def no_decode(monkeypatch):
    """Any pixel decode fails the test (Pillow's loaders, and the decode step itself)."""

    def refuse(*args, **kwargs):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "load", refuse)
    monkeypatch.setattr(media_module, "decode_image", refuse)


@pytest.mark.parametrize("fmt", sorted(CLAIMS))
def test_a_header_over_the_cap_is_refused_before_decoding(no_decode, fmt):
    # Just over the cap: our own check names the size.
    with pytest.raises(InputRejected) as info:
        decode_limited(CLAIMS[fmt](1001, 1000), "x", LIMIT)
    assert info.value.reason == "image_too_large" and "1001x1000" in info.value.detail
    # Far over it (a bomb): Pillow's guard, set to the same cap, refuses while reading it.
    with pytest.raises(InputRejected) as info:
        decode_limited(CLAIMS[fmt](16383, 16383), "x", LIMIT)
    assert info.value.reason == "image_too_large" and f"{LIMIT} pixel limit" in info.value.detail
    # The fixture does catch a decode: an image within the cap reaches it.
    with pytest.raises(AssertionError, match="decoded"):
        decode_limited(CLAIMS[fmt](1000, 1000), "x", LIMIT)


@pytest.mark.parametrize("fmt", sorted(CLAIMS))
def test_images_within_the_cap_decode(fmt):
    image = decode_limited(_encode(fmt), "x", 16 * 12)
    assert image.size == (16, 12) and image.mode == "RGB"


def test_a_png_cut_where_its_pixels_start_is_judged_by_the_header():
    def cut(data: bytes) -> bytes:
        return data[: data.index(b"IDAT") + 4]  # every header chunk, no pixel data

    with pytest.raises(InputRejected) as info:
        decode_limited(cut(_claim_png(1001, 1000)), "x", LIMIT)
    assert info.value.reason == "image_too_large"
    with pytest.raises(InputRejected) as info:  # within the cap, the decode runs and fails
        decode_limited(cut(_claim_png(16, 12)), "x", LIMIT)
    assert info.value.reason == "image_unreadable"


def test_every_gif_frame_counts_not_only_the_first(no_decode):
    big_later_frame = _GIF_HEAD + _gif_frame(1, 1) + _gif_frame(5000, 5000) + b"\x3b"
    assert gif_extent(big_later_frame) == (5000, 5000)
    with pytest.raises(InputRejected) as info:
        decode_limited(big_later_frame, "x", LIMIT)
    assert info.value.reason == "image_too_large" and "5000x5000" in info.value.detail
    # A first frame larger than the screen, after a graphic control extension, counts too.
    extension = b"\x21\xf9\x04\x00\x00\x00\x00\x00"
    assert gif_extent(_GIF_HEAD + extension + _gif_frame(1200, 900) + b"\x3b") == (1200, 900)


def test_a_small_multi_frame_gif_decodes():
    gif = _GIF_HEAD + _gif_frame(1, 1) + _gif_frame(1, 1) + b"\x3b"
    assert gif_extent(gif) == (1, 1)
    assert decode_limited(gif, "x", LIMIT).size == (1, 1)


def test_pillow_guard_follows_the_config_while_reading_and_is_restored(monkeypatch):
    seen: list[int | None] = []
    real = Image._decompression_bomb_check

    def spy(size):
        seen.append(Image.MAX_IMAGE_PIXELS)
        return real(size)

    monkeypatch.setattr(Image, "_decompression_bomb_check", spy)
    before = Image.MAX_IMAGE_PIXELS
    decode_limited(_encode("PNG"), "x", 123_456)
    assert seen and seen[0] == 123_456
    assert Image.MAX_IMAGE_PIXELS == before


def test_only_the_accepted_image_formats_are_opened():
    for fmt in ("TIFF", "ICO", "PPM"):
        with pytest.raises(InputRejected) as info:
            decode_limited(_encode(fmt), "x", LIMIT)
        assert info.value.reason == "image_unreadable", fmt
    assert decode_limited(_encode("BMP"), "x", LIMIT).size == (16, 12)


class _CaptureSpy:
    """cv2.VideoCapture that counts opens and frame reads."""

    opened = 0
    reads = 0

    def __init__(self, name: str) -> None:
        type(self).opened += 1
        self._capture = _REAL_CAPTURE(name)

    def read(self):
        type(self).reads += 1
        return self._capture.read()

    def __getattr__(self, name):
        return getattr(self._capture, name)


_REAL_CAPTURE = cv2.VideoCapture


@pytest.fixture
def capture_spy(monkeypatch):
    _CaptureSpy.opened = _CaptureSpy.reads = 0
    monkeypatch.setattr(cv2, "VideoCapture", _CaptureSpy)
    return _CaptureSpy


def test_video_frame_size_is_checked_before_any_frame_is_read(tmp_path, capture_spy):
    write_video(tmp_path / "v.mp4", frames=6, size=(96, 64))
    data = (tmp_path / "v.mp4").read_bytes()
    with pytest.raises(InputRejected) as info:
        sample_frames(data, "v", 4, 96 * 64 - 1)
    assert info.value.reason == "image_too_large" and "96x64" in info.value.detail
    assert capture_spy.opened == 1 and capture_spy.reads == 0
    assert len(sample_frames(data, "v", 4, 96 * 64)) == 4 and capture_spy.reads == 4


def test_a_playlist_posing_as_a_video_never_reaches_ffmpeg(capture_spy):
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://169.254.169.254/a.ts\n"
    for data in (playlist, b"ffconcat version 1.0\nfile '/etc/passwd'\n"):
        with pytest.raises(InputRejected) as info:
            sample_frames(data, "v", 4, LIMIT)
        assert info.value.reason == "video_unreadable" and "container" in info.value.detail
    assert capture_spy.opened == 0
