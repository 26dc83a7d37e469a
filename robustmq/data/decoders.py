"""The OpenCV and FFmpeg decoders, registered as ``opencv`` and ``ffmpeg`` in ``DECODERS``.

Both take a path or the file's bytes and return ``H x W x 3`` uint8 RGB, as the Pillow decoder
(``pil``) does, by the same rules (:mod:`robustmq.data.modes`): grayscale becomes three equal
channels, an alpha channel is dropped (not composited), 16-bit samples keep their high byte, images
over ``PIL.Image.MAX_IMAGE_PIXELS`` pixels are refused before decoding, EXIF orientation is not
applied, and data that cannot be decoded, a missing file, or a truncated JPEG (no end-of-image
marker) raises :class:`~robustmq.data.errors.ImageDecodeError` naming the file.

- ``opencv``: ``cv2.imdecode(bytes, IMREAD_COLOR | IMREAD_ANYDEPTH | IMREAD_IGNORE_ORIENTATION)``
  (BGR), then BGR -> RGB; 16-bit results are reduced by the rules above (``ANYDEPTH`` leaves 8-bit
  files as they were). OpenCV and Pillow both decode JPEG with libjpeg-turbo (integer IDCT, "fancy"
  upsampling); on baseline JPEGs their pixels agree bit for bit (measured on the synthetic set and
  CIFAR-10 JPEGs, see ``tests/noise/systematic/test_sys_decoders.py``).
- ``ffmpeg``: FFmpeg through PyAV (FFmpeg ships in its wheel; no system binary): FFmpeg's own JPEG
  decoder, then swscale's YUV -> ``rgb24`` conversion with the ``ffmpeg`` command line's default
  scaler flags (``bicubic``; plus ``bitexact`` so the result does not depend on the CPU's SIMD
  path). For a same-size conversion swscale replicates the subsampled chroma instead of
  interpolating it, so 4:2:0 JPEGs differ from Pillow at colour edges (mean ~1-5 grey levels, up to
  ~95 on the 40 px synthetic images); what ``ffmpeg -i x.jpg -pix_fmt rgb24`` (RobustART's FFmpeg
  decoder) produces, not a bug. Frames of more than 8 bits per sample (16-bit PNG/TIFF) are
  converted to ``rgb48le`` instead and keep the high byte; float formats are refused.
"""

from __future__ import annotations

import io
import os

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from robustmq.data.errors import ImageDecodeError, ImageModeError
from robustmq.data.modes import array_to_rgb8, check_pixels, header_size
from robustmq.data.pipeline import DECODERS, ImageSource, source_name

__all__ = ["FFMPEG_FLAGS", "decode_ffmpeg", "decode_opencv", "ffmpeg_version"]

#: swscale flags of the FFmpeg decoder's YUV -> RGB conversion (the ffmpeg CLI's default scaler).
FFMPEG_FLAGS = Interpolation.BICUBIC | Interpolation.BITEXACT
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"


def _error(source: ImageSource, reason: object, library: str) -> ImageDecodeError:
    name = source_name(source)
    return ImageDecodeError(
        f"cannot decode image {name}: {reason}; expected a complete image file {library} can read "
        "(JPEG, PNG, BMP, WebP, PPM, TIFF)",
        path=name,
    )


def _read(source: ImageSource, library: str) -> bytes:
    """The file's bytes; ImageDecodeError for a missing/unreadable file, empty or truncated data."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            with open(os.fspath(source), "rb") as f:
                data = f.read()
        except OSError as exc:
            raise _error(source, exc, library) from exc
    if not data:
        raise _error(source, "the file is empty", library)
    header_size(data, source_name(source))  # refuses images over the pixel limit
    # libjpeg (OpenCV) and FFmpeg both fill a truncated JPEG with grey and carry on; Pillow raises.
    if data.startswith(_JPEG_SOI) and _JPEG_EOI not in data[2:]:
        raise _error(source, "JPEG data is truncated (no end-of-image marker)", library)
    return data


@DECODERS.register("opencv")
def decode_opencv(source: ImageSource) -> np.ndarray:
    """Decode with ``cv2.imdecode`` to ``H x W x 3`` uint8 RGB (alpha dropped, no EXIF rotation)."""
    data = _read(source, "OpenCV")
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise _error(source, exc, "OpenCV") from exc
    if bgr is None:
        raise _error(source, "cv2.imdecode returned no image", "OpenCV")
    name = source_name(source)
    check_pixels(bgr.shape[1], bgr.shape[0], name)
    if bgr.dtype != np.uint8:  # 16-bit (or float) files: IMREAD_COLOR gives 3 channels, BGR
        return array_to_rgb8(bgr[..., ::-1], name, f"OpenCV {bgr.dtype} samples")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


@DECODERS.register("ffmpeg")
def decode_ffmpeg(source: ImageSource) -> np.ndarray:
    """Decode with FFmpeg (PyAV) to ``H x W x 3`` uint8 RGB (first frame, alpha dropped)."""
    data = _read(source, "FFmpeg")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise _error(source, "FFmpeg found no image stream", "FFmpeg")
            for frame in container.decode(video=0):
                return _frame_to_rgb8(frame, source_name(source))
    except ImageDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise _error(source, exc, "FFmpeg") from exc
    raise _error(source, "FFmpeg decoded no frame", "FFmpeg")


def _frame_to_rgb8(frame: av.VideoFrame, name: str) -> np.ndarray:
    check_pixels(frame.width, frame.height, name)
    fmt = frame.format
    depth = max((c.bits for c in fmt.components), default=8)
    if depth <= 8:
        rgb = frame.to_ndarray(format="rgb24", interpolation=FFMPEG_FLAGS, threads=1)
        return np.ascontiguousarray(rgb)
    if depth > 16 or "f16" in fmt.name or "f32" in fmt.name:
        raise ImageModeError(
            f"cannot convert image {name} (FFmpeg pixel format {fmt.name}) to 8-bit RGB: float or "
            "over 16 bits per sample; see robustmq.data.modes for the conversions",
            path=name,
        )
    rgb48 = frame.to_ndarray(format="rgb48le", interpolation=FFMPEG_FLAGS, threads=1)
    return array_to_rgb8(rgb48, name, f"FFmpeg pixel format {fmt.name}")


def ffmpeg_version() -> str:
    """The version of the FFmpeg libraries PyAV ships (libavcodec's, ``major.minor.micro``)."""
    return ".".join(str(v) for v in av.library_versions["libavcodec"])
