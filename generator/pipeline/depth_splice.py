"""Composite depth maps stored by their object's box: quantised, filtered and counted only there.

A floor object's composite depth is its background's with the object's visible pixels replaced. Where the
composite keeps its background's range (the object lies within it and hides neither a pixel where the
background reaches its minimum nor one where it reaches its maximum), encode.quantize_depth maps every pixel
outside the object's box to the background's own level. So the stored map is the background's, quantised
once, with the box's levels replaced; its PNG scanlines are the background's but for the box's rows and the
one below it (the Up filter predicts each row from the one above); its sums are the background's plus the
box's difference. Only the compressor sees the whole map. Any other composite takes the plain way, and
both ways give the same bytes (tests/test_fast_paths.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .encode import depth_levels, encode_png, grey_png, quantize_depth, scanlines
from .moments import exact_moments

if TYPE_CHECKING:
    from .depth import ObjectDepth


@dataclass(frozen=True, eq=False)
class PlainDepth:
    """A depth map as stored: uint16 levels spanning 0..65535 and the float range they map back to."""

    quantized: np.ndarray  # (H, W) uint16
    low: float
    high: float

    @classmethod
    def of(cls, depth: np.ndarray) -> "PlainDepth":
        return cls(*quantize_depth(depth))

    def png(self) -> bytes:
        return encode_png(self.quantized)

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
        flat = np.argmin(depth), np.argmax(depth)
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
        return SplicedDepth(self, standing.y, standing.x, depth_levels(values, low, high))

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


def _level_moments(levels: np.ndarray) -> tuple[int, int]:
    """Exact sum and sum of squares of uint16 levels: in int64 (a square is below 2**32, a box's sum of
    them far below 2**63), twice as fast on a box as moments.exact_moments' float planes."""
    values = levels.astype(np.int64).ravel()
    return int(values.sum()), int(values @ values)
