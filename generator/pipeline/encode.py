"""Stage 5, encode: arrays to the bytes stored in the shards.

Composites are JPEG (or lossless PNG), masks 8-bit PNG, depth 16-bit PNG normalised per image with the
float range kept beside it (schema.DEPTH_PNG_MAX), so the depth stage's output is recovered to 1/65535 of
its range, where an 8-bit or JPEG depth map would keep 1/255 of it and add compression artefacts.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import deflate
import numpy as np
from PIL import Image

from ..schema import DEPTH_PNG_MAX

# Level 1 (zlib's or libdeflate's): several times faster than the default 6 and, on masks and smooth
# depth, within a few percent of its size.
PNG_COMPRESS_LEVEL = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_NONE, _FILTER_SUB, _FILTER_UP = 0, 1, 2


def encode_image(rgb: np.ndarray, image_format: str, jpeg_quality: int) -> bytes:
    """An RGB image as stored: baseline JPEG with a restart marker after every MCU (a composite is then
    spliced from its background's MCUs, jpeg_splice.py; a decoder reads the same pixels as without them,
    for about 4 % more bytes), or lossless PNG."""
    if image_format == "jpeg":
        return encode_jpeg(rgb, jpeg_quality)
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """What PIL's `save(format="JPEG", quality=quality, restart_marker_blocks=1)` writes, from PIL's JPEG
    encoder run directly (Image.tobytes): a composite's patch is small, and save()'s Python around the
    encoder is a large share of its time. The encoder's settings are the ones save() gives it."""
    rgb = np.ascontiguousarray(rgb)
    image = Image.frombuffer("RGB", (rgb.shape[1], rgb.shape[0]), rgb, "raw", "RGB", 0, 1)
    settings = _jpeg_settings(quality)
    return image.tobytes("jpeg", settings) if settings is not None else _saved_jpeg(image, quality)


def _saved_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, restart_marker_blocks=1)
    return buffer.getvalue()


@functools.cache
def _jpeg_settings(quality: int) -> tuple | None:
    """The JPEG encoder's arguments as save() passes them (it leaves them on the image it saved), or None
    where running the encoder with them does not write save()'s bytes: then save() it is."""
    probe = Image.fromarray(np.arange(48 * 40 * 3, dtype=np.uint8).reshape(40, 48, 3) * 7, "RGB")
    saved = _saved_jpeg(probe, quality)
    config = getattr(probe, "encoderconfig", None)
    if not isinstance(config, tuple):
        return None
    settings = ("RGB", *config)
    try:
        return settings if probe.tobytes("jpeg", settings) == saved else None
    except Exception:  # another Pillow's encoder takes other arguments
        return None


def encode_png(array: np.ndarray) -> bytes:
    """Lossless PNG of an 8-bit greyscale (L), RGB or RGBA array, or a 16-bit greyscale uint16 array."""
    if array.ndim == 2:
        return encode_grey_png(array)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_grey_png(array: np.ndarray) -> bytes:
    """A greyscale PNG (8-bit uint8 or 16-bit uint16), written here rather than by PIL, whose adaptive
    filtering tries five filters on every row. One filter for all rows and a compressor for each kind of
    content (benchmarks/bench_encode.py measures them against PIL's):
    - 16-bit depth is smooth, so "Up" (the row above predicts each row) leaves small residuals, which
      libdeflate (level 1) packs in half zlib's time and 15 % smaller;
    - 8-bit masks are runs of 0 and 255, which zlib's run-length strategy packs best unfiltered."""
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"greyscale PNG needs uint8 or uint16 pixels, not {array.dtype}")
    return grey_png(scanlines(array), array.shape[1], array.dtype == np.uint16)


def encode_label_png(labels: np.ndarray) -> bytes:
    """A 16-bit greyscale PNG of labels (an instance map: runs of a few values). The Sub filter (each
    pixel less the one to its left) turns runs into zeros, which zlib's run-length strategy packs as it
    packs the masks, several times faster than the depth maps' Up filter and libdeflate here."""
    labelled = np.flatnonzero(labels.any(axis=1))
    first, last = (int(labelled[0]), int(labelled[-1]) + 1) if labelled.size else (0, 0)
    data = labels[first:last].astype(">u2").view(np.uint8)
    rows = np.empty((last - first, 2 * labels.shape[1] + 1), dtype=np.uint8)
    rows[:, 0] = _FILTER_SUB
    rows[:, 1:3] = data[:, :2]
    np.subtract(data[:, 2:], data[:, :-2], out=rows[:, 3:])  # uint8 wraps modulo 256, as PNG defines Sub
    return _label_png(rows, first, labels.shape)


def encode_one_label_png(seen: np.ndarray, x: int, y: int, shape: tuple[int, int]) -> bytes:
    """encode_label_png of a map (`shape`) that is 1 where `seen` (a bool box at (x, y)) is and 0 elsewhere,
    byte for byte, with no map: its Sub-filtered rows are zero but for each row's filter type and, in the
    box's rows, the low byte of each pixel where a run of 1 starts (1) or ends (255)."""
    height, width = shape
    labelled = np.flatnonzero(seen.any(axis=1))
    if not labelled.size:
        return _label_png(np.empty((0, 2 * width + 1), np.uint8), 0, shape)
    first, last = int(labelled[0]), int(labelled[-1]) + 1
    box_width = seen.shape[1]
    rows = np.zeros((last - first, 2 * width + 1), dtype=np.uint8)
    rows[:, 0] = _FILTER_SUB
    padded = np.zeros((last - first, box_width + 2), dtype=np.int8)
    padded[:, 1:-1] = seen[first:last]
    steps = np.diff(padded, axis=1).view(np.uint8)  # -1 wraps to 255, as the filter's modulo 256
    stop = min(x + box_width + 1, width)  # the pixel right of the box, where a run may end, if inside
    rows[:, 2 + 2 * x : 2 + 2 * stop : 2] = steps[:, : stop - x]
    return _label_png(rows, y + first, shape)


_ZLIB_HEADER = zlib.compress(b"", PNG_COMPRESS_LEVEL)[:2]
_FINAL_EMPTY_BLOCK = zlib.compressobj(PNG_COMPRESS_LEVEL, wbits=-15).flush()
_ADLER_MOD = 65521


def _label_png(rows: np.ndarray, top: int, shape: tuple[int, int]) -> bytes:
    """The label PNG of a map whose Sub-filtered rows are `rows` from row `top` and zero (but for their
    filter type) above and below. Those runs of zero rows are deflated once for each width and count
    (`_zero_rows`): the stream is three independent pieces, each ending in a full flush (it leaves no
    reference to earlier data), then an empty final block; the Adler-32 of the zero rows is closed form."""
    height, width = shape
    below = height - top - len(rows)
    middle = zlib.compressobj(PNG_COMPRESS_LEVEL, wbits=-15, strategy=zlib.Z_RLE)
    deflated = b"".join((_zero_rows(width, top), middle.compress(rows) + middle.flush(zlib.Z_FULL_FLUSH) if len(rows) else b"",
                         _zero_rows(width, below), _FINAL_EMPTY_BLOCK))
    checksum = _adler_of_zero_rows(zlib.adler32(rows, _adler_of_zero_rows(1, width, top)), width, below)
    idat = _ZLIB_HEADER + deflated + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@functools.lru_cache(maxsize=4096)
def _zero_rows(width: int, count: int) -> bytes:
    """`count` Sub-filtered zero rows of a 16-bit map `width` wide, raw-deflated, ending in a full flush
    (a few hundred bytes each: the cache holds at most about 1 MB)."""
    if count == 0:
        return b""
    rows = np.zeros((count, 2 * width + 1), np.uint8)
    rows[:, 0] = _FILTER_SUB
    compressor = zlib.compressobj(PNG_COMPRESS_LEVEL, wbits=-15, strategy=zlib.Z_RLE)
    return compressor.compress(rows) + compressor.flush(zlib.Z_FULL_FLUSH)


def _adler_of_zero_rows(adler: int, width: int, count: int) -> int:
    """Adler-32 `adler` continued over `count` Sub-filtered zero rows (a 1, then 2 * width zeros): each row
    adds 1 to A, and B gains A after each of its 2 * width + 1 bytes."""
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + (2 * width + 1) * (count * a + count * (count + 1) // 2)) % _ADLER_MOD
    return (b << 16) | ((a + count) % _ADLER_MOD)


def scanlines(array: np.ndarray, above: np.ndarray | None = None) -> np.ndarray:
    """(rows, 1 + bytes a row) uint8: the PNG's filtered rows of greyscale `array`, each led by its filter
    type: Up for 16-bit, predicted from the row above (`above`: the image's row before `array`'s first,
    None at the top), None for 8-bit."""
    height = array.shape[0]
    if array.dtype != np.uint16:
        rows = np.empty((height, array.shape[1] + 1), dtype=np.uint8)
        rows[:, 0] = _FILTER_NONE
        rows[:, 1:] = array
        return rows
    data = array.astype(">u2").view(np.uint8)  # PNG stores 16-bit big-endian
    rows = np.empty((height, data.shape[1] + 1), dtype=np.uint8)
    rows[:, 0] = _FILTER_UP
    if above is None:
        rows[0, 1:] = data[0]
    else:
        np.subtract(data[0], above.astype(">u2").view(np.uint8), out=rows[0, 1:])
    np.subtract(data[1:], data[:-1], out=rows[1:, 1:])  # uint8 wraps modulo 256, as PNG defines Up
    return rows


def grey_png(rows: np.ndarray, width: int, sixteen: bool) -> bytes:
    """The PNG of a greyscale image `width` pixels wide from all its scanlines (scanlines())."""
    if sixteen:
        idat = deflate.zlib_compress(rows, PNG_COMPRESS_LEVEL)
    else:
        compressor = zlib.compressobj(PNG_COMPRESS_LEVEL, strategy=zlib.Z_RLE)
        idat = compressor.compress(rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, len(rows), 16 if sixteen else 8, 0, 0, 0, 0)  # greyscale, no interlace
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def quantize_depth(depth: np.ndarray) -> tuple[np.ndarray, float, float]:
    """float depth -> (uint16 map spanning 0..65535, depth_min, depth_max)."""
    low, high = float(depth.min()), float(depth.max())
    return depth_levels(depth, low, high), low, high


def depth_levels(depth: np.ndarray, low: float, high: float) -> np.ndarray:
    """uint16 levels of float depth (any part of a map) in the map's range low..high: 0 at low, 65535 at
    high, all 0 for a flat map."""
    span = high - low
    if span == 0.0:
        return np.zeros(depth.shape, dtype=np.uint16)
    # float32 carries 24 bits, ample for 16-bit levels; float64 would double the memory traffic. One
    # temporary, updated in place.
    scaled = np.subtract(depth, np.float32(low), dtype=np.float32)
    scaled *= np.float32(DEPTH_PNG_MAX / span)
    return np.rint(scaled, out=scaled).astype(np.uint16)


def encode_depth(depth: np.ndarray) -> tuple[bytes, float, float]:
    quantized, low, high = quantize_depth(depth)
    return encode_png(quantized), low, high


def decode_depth(png: bytes | Image.Image, depth_min: float, depth_max: float) -> np.ndarray:
    """Inverse of encode_depth, for users and tests: float32 depth from the stored PNG and range."""
    image = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    values = np.asarray(image, dtype=np.float64)
    return (depth_min + values / DEPTH_PNG_MAX * (depth_max - depth_min)).astype(np.float32)
