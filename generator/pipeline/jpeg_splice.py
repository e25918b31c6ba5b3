"""Composite JPEGs that encode, and decode for the statistics, only the MCUs a cut-out touches.

A baseline JPEG with a restart marker after every MCU (a 16 x 16 pixel block with 4:2:0 chroma) codes each
MCU on its own: the colour transform, chroma subsampling, DCT and quantisation never look outside the MCU,
and the DC predictor restarts at each marker. So a composite's JPEG is its background's, with the MCUs its
cut-out touches replaced by those of that rectangle encoded alone: byte for byte what the encoder writes
for the whole composite (tests/test_jpeg_splice.py), at the cost of encoding the rectangle. The rectangles
of one background's composites are encoded stacked in one image, for the same reason: the encoder's set-up
is most of a small rectangle's time.

Decoding is as local, but for chroma upsampling, which blends each pixel with the chroma of the next MCU:
a composite decodes to its background's pixels except in the rectangle and a ring of one pixel around it.
Those pixels are decoded from a JPEG of the rectangle and one MCU around it; the rest of the exact
statistics (what a user decodes, counted pixel for pixel) are the background's decoded pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .encode import encode_image
from .moments import histogram_moments

_SOI, _EOI, _SOS, _DRI = b"\xff\xd8", b"\xff\xd9", 0xDA, 0xDD
_SOF_BASELINE = (0xC0, 0xC1)  # the frame headers PIL's encoder writes for a baseline JPEG
_RESTART = re.compile(rb"\xff[\xd0-\xd7]")  # in entropy-coded data a 0xFF byte is always followed by 0x00
_RESTART_MARKERS = [bytes([0xFF, 0xD0 + i]) for i in range(8)]


@dataclass(frozen=True)
class Box:
    """A rectangle of MCUs (or pixels): rows top..bottom, columns left..right, end-exclusive."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left


@dataclass(frozen=True)
class McuCodedJpeg:
    """A JPEG with a restart marker after every MCU, split at them: the header (SOI up to the end of the
    scan header) and the entropy-coded bytes of each MCU, row-major, without their markers."""

    header: bytes
    mcus: tuple[bytes, ...]
    mcu_size: tuple[int, int]  # (height, width) in pixels
    columns: int  # MCUs per row
    frame: int  # offset of the frame header's height field (the width follows it)

    @classmethod
    def encode(cls, rgb: np.ndarray, quality: int) -> "McuCodedJpeg":
        jpeg = encode_image(rgb, "jpeg", quality)
        header_end, mcu_size, frame = _parse_header(jpeg)
        mcus = tuple(_RESTART.split(jpeg[header_end:-2]))
        columns = -(-rgb.shape[1] // mcu_size[1])
        if len(mcus) != columns * -(-rgb.shape[0] // mcu_size[0]) or not jpeg.endswith(_EOI):
            raise ValueError("the JPEG encoder did not write a restart marker after every MCU")
        return cls(jpeg[:header_end], mcus, mcu_size, columns, frame)

    @property
    def rows(self) -> int:
        return len(self.mcus) // self.columns

    def encode_patch(self, rgb: np.ndarray, quality: int) -> tuple[bytes, ...]:
        """The MCUs of `rgb`, a rectangle of MCUs of this image, encoded alone with the same settings. Its
        header is this one's but for the size (checked, not assumed), so its MCUs start where it ends."""
        jpeg = encode_image(rgb, "jpeg", quality)
        frame, end = self.frame, len(self.header)
        if jpeg[:frame] != self.header[:frame] or jpeg[frame + 4 : end] != self.header[frame + 4 :]:
            raise ValueError("the patch was not encoded with the image's settings")
        return tuple(_RESTART.split(jpeg[end:-2]))

    def with_mcus(self, box: Box, patch: tuple[bytes, ...]) -> "McuCodedJpeg":
        """This image with the MCUs in `box` replaced by `patch` (encode_patch's)."""
        mcus = list(self.mcus)
        width = box.right - box.left
        for row in range(box.top, box.bottom):
            start = (row - box.top) * width
            mcus[row * self.columns + box.left : row * self.columns + box.right] = patch[start : start + width]
        return McuCodedJpeg(self.header, tuple(mcus), self.mcu_size, self.columns, self.frame)

    def to_bytes(self, box: Box | None = None, size: tuple[int, int] | None = None) -> bytes:
        """The JPEG of the MCUs in `box` (all by default), `size` (width, height) in pixels written into
        the frame header when a part is taken."""
        if box is None:
            return self.header + _with_markers(self.mcus) + _EOI
        width, height = size
        header = self.header[: self.frame] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + self.header[self.frame + 4 :]
        mcus = []
        for row in range(box.top, box.bottom):
            mcus.extend(self.mcus[row * self.columns + box.left : row * self.columns + box.right])
        return header + _with_markers(mcus) + _EOI


def _with_markers(mcus) -> bytes:
    """MCUs joined by the restart markers a decoder expects between them: RST0, RST1, ... RST7, RST0, ..."""
    parts = [b""] * (2 * len(mcus) - 1)
    parts[0::2] = mcus
    parts[1::2] = (_RESTART_MARKERS * (len(mcus) // 8 + 1))[: len(mcus) - 1]
    return b"".join(parts)


def _parse_header(jpeg: bytes) -> tuple[int, tuple[int, int], int]:
    """(end of the scan header, MCU (height, width) in pixels, offset of the frame's height field),
    walking the marker segments from SOI; refuses JPEGs not restarted after every MCU."""
    if not jpeg.startswith(_SOI):
        raise ValueError("not a JPEG")
    position, mcu_size, frame, interval = 2, None, None, None
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF:
        marker = jpeg[position + 1]
        length = int.from_bytes(jpeg[position + 2 : position + 4], "big")
        if marker in _SOF_BASELINE:
            components = jpeg[position + 9]
            factors = [jpeg[position + 11 + 3 * c] for c in range(components)]
            mcu_size = (8 * max(f & 0x0F for f in factors), 8 * max(f >> 4 for f in factors))
            frame = position + 5
        elif marker == _DRI:
            interval = int.from_bytes(jpeg[position + 4 : position + 6], "big")
        elif marker == _SOS:
            if mcu_size is None:
                raise ValueError("not a baseline JPEG")
            if interval != 1:
                raise ValueError("the JPEG is not restarted after every MCU")
            return position + 2 + length, mcu_size, frame
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
        """From PIL's Image.histogram() of an 8-bit image (stats.histogram_moments)."""
        return cls(*histogram_moments(histogram))


class BackgroundJpeg:
    """A background's MCU-coded JPEG and its decoded pixels, to make composites of."""

    def __init__(self, rgb: np.ndarray, quality: int):
        self.code = McuCodedJpeg.encode(rgb, quality)
        self.quality = quality
        self.height, self.width = rgb.shape[:2]
        decoded = np.asarray(Image.frombytes("RGB", (self.width, self.height), self.code.to_bytes(), "jpeg", "RGB", ""))
        # Summed-area tables of the decoded pixels and their squares: any rectangle's moments in four
        # lookups. int64 is exact: 255**2 times a million pixels is far below 2**63.
        values = decoded.astype(np.int64)
        self._sums = _summed_area(values)
        self._squares = _summed_area(values * values)
        self.total = self.moments(Box(0, self.height, 0, self.width))

    def moments(self, box: Box) -> Moments:
        """Exact moments of the decoded background's pixels in the pixel rectangle `box`."""
        return Moments(_box_total(self._sums, box), _box_total(self._squares, box))

    def composite(self, rgb: np.ndarray, box: Box) -> "CompositeJpeg":
        """The JPEG of `rgb`, a composite equal to the background outside the pixel rectangle `box`."""
        mcus = self._mcu_box(box)
        if mcus.empty:
            return CompositeJpeg(self, self.code, mcus)
        pixels = self.pixel_box(mcus)
        patch = self.code.encode_patch(rgb[pixels.top : pixels.bottom, pixels.left : pixels.right], self.quality)
        return CompositeJpeg(self, self.code.with_mcus(mcus, patch), mcus)

    def composites(self, images: Sequence[np.ndarray], boxes: Sequence[Box]) -> list["CompositeJpeg"]:
        """[self.composite(image, box) for each], byte for byte, with their patches of whole MCUs encoded
        in one image, stacked: each MCU is coded alone, so its bytes do not depend on its neighbours, and
        the encoder's set-up (most of a small patch's time) is paid once. A patch cut by the image's right
        or bottom edge (a partial MCU, padded by the encoder) is encoded alone."""
        made: list[CompositeJpeg | None] = [None] * len(images)
        stacked = []
        for i, (image, box) in enumerate(zip(images, boxes)):
            mcus = self._mcu_box(box)
            if mcus.empty or not self._whole_mcus(mcus):
                made[i] = self.composite(image, box)
            else:
                stacked.append((i, mcus))
        for batch in _batches(stacked, _MAX_ROWS // self.code.mcu_size[0]):
            patches = self._encode_stacked([images[i] for i, _ in batch], [mcus for _, mcus in batch])
            for (i, mcus), patch in zip(batch, patches):
                made[i] = CompositeJpeg(self, self.code.with_mcus(mcus, patch), mcus)
        return made

    def _whole_mcus(self, mcus: Box) -> bool:
        pixels = self.pixel_box(mcus)
        mcu_height, mcu_width = self.code.mcu_size
        return (pixels.bottom - pixels.top, pixels.right - pixels.left) == (mcu_height * (mcus.bottom - mcus.top), mcu_width * (mcus.right - mcus.left))

    def _encode_stacked(self, images: list[np.ndarray], boxes: list[Box]) -> list[tuple[bytes, ...]]:
        """The MCUs of each image's box of MCUs, encoded as one image: the boxes stacked top to bottom at
        its left edge (the rest of its rows is black, and dropped)."""
        mcu_height, mcu_width = self.code.mcu_size
        columns = max(box.right - box.left for box in boxes)
        canvas = np.zeros((mcu_height * sum(box.bottom - box.top for box in boxes), mcu_width * columns, 3), np.uint8)
        top = 0
        for image, box in zip(images, boxes):
            pixels = self.pixel_box(box)
            canvas[top : top + pixels.bottom - pixels.top, : pixels.right - pixels.left] = image[pixels.top : pixels.bottom, pixels.left : pixels.right]
            top += pixels.bottom - pixels.top
        coded = self.code.encode_patch(canvas, self.quality)
        patches, row = [], 0
        for box in boxes:
            width = box.right - box.left
            patches.append(tuple(mcu for r in range(row, row + box.bottom - box.top) for mcu in coded[r * columns : r * columns + width]))
            row += box.bottom - box.top
        return patches

    def pixel_box(self, mcus: Box, margin: int = 0) -> Box:
        """The pixels of a box of MCUs, `margin` pixels wider on each side, within the image."""
        (mcu_height, mcu_width) = self.code.mcu_size
        return Box(max(mcus.top * mcu_height - margin, 0), min(mcus.bottom * mcu_height + margin, self.height),
                   max(mcus.left * mcu_width - margin, 0), min(mcus.right * mcu_width + margin, self.width))

    def _mcu_box(self, box: Box) -> Box:
        if box.empty:
            return Box(0, 0, 0, 0)
        mcu_height, mcu_width = self.code.mcu_size
        return Box(int(box.top) // mcu_height, -(-int(box.bottom) // mcu_height), int(box.left) // mcu_width, -(-int(box.right) // mcu_width))


_MAX_ROWS = 65500  # pixel rows of a stacked image: a JPEG's height is 16 bits


def _batches(items: list[tuple[int, Box]], max_mcu_rows: int) -> list[list[tuple[int, Box]]]:
    """`items` ((index, box of MCUs)) in order, cut into runs of at most `max_mcu_rows` rows of MCUs."""
    batches, rows = [], max_mcu_rows
    for item in items:
        height = item[1].bottom - item[1].top
        if rows + height > max_mcu_rows:
            batches.append([])
            rows = 0
        batches[-1].append(item)
        rows += height
    return batches


def _summed_area(values: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1, C): the sums of values[:y, :x] per channel."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1, values.shape[2]), dtype=np.int64)
    np.cumsum(np.cumsum(values, axis=0), axis=1, out=table[1:, 1:])
    return table


def _box_total(table: np.ndarray, box: Box) -> np.ndarray:
    return table[box.bottom, box.right] - table[box.top, box.right] - table[box.bottom, box.left] + table[box.top, box.left]


@dataclass(frozen=True)
class CompositeJpeg:
    background: BackgroundJpeg
    code: McuCodedJpeg
    mcus: Box  # the MCUs that differ from the background's

    def to_bytes(self) -> bytes:
        return self.code.to_bytes()

    def moments(self) -> Moments:
        """Exact moments of the composite as a decoder reads its JPEG: the background's decoded pixels,
        with those that differ (the MCUs and a ring of one pixel) decoded from the composite."""
        background = self.background
        if self.mcus.empty:
            return background.total
        changed = background.pixel_box(self.mcus, margin=1)
        # One MCU of context around, so that the pixels kept are upsampled as in the whole image.
        context_mcus = Box(max(self.mcus.top - 1, 0), min(self.mcus.bottom + 1, self.code.rows),
                           max(self.mcus.left - 1, 0), min(self.mcus.right + 1, self.code.columns))
        context = background.pixel_box(context_mcus)
        size = (context.right - context.left, context.bottom - context.top)
        decoded = Image.frombytes("RGB", size, self.code.to_bytes(context_mcus, size), "jpeg", "RGB", "")
        crop = decoded.crop((changed.left - context.left, changed.top - context.top, changed.right - context.left, changed.bottom - context.top))
        return background.total - background.moments(changed) + Moments.of_histogram(crop.histogram())
