"""Stage 3, composite: paste a cut-out on its background by alpha, and draw its mask on black.

Only the foreground's box is touched: the blend is vectorised over that box, and every pixel outside it
is the background's own byte. Pixels where alpha is 0 keep the background exactly, so the composite
equals its background outside the mask.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .plan import Placement, scaled_shape


def prepare_cutout(rgba: np.ndarray, flipped: bool, scale: float) -> np.ndarray:
    """The cut-out as placed: flipped left-right and scaled (image and alpha together)."""
    if flipped:
        rgba = rgba[:, ::-1]
    if scale != 1.0:
        height, width = scaled_shape(rgba.shape[:2], scale)
        image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
        rgba = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))
    return np.ascontiguousarray(rgba)


def composite(background: np.ndarray, cutout: np.ndarray, place: Placement, soft_mask: bool) -> tuple[np.ndarray, np.ndarray]:
    """(composite RGB uint8 (S, S, 3), mask uint8 (S, S)) for one placement.

    The mask is binary 0/255 over every pixel the foreground touches (alpha > 0), or the alpha itself
    with `soft_mask`."""
    height, width = cutout.shape[:2]
    box = np.s_[place.y : place.y + height, place.x : place.x + width]
    alpha = cutout[..., 3]
    image = background.copy()
    # Integer blend, rounded to nearest: (fg * a + bg * (255 - a) + 127) // 255. Exact at a = 0 (the
    # background's own byte) and a = 255 (the foreground's), and faster than float.
    a = alpha[..., None].astype(np.uint16)
    blended = cutout[..., :3] * a + image[box] * (255 - a) + 127
    image[box] = (blended // 255).astype(np.uint8)
    mask = np.zeros(background.shape[:2], dtype=np.uint8)
    mask[box] = alpha if soft_mask else np.where(alpha > 0, 255, 0).astype(np.uint8)
    return image, mask


def mask_bbox(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] of the mask's non-zero pixels, end-exclusive; zeros for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def placed_bbox(mask: np.ndarray, place: Placement, shape: tuple[int, int]) -> list[int]:
    """mask_bbox of a composite's mask, looking only inside the foreground's box of `shape` (the mask is
    zero everywhere else): a few thousand pixels instead of the whole image."""
    height, width = shape
    x0, y0, x1, y1 = mask_bbox(mask[place.y : place.y + height, place.x : place.x + width])
    if x1 == 0:
        return [0, 0, 0, 0]
    return [x0 + place.x, y0 + place.y, x1 + place.x, y1 + place.y]
