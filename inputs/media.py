"""Loading the images of real QA data: safe path resolution, remote URIs under the URI policy,
decoding with a pixel limit checked from the header, even frame sampling from videos, and the
resize the teacher's processor applies."""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from drawreason.drawing.images import decode_image
from drawreason.inputs.rejection import InputRejected  # adapters and stages import it from here
from drawreason.inputs.uri_policy import (
    HTTP_SCHEMES,
    SUPPORTED_SCHEMES,
    UriPolicy,
    check_scheme,
    fetch_http,
    scheme_of,
)
from PIL import Image, UnidentifiedImageError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# The image formats Pillow may open for an input: each announces its size in a header that
# Image.open reads without decoding. Other plugins (EPS, PSD, ...) are never tried.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
# Container signatures OpenCV may open. Anything else is refused before FFmpeg sees it: an HLS
# or concat playlist saved as .mp4 would make FFmpeg open the URLs or files it lists.
_VIDEO_MAGIC = (
    *((4, box) for box in (b"ftyp", b"moov", b"mdat", b"free", b"wide")),  # MP4 / MOV boxes
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"RIFF"),  # AVI
)
_PILLOW_LIMIT = threading.Lock()  # Image.MAX_IMAGE_PIXELS is process-wide


@dataclass(frozen=True)
class MediaConfig:
    """How input media become the images the teacher sees.

    Images are resized the way Qwen2/2.5-VL processors resize them (`smart_resize`: sides
    multiples of `factor`, area within [min_pixels, max_pixels]); `resize=False` keeps the
    original size (for teachers that do not resize). Images (and video frames) whose size,
    read from the header, exceeds `max_input_pixels` are rejected before decoding.

    Records are untrusted: `schemes`, `allow_hosts`, `allow_private`, `max_bytes`,
    `connect_timeout_s` and `read_timeout_s` make the URI policy (see inputs.uri_policy and
    docs/untrusted-data.md).
    """

    resize: bool = True
    factor: int = 28
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    max_input_pixels: int = 64_000_000
    video_frames: int = 16
    schemes: tuple[str, ...] = SUPPORTED_SCHEMES
    allow_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    max_bytes: int = 256 << 20  # per image or video; raise it for long videos
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        for key in ("factor", "min_pixels", "max_pixels", "max_input_pixels", "video_frames"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        self.uri_policy()  # validates the policy keys

    def uri_policy(self) -> UriPolicy:
        return UriPolicy(
            schemes=self.schemes,
            allow_hosts=self.allow_hosts,
            allow_private=self.allow_private,
            max_bytes=self.max_bytes,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
        )


def smart_resize(
    height: int, width: int, factor: int = 28, min_pixels: int = 3136, max_pixels: int = 1003520
) -> tuple[int, int]:
    """(height, width) a Qwen2-VL image processor resizes an image to: both sides multiples of
    `factor`, the area within [min_pixels, max_pixels], the aspect ratio kept as well as that
    allows. Same arithmetic as `transformers`' qwen2_vl `smart_resize`.

    Raises InputRejected(`bad_aspect_ratio`) beyond 200:1, as the processor refuses those.
    """
    if max(height, width) / min(height, width) > 200:
        raise InputRejected(
            "bad_aspect_ratio", f"{width}x{height}: aspect ratio above 200 is not supported"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def prepare_image(image: Image.Image, config: MediaConfig) -> Image.Image:
    """The RGB image the teacher will see (resized per `config`, bicubic as the processor)."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    if not config.resize:
        return image
    height, width = smart_resize(
        image.height, image.width, config.factor, config.min_pixels, config.max_pixels
    )
    if (width, height) == image.size:
        return image
    return image.resize((width, height), Image.Resampling.BICUBIC)


def resolve_local(root: str, ref: str) -> str:
    """The path of `ref` inside the dataset folder `root`.

    Raises InputRejected(`unsafe_path`) for an absolute path, a `..` component, or a path whose
    real location (symlinks followed) is outside `root`: a dataset record never reads files
    the dataset does not hold.
    """
    if not ref:
        raise InputRejected("unsafe_path", "empty image path")
    if os.path.isabs(ref) or ref.startswith(("/", "\\")) or (len(ref) > 1 and ref[1] == ":"):
        raise InputRejected("unsafe_path", f"{ref!r} is absolute; paths are relative to {root}")
    if ".." in PurePosixPath(ref.replace("\\", "/")).parts:
        raise InputRejected("unsafe_path", f"{ref!r} leaves the dataset folder {root}")
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, ref))
    if os.path.commonpath([real_root, path]) != real_root:
        raise InputRejected("unsafe_path", f"{ref!r} resolves outside the dataset folder {root}")
    return path


def read_bytes(root: str, ref: str, media: MediaConfig | None = None) -> bytes:
    """The bytes of an image or video reference: a path inside `root` (local, or under a
    gs:// / s3:// / http(s):// root), or a URI whose scheme `media.schemes` allows. http(s) is
    fetched under the URI policy (internal hosts refused on every hop); every read stops at
    `media.max_bytes`.

    Raises InputRejected: `unsafe_path` (a path leaving the dataset, a scheme or host the
    policy refuses), `media_missing` (no such file, HTTP 404, ...), `media_unreachable`,
    `media_too_large`.
    """
    policy = (media or MediaConfig()).uri_policy()
    scheme = check_scheme(ref, policy)
    if scheme:
        return _read_uri(ref, scheme, policy)
    root_scheme = scheme_of(root)
    if root_scheme:  # the root comes from the config; the record only adds a relative path
        if not ref or ref.startswith("/") or ".." in PurePosixPath(ref).parts:
            raise InputRejected("unsafe_path", f"{ref!r} leaves the dataset folder {root}")
        return _read_uri(root.rstrip("/") + "/" + ref, root_scheme, policy)
    path = resolve_local(root, ref)
    try:
        if os.path.getsize(path) > policy.max_bytes:
            raise InputRejected("media_too_large", f"{ref}: over {policy.max_bytes} bytes")
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise InputRejected("media_missing", f"{ref}: {type(exc).__name__}") from exc


def _read_uri(uri: str, scheme: str, policy: UriPolicy) -> bytes:
    if scheme in HTTP_SCHEMES:
        return fetch_http(uri, policy)
    if scheme not in SUPPORTED_SCHEMES:
        raise InputRejected("unsafe_path", f"{uri}: the {scheme}: scheme cannot be read")
    return _read_filesystems(uri, policy.max_bytes)


def _read_filesystems(uri: str, max_bytes: int) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(uri) as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise InputRejected("media_missing", f"{uri}: not found") from exc
    except OSError as exc:  # Beam wraps missing objects in BeamIOError (an IOError)
        raise InputRejected("media_missing", f"{uri}: {exc}") from exc
    if len(data) > max_bytes:
        raise InputRejected("media_too_large", f"{uri}: over {max_bytes} bytes")
    return data


def decode_limited(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """An RGB image from encoded bytes (one of IMAGE_FORMATS), refusing before decoding when
    the header announces more than `max_pixels` pixels; for a GIF, the logical screen and every
    frame count. Pillow's own bomb guard is set to the same limit while it reads the header.

    Raises InputRejected: `image_too_large`, `image_unreadable`.
    """
    width, height, image_format = header_size(data, what, max_pixels)
    if image_format == "GIF":
        width, height = gif_extent(data)
    if width * height > max_pixels:
        raise InputRejected(
            "image_too_large", f"{what}: {width}x{height} is over the {max_pixels} pixel limit"
        )
    try:
        return decode_image(data, what)
    except ValueError as exc:
        raise InputRejected("image_unreadable", str(exc)) from exc


def header_size(data: bytes, what: str, max_pixels: int) -> tuple[int, int, str]:
    """(width, height, format) from an image's header; Image.open reads no pixel data.

    Raises InputRejected: `image_unreadable` (not one of IMAGE_FORMATS, or a broken header),
    `image_too_large` (Pillow's guard, set to `max_pixels`, refuses it outright).
    """
    with _PILLOW_LIMIT, warnings.catch_warnings():
        # Between one and two times the limit Pillow only warns; the caller's check refuses.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as probe:
                return probe.width, probe.height, str(probe.format)
        except Image.DecompressionBombError as exc:
            raise InputRejected(
                "image_too_large", f"{what}: over the {max_pixels} pixel limit ({exc})"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InputRejected("image_unreadable", f"{what}: {type(exc).__name__}: {exc}") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def gif_extent(data: bytes) -> tuple[int, int]:
    """(width, height) covering a GIF's logical screen and every frame, from its block
    structure: frame data is skipped, never decoded. A truncated file ends the walk."""
    if len(data) < 13:
        return 0, 0
    width, height = struct.unpack_from("<2H", data, 6)
    pos = 13 + _color_table_bytes(data[10])
    while pos < len(data):
        block = data[pos]
        if block == 0x21:  # extension: a label byte, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C and pos + 10 <= len(data):  # image descriptor
            left, top, frame_width, frame_height = struct.unpack_from("<4H", data, pos + 1)
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            pos += 10 + _color_table_bytes(data[pos + 9])
            pos = _skip_sub_blocks(data, pos + 1)  # LZW code size byte, then the data
        else:  # the trailer (0x3B), or bytes that are not GIF structure
            break
    return width, height


def _color_table_bytes(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos]:
        pos += data[pos] + 1
    return pos + 1


def sample_frames(data: bytes, what: str, count: int, max_pixels: int) -> list[Image.Image]:
    """`count` frames spread evenly over a video (first and last included), as RGB images; all
    frames when the video has fewer. The frame size is checked before any frame is read.
    OpenCV reads from a temporary file (it cannot read bytes).

    Raises InputRejected: `video_unreadable` (not an MP4/MOV, Matroska/WebM or AVI container,
    or no frames decode), `image_too_large`.
    """
    import cv2

    if not any(data[at : at + len(magic)] == magic for at, magic in _VIDEO_MAGIC):
        raise InputRejected(
            "video_unreadable", f"{what}: not an MP4/MOV, Matroska/WebM or AVI container"
        )
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        capture = cv2.VideoCapture(handle.name)
        try:
            if not capture.isOpened():
                raise InputRejected("video_unreadable", f"{what}: OpenCV cannot open it")
            total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            _check_frame_size(width, height, what, max_pixels)
            if total < 1:
                raise InputRejected("video_unreadable", f"{what}: no frames")
            wanted = frame_indices(total, count)
            frames = []
            for index in wanted:
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, frame = capture.read()
                if not ok:
                    continue  # a frame count from the container can overstate the stream
                _check_frame_size(frame.shape[1], frame.shape[0], what, max_pixels)
                frames.append(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        finally:
            capture.release()
    if not frames:
        raise InputRejected("video_unreadable", f"{what}: none of the sampled frames decode")
    return frames


def _check_frame_size(width: int, height: int, what: str, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InputRejected(
            "image_too_large",
            f"{what}: frames of {width}x{height} are over the {max_pixels} pixel limit",
        )


def frame_indices(total: int, count: int) -> list[int]:
    """`count` frame numbers spread evenly over [0, total - 1], both ends included; every
    frame when `total <= count`."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [0]
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


def is_video(ref: str) -> bool:
    return ref.lower().split("?", 1)[0].endswith(VIDEO_SUFFIXES)
