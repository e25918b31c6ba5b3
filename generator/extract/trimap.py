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


def make_trimap(mask: np.ndarray, width: int | None = None) -> np.ndarray:
    """uint8 (H, W): 255 well inside the mask, 0 well outside, 128 within `width` (default band_width) of its edge."""
    width = band_width(mask) if width is None else width
    trimap = np.where(dilate(mask, width), UNKNOWN, BACKGROUND).astype(np.uint8)
    trimap[erode(mask, width)] = FOREGROUND
    return trimap


def soft_alpha(mask: np.ndarray) -> np.ndarray:
    """uint8 alpha from a mask alone: its edge softened by a blur that follows the object's size, the
    inside opaque and the outside transparent as the mask says."""
    radius = max(MIN_SOFT_PX, round(SOFT_SHARE * object_size(mask)))
    soft = gaussian_blur(mask.astype(np.float32), radius)
    alpha = np.rint(np.clip(soft, 0, 1) * 255).astype(np.uint8)
    alpha[erode(mask, 3 * radius)] = 255
    alpha[~dilate(mask, 3 * radius)] = 0
    return alpha
