"""PNG encoding with content-addressed keys, and decoding that fails with a clear error."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError

PNG_COMPRESS_LEVEL = 6  # zlib's default: never trade dataset size for speed


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of `image` with no metadata (no text chunks, ICC profile, EXIF or time),
    so equal pixels give equal bytes and equal keys."""
    buffer = io.BytesIO()
    image.save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False, icc_profile=None
    )
    return buffer.getvalue()


def image_key(png: bytes) -> str:
    """The content-addressed file name of encoded image bytes: `<sha256 hex>.png`."""
    return f"{hashlib.sha256(png).hexdigest()}.png"


def decode_image(data: bytes, what: str = "image") -> Image.Image:
    """An RGB image from encoded bytes (transparency composited on white).

    Raises ValueError naming `what` if the bytes do not decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = opened.copy()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise ValueError(f"{what}: cannot decode image ({type(exc).__name__}: {exc})") from exc
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
