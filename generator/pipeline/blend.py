"""Edges: how a placed cut-out's edge meets the background. Each mode is a registered `Blend` (BLENDS):
its parameters drawn from the placement's seed when the scene is made, then applied when it is rendered.

- `alpha`: the plain alpha blend (composite.py).
- `gaussian`, `box`: the alpha softened by a Gaussian (sigma half the band) or a box blur, both cut off at
  `edge_band` = max(1, round(longest side / 64)) px, before blending: only pixels within that band of the
  silhouette's edge change, inside or outside it, so an object's interior is its plain alpha composite
  however small the object is, and the band widens with the object.
- `motion`: the whole layer (colour premultiplied by alpha, and alpha) smeared along a seeded direction
  over a seeded length, as an object moving during the exposure. The stored mask stays the unblurred
  silhouette (alpha >= 128), as for every mode: the label says where the object is, not where it smeared.
- `poisson`: gradient-domain blending: the object's colours plus a harmonic offset (a membrane, solved
  exactly on the silhouette's box grown by `POISSON_PAD` px with a discrete sine transform) that takes
  the background's colour minus the object's at the border of that box; the offset is then alpha-blended,
  so nothing outside the mask changes. Each pixel's offset is bounded: its luma to `POISSON_MAX_LUMA`
  levels, its colour difference (B - Y, R - Y) to a length of `POISSON_MAX_CHROMA`, so no channel of any pixel,
  nor the mean colour of the object's interior, moves by more than `POISSON_MAX_SHIFT` (32), and its hue
  hardly: against a strongly contrasting background an unbounded offset would repaint a flat-coloured object in
  the background's colour (it vanishes while its mask remains) or turn a face green.

Every layer is integer-blended like composite.py, (c * a + bg * (255 - a) + 127) // 255: exact where
the layer's alpha is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import ndimage

from ..rules import BlendMode
from .filters import motion_blur, normalised_blur

MOTION_LENGTH = (3, 9)  # px, seeded
POISSON_PAD = 2
# Levels of 0..255 the offset may move a pixel's luma, and its colour difference (B - Y, R - Y), at most: light
# may change, the object's own hue hardly. A channel then moves by at most POISSON_MAX_SHIFT.
POISSON_MAX_LUMA, POISSON_MAX_CHROMA = 24.0, 8.0
POISSON_MAX_SHIFT = POISSON_MAX_LUMA + POISSON_MAX_CHROMA
EDGE_SHARE = 1 / 64  # of the object's longest side: the band softened edges change


@dataclass
class Layer:
    """Colours (h, w, 3) uint8 and alpha (h, w) uint8 with their top-left corner in the background."""

    colour: np.ndarray
    alpha: np.ndarray
    top: int
    left: int


def _no_params(rng: np.random.Generator) -> dict:
    return {}


@dataclass(frozen=True)
class Blend:
    """One edge mode, as torchvision's transforms.v2 split a transform: `draw` takes the placement's
    parameters from its seeded generator (nothing for most modes), `layer` applies them to the cut-out's
    visible colour and alpha at (top, left). `against_background`: the colours are first solved against
    the pixels under them (poisson)."""

    layer: Callable[[np.ndarray, np.ndarray, int, int, dict], Layer]
    draw: Callable[[np.random.Generator], dict] = field(default=_no_params)
    against_background: bool = False


BLENDS: dict[BlendMode, Blend] = {}


def register(mode: BlendMode, blend: Blend) -> None:
    """Add an edge mode. A new mode joins the list that new `--blend mix` datasets record; a dataset's own
    recorded list is what it draws from, so existing datasets keep their draw."""
    BLENDS[mode] = blend


def mix_modes() -> tuple[BlendMode, ...]:
    """What a new `--blend mix` build draws from: every registered mode, in registration order."""
    return tuple(BLENDS)


def with_mix_modes(options):
    """A new build's options with the list `--blend mix` draws from decided (and so recorded): every entry
    point that starts a build (the CLI, the `datasets` builder, benchmarks) calls this once."""
    import dataclasses

    if options.blend == BlendMode.MIX and options.mix_modes is None:
        return dataclasses.replace(options, mix_modes=mix_modes())
    return options


def edge_band(shape: tuple[int, int]) -> int:
    """Width in px of the band along the edge that a softened edge changes, on either side of it."""
    return max(1, round(max(shape) * EDGE_SHARE))


def _as_is(colour: np.ndarray, alpha: np.ndarray, top: int, left: int, params: dict) -> Layer:
    return Layer(colour, alpha, top, left)


def _motion_params(rng: np.random.Generator) -> dict:
    length = int(rng.integers(MOTION_LENGTH[0], MOTION_LENGTH[1] + 1))
    return {"length": length, "angle": float(rng.uniform(0, np.pi))}


def _gaussian(colour: np.ndarray, alpha: np.ndarray, top: int, left: int, params: dict) -> Layer:
    band = edge_band(alpha.shape)
    # truncate * sigma = band: the kernel reaches exactly `band` px, so farther pixels keep their alpha.
    soften = lambda c, a: (c, ndimage.gaussian_filter(a, band / 2, truncate=2.0, mode="constant"))  # noqa: E731
    return soft_layer(colour, alpha, top, left, band, soften)


def _box(colour: np.ndarray, alpha: np.ndarray, top: int, left: int, params: dict) -> Layer:
    band = edge_band(alpha.shape)
    return soft_layer(colour, alpha, top, left, band, lambda c, a: (c, ndimage.uniform_filter(a, 2 * band + 1, mode="constant")))


def _motion(colour: np.ndarray, alpha: np.ndarray, top: int, left: int, params: dict) -> Layer:
    length, angle = params["length"], params["angle"]

    def smear(c: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The layer moves as a whole: colour premultiplied by alpha is smeared, then divided again.
        premultiplied = motion_blur(c * a[..., None], length, angle)
        a = motion_blur(a, length, angle)
        return premultiplied / np.maximum(a, 1e-6)[..., None], a

    return soft_layer(colour, alpha, top, left, length // 2 + 1, smear)


def soft_layer(colour: np.ndarray, alpha: np.ndarray, top: int, left: int, pad: int,
               smear: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Layer:
    """The layer of a cut-out (visible alpha: hidden pixels already 0) at (top, left), grown by `pad` px
    on each side, its float colour and alpha (0..1) passed through `smear`."""
    height, width = alpha.shape
    a = np.zeros((height + 2 * pad, width + 2 * pad), np.float32)
    c = np.zeros((height + 2 * pad, width + 2 * pad, 3), np.float32)
    a[pad:-pad, pad:-pad] = alpha
    a *= np.float32(1 / 255)
    c[pad:-pad, pad:-pad] = colour
    spread, _ = normalised_blur(c, a, pad)
    c = np.where(a[..., None] > 0, c, spread)  # colours for the pixels the blur reaches
    c, a = smear(c, a)
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
    offset = harmonic_fill(image[y0:y1, x0:x1].astype(np.float32) - extended)[inner]
    return np.clip(np.rint(colour + bounded_offset(offset)), 0, 255).astype(np.uint8)


def bounded_offset(offset: np.ndarray) -> np.ndarray:
    """Each pixel's colour offset (h, w, 3) with its luma Y clipped to POISSON_MAX_LUMA and its colour
    difference (B - Y, R - Y) shortened to POISSON_MAX_CHROMA: per pixel, since a bound on the mean alone
    lets a bright wall above the head still turn the face yellow."""
    red, green, blue = offset[..., 0], offset[..., 1], offset[..., 2]
    luma = np.float32(0.299) * red + np.float32(0.587) * green + np.float32(0.114) * blue
    to_blue, to_red = blue - luma, red - luma
    shorten = np.minimum(np.float32(1), np.float32(POISSON_MAX_CHROMA) / np.maximum(np.hypot(to_blue, to_red), np.float32(1e-6)))
    luma = np.clip(luma, -POISSON_MAX_LUMA, POISSON_MAX_LUMA)
    red, blue = luma + to_red * shorten, luma + to_blue * shorten
    green = (luma - np.float32(0.299) * red - np.float32(0.114) * blue) / np.float32(0.587)
    return np.stack([red, green, blue], axis=-1)


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


# Registration order is the order of a new `--blend mix` dataset's recorded list.
register(BlendMode.ALPHA, Blend(_as_is))
register(BlendMode.GAUSSIAN, Blend(_gaussian))
register(BlendMode.BOX, Blend(_box))
register(BlendMode.MOTION, Blend(_motion, draw=_motion_params))
register(BlendMode.POISSON, Blend(_as_is, against_background=True))
