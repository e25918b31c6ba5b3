"""Halo-free cut-outs: each cut-out's true foreground colour under partial alpha, estimated once when it
is loaded, so no trace of the background it was cut from shows in a composite.

An edge pixel of a matted photo is I = a F + (1 - a) B, F the object's colour and B the old background
(a green screen, a white wall). This is a variant of blur-fusion foreground estimation (Germer et al.
2021, "Fast Multi-Level Foreground Estimation"), two levels of:

    Fb = box blur of F weighted by a^3       the object's colours, spread over its edge
    Bb = box blur of (I - a Fb) / (1 - a)    the old background each edge pixel implies, smoothed over
         weighted by a (1 - a)                 the edge (the paper takes B from the a = 0 pixels; cut-out
                                               files often hold black or nothing there)
    F  = Fb + a (I - a Fb - (1 - a) Bb)

Opaque pixels keep their colour exactly (F = I at a = 1). A cut-out whose edges are already clean
(I = F) implies B = F and is left as it is, up to the blur's averaging. Transparent pixels get the
spread colours of the object, so a later blur of the alpha never brings back the old background.
"""

from __future__ import annotations

import numpy as np

from .filters import normalised_blur

# Box radii of the two levels: a wide one that reaches across the widest soft edge, a narrow one that
# brings back local detail.
COARSE_SHARE = 1 / 16
FINE_RADIUS = 2


def decontaminate(rgba: np.ndarray) -> np.ndarray:
    """The cut-out with its colours replaced by the estimated foreground colours; alpha unchanged."""
    alpha = rgba[..., 3]
    if not ((alpha > 0) & (alpha < 255)).any():
        return rgba
    image = rgba[..., :3].astype(np.float32) / 255
    a = alpha.astype(np.float32) / 255
    coarse = max(FINE_RADIUS + 1, round(max(alpha.shape) * COARSE_SHARE))
    colours = _estimate(image, a, image, coarse)
    colours = _estimate(image, a, colours, FINE_RADIUS)
    out = rgba.copy()
    out[..., :3] = np.where(alpha[..., None] == 255, rgba[..., :3], np.rint(colours * 255).astype(np.uint8))
    return out


def _estimate(image: np.ndarray, a: np.ndarray, colours: np.ndarray, radius: int) -> np.ndarray:
    """One level: the foreground colour of every pixel from the current estimate `colours`."""
    spread, reach = normalised_blur(colours, a**3, radius)
    spread = np.where(reach[..., None] > 1e-6, spread, image)
    inverse = (1 - a)[..., None]
    implied = np.clip((image - a[..., None] * spread) / np.maximum(inverse, 1 / 255), 0, 1)
    old_background, seen = normalised_blur(implied, a * (1 - a), radius)
    old_background = np.where(seen[..., None] > 1e-6, old_background, spread)
    a3 = a[..., None]
    return np.clip(spread + a3 * (image - a3 * spread - inverse * old_background), 0, 1)
