"""Composite depth maps stored by their object's box: quantised, filtered and counted only there.

A floor object's composite depth is its background's with the object's visible pixels replaced. Where the
composite keeps its background's range (the object lies within it and hides neither a pixel where the
background reaches its minimum nor one where it reaches its maximum), encode.quantize_depth maps every pixel
outside the object's box to the background's own level. So the stored map is the background's, quantised
once, with the box's levels replaced; its PNG scanlines are the background's but for the box's rows and the
one below it (the Up filter predicts each row from the one above); its sums are the background's plus the
box's difference. Only the compressor sees the whole map. Any other composite takes the plain way, and
both ways give the same bytes (tests/test_fast_paths.py).

A map with holes (NaN, depth_holes.py) takes its range from its known pixels, stores level 0 at its holes
(so they add nothing to the level sums) and carries its known pixels, stored as the `depth_known` mask; the
pixels an object covers are known, whatever lies behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .encode import depth_levels, encode_png, grey_png, scanlines
from .moments import exact_moments

if TYPE_CHECKING:
    from .depth import ObjectDepth


@dataclass(frozen=True, eq=False)
class PlainDepth:
    """A depth map as stored: uint16 levels spanning 0..65535 and the float range they map back to, and
    its known pixels (None where all are)."""

    quantized: np.ndarray  # (H, W) uint16, 0 at the holes
    low: float
    high: float
    known: np.ndarray | None = None  # (H, W) bool

    @classmethod
    def of(cls, depth: np.ndarray) -> "PlainDepth":
        low, high = float(depth.min()), float(depth.max())
        if not math.isnan(low):  # a hole would make the minimum NaN: none, so quantize_depth's way
            return cls(depth_levels(depth, low, high), low, high)
        known = np.isfinite(depth)
        low, high = float(depth[known].min()), float(depth[known].max())
        return cls(depth_levels(np.where(known, depth, np.float32(low)), low, high), low, high, known)

    def png(self) -> bytes:
        return encode_png(self.quantized)

    def known_png(self) -> bytes | None:
        """The `depth_known` mask: 255 where the depth is known, 0 at a hole; None for a map without holes."""
        return known_png(self.known)

    @property
    def known_pixels(self) -> int:
        return self.quantized.size if self.known is None else int(np.count_nonzero(self.known))

    def moments(self) -> tuple[list[int], list[int]]:
        """Exact sum and sum of squares of the levels, as one channel."""
        return exact_moments(self.quantized.reshape(-1, 1))


class BackgroundDepth:
    """A background's float depth with its stored form (PlainDepth), scanlines and moments, to splice
    its composites' depth from."""

    def __init__(self, depth: np.ndarray):
        self.depth = depth
        self.plain = PlainDepth.of(depth)
        self.scanlines = scanlines(self.plain.quantized)
        self.sums, self.squares = self.plain.moments()
        flat = np.nanargmin(depth), np.nanargmax(depth)
        self.extremes = [np.unravel_index(i, depth.shape) for i in flat]  # (row, col) of a minimum, a maximum

    def with_object(self, standing: "ObjectDepth", visible: np.ndarray) -> "PlainDepth | SplicedDepth":
        """The stored depth of this background with the object's depth where it is `visible` ((h, w) bool
        over its box at standing.y, standing.x)."""
        height, width = visible.shape
        box = np.s_[standing.y : standing.y + height, standing.x : standing.x + width]
        shown = standing.depth[visible]
        values = self.depth[box].copy()
        values[visible] = shown
        low, high = self.plain.low, self.plain.high
        if shown.size and (shown.min() < low or shown.max() > high or any(self._covers(standing, visible, p) for p in self.extremes)):
            whole = self.depth.copy()
            whole[box] = values
            return PlainDepth.of(whole)
        if self.plain.known is None:
            return SplicedDepth(self, standing.y, standing.x, depth_levels(values, low, high))
        known = np.isfinite(values)
        return SplicedDepth(self, standing.y, standing.x, depth_levels(np.where(known, values, np.float32(low)), low, high), known)

    @staticmethod
    def _covers(standing: "ObjectDepth", visible: np.ndarray, pixel: tuple[int, int]) -> bool:
        row, col = pixel[0] - standing.y, pixel[1] - standing.x
        return 0 <= row < visible.shape[0] and 0 <= col < visible.shape[1] and bool(visible[row, col])


@dataclass(frozen=True, eq=False)
class SplicedDepth:
    """A composite's stored depth: its background's, with the levels of the box at (y, x) replaced."""

    background: BackgroundDepth
    y: int
    x: int
    levels: np.ndarray  # (h, w) uint16, in the background's range
    box_known: np.ndarray | None = None  # (h, w) bool: the box's known pixels, where the background has holes

    @property
    def low(self) -> float:
        return self.background.plain.low

    @property
    def high(self) -> float:
        return self.background.plain.high

    @cached_property
    def quantized(self) -> np.ndarray:
        whole = self.background.plain.quantized.copy()
        whole[self._box] = self.levels
        return whole

    @cached_property
    def known(self) -> np.ndarray | None:
        if self.box_known is None:
            return None
        whole = self.background.plain.known.copy()
        whole[self._box] = self.box_known
        return whole

    def known_png(self) -> bytes | None:
        return known_png(self.known)

    @property
    def known_pixels(self) -> int:
        if self.box_known is None:
            return self.background.plain.known_pixels
        was = int(np.count_nonzero(self.background.plain.known[self._box]))
        return self.background.plain.known_pixels - was + int(np.count_nonzero(self.box_known))

    @property
    def _box(self):
        height, width = self.levels.shape
        return np.s_[self.y : self.y + height, self.x : self.x + width]

    def png(self) -> bytes:
        """encode_png(self.quantized), filtering only the rows that differ from the background's."""
        background = self.background.plain.quantized
        height, width = self.levels.shape
        # Rows y .. y + height differ: the box's, and the one below, predicted from the box's last row.
        top, bottom = self.y, min(self.y + height + 1, background.shape[0])
        rows = background[top:bottom].copy()
        rows[: height, self.x : self.x + width] = self.levels
        lines = self.background.scanlines.copy()
        lines[top:bottom] = scanlines(rows, above=background[top - 1] if top > 0 else None)
        return grey_png(lines, background.shape[1], sixteen=True)

    def moments(self) -> tuple[list[int], list[int]]:
        """PlainDepth.moments of the whole map: the background's, less its box's, plus the box's levels'."""
        was_sum, was_square = _level_moments(self.background.plain.quantized[self._box])
        box_sum, box_square = _level_moments(self.levels)
        (total,), (squares,) = self.background.sums, self.background.squares
        return [total - was_sum + box_sum], [squares - was_square + box_square]


def known_png(known: np.ndarray | None) -> bytes | None:
    """The `depth_known` column's PNG (8-bit, 255 known, 0 a hole); None where every pixel is known."""
    return None if known is None or known.all() else encode_png(np.where(known, np.uint8(255), np.uint8(0)))


def _level_moments(levels: np.ndarray) -> tuple[int, int]:
    """Exact sum and sum of squares of uint16 levels: in int64 (a square is below 2**32, a box's sum of
    them far below 2**63), twice as fast on a box as moments.exact_moments' float planes."""
    values = levels.astype(np.int64).ravel()
    return int(values.sum()), int(values @ values)
