"""Edges: how a placed cut-out's edge meets the background.

- `alpha`: the plain alpha blend (composite.py).
- `gaussian`, `box`: the alpha softened by a blur (three box passes, or one) of radius
  max(1, round(longest side / 192)) px before blending, so the edge fades over a few pixels and spreads
  outside the mask by up to the blur's reach.
- `motion`: the whole layer (colour premultiplied by alpha, and alpha) smeared along a seeded direction
  over a seeded length, as an object moving during the exposure.
- `poisson`: gradient-domain blending: the object's colours plus a harmonic offset (a membrane, solved
  exactly on the silhouette's box grown by `POISSON_PAD` px with a discrete sine transform) that takes
  the background's colour minus the object's at the border of that box; the offset is then alpha-blended,
  so nothing outside the mask changes.

Every layer is integer-blended like composite.py, (c * a + bg * (255 - a) + 127) // 255: exact where
the layer's alpha is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .filters import box_blur, gaussian_blur, motion_blur, normalised_blur

BLEND_MODES = ("alpha", "gaussian", "box", "motion", "poisson")
MOTION_LENGTH = (3, 9)  # px, seeded
POISSON_PAD = 2


@dataclass
class Layer:
    """Colours (h, w, 3) uint8 and alpha (h, w) uint8 with their top-left corner in the background."""

    colour: np.ndarray
    alpha: np.ndarray
    top: int
    left: int


def blur_radius(shape: tuple[int, int]) -> int:
    return max(1, round(max(shape) / 192))


def soft_layer(colour: np.ndarray, alpha: np.ndarray, mode: str, top: int, left: int, rng: np.random.Generator) -> Layer:
    """The layer of a cut-out (visible alpha: hidden pixels already 0) at (top, left) blended by `mode`
    (one of alpha, gaussian, box, motion; poisson is poisson_colours on an alpha layer)."""
    if mode in ("alpha", "poisson"):
        return Layer(colour, alpha, top, left)
    radius = blur_radius(alpha.shape)
    if mode == "motion":
        length = int(rng.integers(MOTION_LENGTH[0], MOTION_LENGTH[1] + 1))
        angle = float(rng.uniform(0, np.pi))
        pad = length // 2 + 1
    else:
        pad = 3 * radius if mode == "gaussian" else radius
    height, width = alpha.shape
    a = np.zeros((height + 2 * pad, width + 2 * pad), np.float32)
    c = np.zeros((height + 2 * pad, width + 2 * pad, 3), np.float32)
    a[pad:-pad, pad:-pad] = alpha
    a *= np.float32(1 / 255)
    c[pad:-pad, pad:-pad] = colour
    spread, _ = normalised_blur(c, a, pad)
    c = np.where(a[..., None] > 0, c, spread)  # colours for the pixels the blur reaches
    if mode == "motion":
        premultiplied = motion_blur(c * a[..., None], length, angle)
        a = motion_blur(a, length, angle)
        c = premultiplied / np.maximum(a, 1e-6)[..., None]
    else:
        a = gaussian_blur(a, radius) if mode == "gaussian" else box_blur(a, radius)
    alpha8 = np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
    colour8 = np.clip(np.rint(c), 0, 255).astype(np.uint8)
    return Layer(colour8, alpha8, top - pad, left - pad)


def blend_layer(image: np.ndarray, layer: Layer) -> tuple[int, int, int, int] | None:
    """Blend `layer` into `image` in place, clipped to the image; [x0, y0, x1, y1] of the touched box."""
    height, width = layer.alpha.shape
    y0, x0 = max(layer.top, 0), max(layer.left, 0)
    y1, x1 = min(layer.top + height, image.shape[0]), min(layer.left + width, image.shape[1])
    if y1 <= y0 or x1 <= x0:
        return None
    inner = np.s_[y0 - layer.top : y1 - layer.top, x0 - layer.left : x1 - layer.left]
    a = layer.alpha[inner][..., None].astype(np.uint16)
    blended = image[y0:y1, x0:x1] * (255 - a)
    blended += layer.colour[inner] * a + 127
    blended //= 255
    image[y0:y1, x0:x1] = blended
    return x0, y0, x1, y1


def poisson_colours(colour: np.ndarray, alpha: np.ndarray, image: np.ndarray, top: int, left: int) -> np.ndarray:
    """The object's colours plus the harmonic offset that meets background - object at the border of its
    box grown by POISSON_PAD px (clipped to the image)."""
    height, width = alpha.shape
    y0, x0 = max(top - POISSON_PAD, 0), max(left - POISSON_PAD, 0)
    y1, x1 = min(top + height + POISSON_PAD, image.shape[0]), min(left + width + POISSON_PAD, image.shape[1])
    c = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    a = np.zeros((y1 - y0, x1 - x0), np.float32)
    inner = np.s_[top - y0 : top - y0 + height, left - x0 : left - x0 + width]
    c[inner], a[inner] = colour, alpha.astype(np.float32) / 255
    spread, reach = normalised_blur(c, a, max(c.shape[:2]) // 2 + 1)
    extended = np.where(a[..., None] > 0, c, spread)
    offset = harmonic_fill(image[y0:y1, x0:x1].astype(np.float32) - extended)
    return np.clip(np.rint(colour + offset[inner]), 0, 255).astype(np.uint8)


def harmonic_fill(values: np.ndarray) -> np.ndarray:
    """(h, w, c): the discrete harmonic function equal to `values` on the border pixels (Dirichlet
    problem on the interior, solved exactly by a 2-D discrete sine transform)."""
    out = values.copy()
    m, n = values.shape[0] - 2, values.shape[1] - 2
    if m < 1 or n < 1:
        return out
    rhs = np.zeros((m, n, values.shape[2]), np.float32)
    rhs[0] -= values[0, 1:-1]
    rhs[-1] -= values[-1, 1:-1]
    rhs[:, 0] -= values[1:-1, 0]
    rhs[:, -1] -= values[1:-1, -1]
    rows, cols = _sine_basis(m), _sine_basis(n)
    eigen = (2 * np.cos(np.pi * np.arange(1, m + 1) / (m + 1)) - 2)[:, None] + (2 * np.cos(np.pi * np.arange(1, n + 1) / (n + 1)) - 2)[None, :]
    planes = np.moveaxis(rhs, 2, 0)  # (c, m, n): the basis matrices are symmetric
    spectrum = rows @ planes @ cols / eigen
    solved = rows @ spectrum @ cols * np.float32(4 / ((m + 1) * (n + 1)))
    out[1:-1, 1:-1] = np.moveaxis(solved, 0, 2)
    return out


@lru_cache(maxsize=512)
def _sine_basis(n: int) -> np.ndarray:
    """The DST-I matrix sin(pi j k / (n + 1)), j, k = 1..n; its square is (n + 1) / 2 times the identity
    (small boxes: matrix products beat FFTs here)."""
    k = np.arange(1, n + 1, dtype=np.float32)
    return np.sin(np.pi * np.outer(k, k) / (n + 1)).astype(np.float32)
