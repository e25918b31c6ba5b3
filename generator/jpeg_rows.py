"""Composite JPEGs that encode, and decode for the statistics, only the rows a cut-out touches.

A baseline JPEG with a restart marker after every row of MCUs (16 pixel rows with 4:2:0 chroma) codes each
MCU row on its own: the colour transform, chroma subsampling, DCT and quantisation never look outside the
MCU, and the DC predictor restarts at each marker. So a composite's JPEG is its background's, with the MCU
rows its cut-out touches replaced by those of a strip encoded alone: byte for byte what the encoder writes
for the whole composite (tests/test_jpeg_rows.py), at the cost of encoding the strip.

Decoding is as local, but for chroma upsampling, which blends each pixel row with the chroma of the next
MCU row: a composite decodes to its background's pixels except in the strip and one pixel row either side.
Those rows are decoded from a JPEG of the strip and one MCU row either side; the rest of the exact
statistics (issue 4) are the background's decoded rows, summed once per background.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .encode import encode_image

_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", 0xDA
_SOF_BASELINE = (0xC0, 0xC1)  # the frame headers PIL's encoder writes for a baseline JPEG
_RESTART = re.compile(rb"\xff[\xd0-\xd7]")  # in entropy-coded data a 0xFF byte is always followed by 0x00
_RESTART_MARKERS = [bytes([0xFF, 0xD0 + i]) for i in range(8)]


@dataclass(frozen=True)
class RowCodedJpeg:
    """A JPEG split at its restart markers: the header (SOI up to the end of the scan header) and the
    entropy-coded bytes of each MCU row, without their markers."""

    header: bytes
    rows: tuple[bytes, ...]
    mcu_height: int  # pixel rows per MCU row
    height_offset: int  # where the frame header stores the image height

    @classmethod
    def parse(cls, jpeg: bytes) -> "RowCodedJpeg":
        header_end, mcu_height, height_offset = _scan_header(jpeg)
        if not jpeg.endswith(_EOI):
            raise ValueError("JPEG does not end with EOI")
        return cls(jpeg[:header_end], tuple(_RESTART.split(jpeg[header_end:-2])), mcu_height, height_offset)

    @classmethod
    def encode(cls, rgb: np.ndarray, quality: int) -> "RowCodedJpeg":
        return cls.parse(encode_image(rgb, "jpeg", quality))

    def with_strip(self, first_row: int, strip: bytes) -> "RowCodedJpeg":
        """This image with MCU rows first_row.. replaced by those of `strip`, the JPEG of a strip of the
        same width encoded with the same settings: its header is this one's but for the height, so its
        rows start where this header ends (checked, not assumed)."""
        offset, end = self.height_offset, len(self.header)
        if strip[:offset] != self.header[:offset] or strip[offset + 2 : end] != self.header[offset + 2 :]:
            raise ValueError("the strip was not encoded with the image's settings")
        rows = tuple(_RESTART.split(strip[end:-2]))
        return RowCodedJpeg(self.header, self.rows[:first_row] + rows + self.rows[first_row + len(rows) :], self.mcu_height, offset)

    def to_bytes(self, first_row: int = 0, stop_row: int | None = None, height: int | None = None) -> bytes:
        """The JPEG of MCU rows first_row..stop_row (all by default); `height` (pixel rows) is written into
        the frame header when a part is taken."""
        rows = self.rows[first_row:stop_row]
        header = self.header
        if height is not None:
            offset = self.height_offset
            header = header[:offset] + height.to_bytes(2, "big") + header[offset + 2 :]
        parts = [header]
        for index, row in enumerate(rows):
            if index:
                parts.append(_RESTART_MARKERS[(index - 1) % 8])
            parts.append(row)
        parts.append(_EOI)
        return b"".join(parts)


def _scan_header(jpeg: bytes) -> tuple[int, int, int]:
    """(end of the scan header, MCU height in pixels, offset of the frame's height field), walking the
    marker segments from SOI."""
    if not jpeg.startswith(_SOI):
        raise ValueError("not a JPEG")
    position, mcu_height, height_offset = 2, None, None
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF:
        marker = jpeg[position + 1]
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        if marker in _SOF_BASELINE:
            components = jpeg[position + 9]
            vertical = [jpeg[position + 11 + 3 * c] & 0x0F for c in range(components)]
            mcu_height, height_offset = 8 * max(vertical), position + 5
        if marker == _SOS:
            if mcu_height is None:
                raise ValueError("not a baseline JPEG")
            return position + 2 + length, mcu_height, height_offset
        position += 2 + length
    raise ValueError("JPEG has no scan")


@dataclass(frozen=True)
class Moments:
    """Exact per-channel sums and sums of squares of 8-bit pixel values."""

    sums: np.ndarray  # (channels,) int64
    squares: np.ndarray  # (channels,) int64

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.sums + other.sums, self.squares + other.squares)

    def __sub__(self, other: "Moments") -> "Moments":
        return Moments(self.sums - other.sums, self.squares - other.squares)

    @classmethod
    def of_histogram(cls, histogram: list[int]) -> "Moments":
        """From PIL's Image.histogram() of an 8-bit image (256 counts per channel): one C pass over the
        pixels, faster than any numpy reduction of them."""
        counts = np.asarray(histogram, dtype=np.int64).reshape(-1, 256)
        return cls(counts @ _LEVELS, counts @ _LEVELS_SQUARED)


_LEVELS = np.arange(256, dtype=np.int64)
_LEVELS_SQUARED = _LEVELS * _LEVELS


class BackgroundJpeg:
    """A background's row-coded JPEG, and the moments of its decoded pixel rows, to make composites of."""

    def __init__(self, rgb: np.ndarray, quality: int):
        self.code = RowCodedJpeg.encode(rgb, quality)
        self.quality = quality
        self.height, self.width = rgb.shape[:2]
        decoded = np.asarray(Image.open(io.BytesIO(self.code.to_bytes())).convert("RGB"), dtype=np.int64)
        # Prefix sums over pixel rows: the moments of rows a..b are two lookups. int64 is exact for any
        # image the options allow (8192**2 pixels * 255**2 < 2**63).
        self._sums = np.zeros((self.height + 1, 3), dtype=np.int64)
        self._squares = np.zeros((self.height + 1, 3), dtype=np.int64)
        np.cumsum(decoded.sum(axis=1), axis=0, out=self._sums[1:])
        np.cumsum((decoded * decoded).sum(axis=1), axis=0, out=self._squares[1:])

    def rows_moments(self, top: int, bottom: int) -> Moments:
        return Moments(self._sums[bottom] - self._sums[top], self._squares[bottom] - self._squares[top])

    def composite(self, rgb: np.ndarray, top: int, bottom: int) -> "CompositeJpeg":
        """The JPEG of `rgb`, a composite equal to the background outside pixel rows top..bottom."""
        first, stop = self._mcu_rows(int(top), int(bottom))
        if first == stop:
            return CompositeJpeg(self, self.code, first, stop)
        mcu = self.code.mcu_height
        strip = encode_image(rgb[first * mcu : min(stop * mcu, self.height)], "jpeg", self.quality)
        return CompositeJpeg(self, self.code.with_strip(first, strip), first, stop)

    def _mcu_rows(self, top: int, bottom: int) -> tuple[int, int]:
        if bottom <= top:
            return 0, 0
        mcu = self.code.mcu_height
        return top // mcu, -(-bottom // mcu)


@dataclass(frozen=True)
class CompositeJpeg:
    background: BackgroundJpeg
    code: RowCodedJpeg
    first: int  # the MCU rows first..stop differ from the background's
    stop: int

    def to_bytes(self) -> bytes:
        return self.code.to_bytes()

    def moments(self) -> Moments:
        """Exact moments of the composite as a decoder reads its JPEG: the background's decoded rows,
        with those that differ (the strip and one pixel row either side) decoded from the composite."""
        background = self.background
        total = background.rows_moments(0, background.height)
        if self.first == self.stop:
            return total
        mcu, rows = self.code.mcu_height, len(self.code.rows)
        top, bottom = max(self.first * mcu - 1, 0), min(self.stop * mcu + 1, background.height)
        # One MCU row of context either side, so that the rows kept are upsampled as in the whole image.
        context_first, context_stop = max(self.first - 1, 0), min(self.stop + 1, rows)
        origin, end = context_first * mcu, min(context_stop * mcu, background.height)
        jpeg = self.code.to_bytes(context_first, context_stop, end - origin)
        decoded = Image.frombytes("RGB", (background.width, end - origin), jpeg, "jpeg", "RGB", "")
        changed = decoded.crop((0, top - origin, background.width, bottom - origin))
        return total - background.rows_moments(top, bottom) + Moments.of_histogram(changed.histogram())
