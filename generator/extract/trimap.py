"""Stage 3a: the trimap a matting model refines, from a segmenter's mask. Its unknown band (128) is the
mask eroded and dilated by a width that follows the object's size, so a large object's soft edge (hair,
fur) fits inside it and a small object keeps a core of known foreground (255). Without a matting model the
alpha is the mask, softened across a band of the same kind."""

from __future__ import annotations

import math

import numpy as np

from ..pipeline.filters import box_blur, gaussian_blur

FOREGROUND, UNKNOWN, BACKGROUND = 255, 128, 0
BAND_SHARE = 0.04  # unknown band on each side of the edge, as a share of the object's size (sqrt of its area)
MIN_BAND_PX = 2
SOFT_SHARE = 0.01  # --no-matting: blur radius of the mask's edge, as a share of the object's size
MIN_SOFT_PX = 1


def object_size(mask: np.ndarray) -> float:
    """An object's size in pixels: the side of a square of its area."""
    return math.sqrt(float(np.count_nonzero(mask)))


def band_width(mask: np.ndarray) -> int:
    """Pixels of unknown band on each side of the mask's edge."""
    return max(MIN_BAND_PX, round(BAND_SHARE * object_size(mask)))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Every pixel within a (2r + 1) square of a mask pixel."""
    return box_blur(mask.astype(np.float32), radius) > 1e-4


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """The pixels whose whole (2r + 1) square is mask (outside the array counts as background)."""
    return box_blur(mask.astype(np.float32), radius) > 1 - 1e-4


def around(mask: np.ndarray, reach: int) -> tuple[slice, slice]:
    """The mask's bounding box grown by `reach` px and clipped to the array: all that an erosion, a
    dilation or a blur reaching that far can change (the rest of a large photo stays background)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return (slice(max(0, rows[0] - reach), rows[-1] + 1 + reach), slice(max(0, cols[0] - reach), cols[-1] + 1 + reach))


def make_trimap(mask: np.ndarray, width: int | None = None) -> np.ndarray:
    """uint8 (H, W): 255 well inside the mask, 0 well outside, 128 within `width` (default band_width) of its edge."""
    width = band_width(mask) if width is None else width
    trimap = np.zeros(mask.shape, np.uint8)
    box = around(mask, width + 1)
    part = mask[box]
    trimap[box] = np.where(dilate(part, width), UNKNOWN, BACKGROUND)
    trimap[box][erode(part, width)] = FOREGROUND
    return trimap


def soft_alpha(mask: np.ndarray) -> np.ndarray:
    """uint8 alpha from a mask alone: its edge softened by a blur that follows the object's size, the
    inside opaque and the outside transparent as the mask says."""
    radius = max(MIN_SOFT_PX, round(SOFT_SHARE * object_size(mask)))
    alpha = np.zeros(mask.shape, np.uint8)
    box = around(mask, 3 * radius + 1)  # three box passes of `radius` reach 3 radius px
    part = mask[box]
    soft = np.rint(np.clip(gaussian_blur(part.astype(np.float32), radius), 0, 1) * 255).astype(np.uint8)
    soft[erode(part, 3 * radius)] = 255
    soft[~dilate(part, 3 * radius)] = 0
    alpha[box] = soft
    return alpha
