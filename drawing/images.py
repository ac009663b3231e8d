"""PNG encoding with content-addressed keys, and decoding that fails with a clear error."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError

PNG_COMPRESS_LEVEL = 6  # zlib's default: never trade dataset size for speed


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of `image`, with no metadata, so equal pixels give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def image_key(png: bytes) -> str:
    """The content-addressed file name of encoded image bytes."""
    return f"{hashlib.sha256(png).hexdigest()}.png"


def decode_image(data: bytes, what: str = "image") -> Image.Image:
    """An RGB image from encoded bytes; ValueError names `what` if they do not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{what}: cannot decode image ({exc})") from exc
