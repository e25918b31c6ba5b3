"""Small separable image filters on numpy arrays (float32), for the edge and light effects: box and
near-Gaussian blurs by running sums, a normalised blur that spreads colours by a weight, and a motion blur
along a line. Pixels beyond the array count as zero, which is right for alpha padded with transparent
pixels and for weights."""

from __future__ import annotations

import numpy as np

SMALL_RADIUS = 4


def _running_sum(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sum over a window of 2 * radius + 1 along `axis` (0 or 1), zeros beyond the ends, same shape:
    2r slice additions for small radii, running sums for large ones."""
    n = values.shape[axis]
    if radius > SMALL_RADIUS:
        pad = [(0, 0)] * values.ndim
        pad[axis] = (radius + 1, radius)
        total = np.cumsum(np.pad(values, pad), axis=axis, dtype=np.float32)
        return np.take(total, np.arange(2 * radius + 1, n + 2 * radius + 1), axis=axis) - np.take(total, np.arange(n), axis=axis)
    shape = list(values.shape)
    shape[axis] = n + 2 * radius
    padded = np.zeros(shape, np.float32)
    inner = [slice(None)] * values.ndim
    inner[axis] = slice(radius, radius + n)
    padded[tuple(inner)] = values
    window = [slice(None)] * values.ndim
    window[axis] = slice(0, n)
    total = padded[tuple(window)].copy()
    for offset in range(1, 2 * radius + 1):
        window[axis] = slice(offset, offset + n)
        total += padded[tuple(window)]
    return total


def box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r + 1)^2 square on the first two axes (zeros beyond the array)."""
    if radius <= 0:
        return values.astype(np.float32, copy=True)
    width = np.float32(2 * radius + 1)
    return _running_sum(_running_sum(values, radius, 0), radius, 1) / (width * width)


def gaussian_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Three box passes of `radius`: within a few percent of a Gaussian of sigma sqrt(r (r + 1))."""
    for _ in range(3):
        values = box_blur(values, radius)
    return values


def normalised_blur(values: np.ndarray, weight: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(weighted box mean of `values` (h, w, c) by `weight` (h, w), the summed weight): a colour for
    every pixel within `radius` of a weighted one; 0 where the weight sum is 0."""
    total = box_blur(weight, radius)
    spread = box_blur(values * weight[..., None], radius)
    safe = np.where(total > 1e-6, total, np.float32(1))
    return spread / safe[..., None], total


def motion_blur(values: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Mean of `length` copies shifted along the direction `angle` (radians, image x right, y down),
    centred: the streak of an object moving during the exposure. Zeros shift in at the edges."""
    out = np.zeros(values.shape, np.float32)
    steps = np.arange(length, dtype=np.float64) - (length - 1) / 2
    for step in steps:
        dx, dy = int(round(step * np.cos(angle))), int(round(step * np.sin(angle)))
        out[_shifted(dy, dx, values.shape)] += values[_shifted(-dy, -dx, values.shape)]
    return out / np.float32(length)


def _shifted(dy: int, dx: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The target slices of a shift by (dy, dx); the source slices are those of (-dy, -dx)."""
    rows = slice(max(dy, 0), shape[0] + min(dy, 0))
    cols = slice(max(dx, 0), shape[1] + min(dx, 0))
    return rows, cols
