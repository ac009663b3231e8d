"""Loading the images of real QA data: safe path resolution, remote URIs, decoding with a pixel
limit, even frame sampling from videos, and the resize the teacher's processor applies."""

from __future__ import annotations

import io
import math
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, UnidentifiedImageError

from drawing.images import decode_image

REMOTE_SCHEMES = ("gs://", "s3://", "http://", "https://")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
HTTP_TIMEOUT_S = 60.0
MAX_DOWNLOAD_BYTES = 2 << 30  # a 2 GiB video is already more than any QA item needs


class InputRejected(Exception):
    """An input image or video that cannot be used; `reason` is the rejection code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MediaConfig:
    """How input media become the images the teacher sees.

    Images are resized the way Qwen2/2.5-VL processors resize them (`smart_resize`: sides
    multiples of `factor`, area within [min_pixels, max_pixels]); `resize=False` keeps the
    original size (for teachers that do not resize). Images whose decoded size exceeds
    `max_input_pixels` are rejected before decoding.
    """

    resize: bool = True
    factor: int = 28
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 1280 * 28 * 28
    max_input_pixels: int = 64_000_000
    video_frames: int = 16

    def __post_init__(self) -> None:
        for key in ("factor", "min_pixels", "max_pixels", "max_input_pixels", "video_frames"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")


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


def is_remote(ref: str) -> bool:
    return ref.startswith(REMOTE_SCHEMES)


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


def read_bytes(root: str, ref: str) -> bytes:
    """The bytes of an image or video reference: a path inside `root` (local, or under a
    gs:// / s3:// root), or a gs:// / s3:// / http(s):// URI.

    Raises InputRejected: `unsafe_path`, `media_missing` (no such file, HTTP 404, ...),
    `media_too_large` (over MAX_DOWNLOAD_BYTES).
    """
    if ref.startswith(("http://", "https://")):
        return _read_http(ref)
    if ref.startswith(("gs://", "s3://")):
        return _read_filesystems(ref)
    if is_remote(root):
        if os.path.isabs(ref) or ".." in PurePosixPath(ref).parts or not ref:
            raise InputRejected("unsafe_path", f"{ref!r} leaves the dataset folder {root}")
        return _read_filesystems(root.rstrip("/") + "/" + ref)
    path = resolve_local(root, ref)
    try:
        if os.path.getsize(path) > MAX_DOWNLOAD_BYTES:
            raise InputRejected("media_too_large", f"{ref}: over {MAX_DOWNLOAD_BYTES} bytes")
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise InputRejected("media_missing", f"{ref}: {type(exc).__name__}") from exc


def _read_http(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise InputRejected("media_missing", f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise InputRejected("media_unreachable", f"{url}: {exc}") from exc
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise InputRejected("media_too_large", f"{url}: over {MAX_DOWNLOAD_BYTES} bytes")
    return data


def _read_filesystems(uri: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(uri) as handle:
            data = handle.read(MAX_DOWNLOAD_BYTES + 1)
    except FileNotFoundError as exc:
        raise InputRejected("media_missing", f"{uri}: not found") from exc
    except OSError as exc:  # Beam wraps missing objects in BeamIOError (an IOError)
        raise InputRejected("media_missing", f"{uri}: {exc}") from exc
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise InputRejected("media_too_large", f"{uri}: over {MAX_DOWNLOAD_BYTES} bytes")
    return data


def decode_limited(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """An RGB image from encoded bytes, refusing before decoding when the header announces more
    than `max_pixels` pixels.

    Raises InputRejected: `image_too_large`, `image_unreadable`.
    """
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputRejected("image_unreadable", f"{what}: {type(exc).__name__}: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise InputRejected("image_too_large", f"{what}: {exc}") from exc
    if width * height > max_pixels:
        raise InputRejected(
            "image_too_large", f"{what}: {width}x{height} is over the {max_pixels} pixel limit"
        )
    try:
        return decode_image(data, what)
    except ValueError as exc:
        raise InputRejected("image_unreadable", str(exc)) from exc


def sample_frames(data: bytes, what: str, count: int, max_pixels: int) -> list[Image.Image]:
    """`count` frames spread evenly over a video (first and last included), as RGB images; all
    frames when the video has fewer. OpenCV reads from a temporary file (it cannot read bytes).

    Raises InputRejected: `video_unreadable` (no frames decode), `image_too_large`.
    """
    import cv2

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
            if width * height > max_pixels:
                raise InputRejected(
                    "image_too_large",
                    f"{what}: frames of {width}x{height} are over the {max_pixels} pixel limit",
                )
            if total < 1:
                raise InputRejected("video_unreadable", f"{what}: no frames")
            wanted = frame_indices(total, count)
            frames = []
            for index in wanted:
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, frame = capture.read()
                if not ok:
                    continue  # a frame count from the container can overstate the stream
                frames.append(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        finally:
            capture.release()
    if not frames:
        raise InputRejected("video_unreadable", f"{what}: none of the sampled frames decode")
    return frames


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
