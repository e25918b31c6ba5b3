"""Stage 5, encode: arrays to the bytes stored in the shards.

Composites are JPEG (or lossless PNG), masks 8-bit PNG, depth 16-bit PNG normalised per image with the
float range kept beside it (schema.DEPTH_PNG_MAX), so the depth stage's output is recovered to 1/65535 of
its range instead of the 1/255 and JPEG artefacts of earlier attempts.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .schema import DEPTH_PNG_MAX

# zlib level 1 is several times faster than the default 6 and, on masks and smooth depth, within a few
# percent of its size (benchmarks/bench_encode.py measures both).
PNG_COMPRESS_LEVEL = 1


def encode_image(rgb: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(rgb, "RGB")
    if image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG of an 8-bit greyscale (L), RGB or RGBA array, or a 16-bit greyscale uint16 array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def quantize_depth(depth: np.ndarray) -> tuple[np.ndarray, float, float]:
    """float depth -> (uint16 map spanning 0..65535, depth_min, depth_max)."""
    low, high = float(depth.min()), float(depth.max())
    span = high - low
    if span == 0.0:
        return np.zeros(depth.shape, dtype=np.uint16), low, high
    # float32 carries 24 bits, ample for 16-bit levels; float64 would double the memory traffic. One
    # temporary, updated in place.
    scaled = np.subtract(depth, np.float32(low), dtype=np.float32)
    scaled *= np.float32(DEPTH_PNG_MAX / span)
    return np.rint(scaled, out=scaled).astype(np.uint16), low, high


def encode_depth(depth: np.ndarray) -> tuple[bytes, float, float]:
    quantized, low, high = quantize_depth(depth)
    return encode_png(quantized), low, high


def decode_depth(png: bytes | Image.Image, depth_min: float, depth_max: float) -> np.ndarray:
    """Inverse of encode_depth, for users and tests: float32 depth from the stored PNG and range."""
    image = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    values = np.asarray(image, dtype=np.float64)
    return (depth_min + values / DEPTH_PNG_MAX * (depth_max - depth_min)).astype(np.float32)
