"""The composite with edges and light (blend.py, light.py): per placement, a contact shadow on the
floor, the object's colours harmonised with the scene around it, then the cut-out blended by its edge
mode. Every choice is a pure function of the seed and the sample's ids (like placement.py), so any shard
comes out the same on any worker. `effect_box` covers every pixel that differs from the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blend import BLEND_MODES, blend_layer, poisson_colours, soft_layer
from .composite import mask_bbox
from .light import SHADOW_STRENGTH, contact_shadow, darken, harmonized
from .plan import Placement

_SALT_EFFECTS = 4
MIX = "mix"
EDGE_MODES = (*BLEND_MODES, MIX)


@dataclass(frozen=True)
class Effects:
    blend: str = "alpha"
    shadow: bool = False
    harmonize: bool = False

    @classmethod
    def of(cls, options) -> "Effects":
        return cls(options.blend, options.shadow, options.harmonize)

    @property
    def any(self) -> bool:
        return self.blend != "alpha" or self.shadow or self.harmonize


@dataclass(frozen=True)
class SampleKey:
    """What a placement's seeded choices depend on."""

    seed: int
    bg_id: int
    fg_id: int
    flipped: bool
    k: int

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SALT_EFFECTS, self.bg_id, self.fg_id, int(self.flipped), self.k])


def edge_mode(blend: str, rng: np.random.Generator) -> str:
    """The placement's mode: `blend` itself, or for mix one of BLEND_MODES drawn uniformly."""
    return BLEND_MODES[int(rng.integers(len(BLEND_MODES)))] if blend == MIX else blend


def composite_with_effects(
    background, placed: list[np.ndarray], masks_in_box: list[np.ndarray], places: list[Placement],
    hidden: list[np.ndarray | None] | None, effects: Effects, keys: list[SampleKey],
) -> tuple[np.ndarray, np.ndarray, list[list[int]], list[str]]:
    """(composites (n, S, S, 3), visible masks (n, S, S), effect boxes, edge modes): placed[i], the RGBA
    cut-out at places[i] (its mask in its box: masks_in_box[i]) on `background` (sources.Background)."""
    rgb = background.rgb
    n, (size_y, size_x) = len(places), rgb.shape[:2]
    images = np.empty((n, size_y, size_x, 3), dtype=np.uint8)
    images[:] = rgb
    masks = np.zeros((n, size_y, size_x), dtype=np.uint8)
    boxes, modes = [], []
    for i, (image, mask, rgba, place, key) in enumerate(zip(images, masks, placed, places, keys)):
        rng = key.rng()
        mode = edge_mode(effects.blend, rng)
        hide = hidden[i] if hidden is not None else None
        touched = []
        if effects.shadow and place.contact is not None and background.floor is not None:
            shadow = contact_shadow(background.depth, background.floor, place)
            if shadow is not None:
                rows, cols, shade = shadow
                darken(image, rows, cols, shade, float(rng.uniform(*SHADOW_STRENGTH)))
                touched.append((cols.start, rows.start, cols.stop, rows.stop))
        alpha = rgba[..., 3] if hide is None else np.where(hide, 0, rgba[..., 3]).astype(np.uint8)
        colour = rgba[..., :3]
        if effects.harmonize:
            colour = harmonized(colour, rgba[..., 3], rgb, place)
        if mode == "poisson":
            colour = poisson_colours(colour, alpha, image, place.y, place.x)
        box = blend_layer(image, soft_layer(colour, alpha, mode, place.y, place.x, rng))
        if box is not None:
            touched.append(box)
        height, width = alpha.shape
        visible = masks_in_box[i] if hide is None else np.where(hide, 0, masks_in_box[i])
        mask[place.y : place.y + height, place.x : place.x + width] = visible
        boxes.append(_changed_box(image, rgb, touched))
        modes.append(mode)
    return images, masks, boxes, modes


def _changed_box(image: np.ndarray, background: np.ndarray, touched: list[tuple[int, int, int, int]]) -> list[int]:
    """[x0, y0, x1, y1] of the pixels of `image` that differ from `background`, searched in the union of
    the boxes the effects touched; zeros when none differs."""
    if not touched:
        return [0, 0, 0, 0]
    x0, y0 = min(b[0] for b in touched), min(b[1] for b in touched)
    x1, y1 = max(b[2] for b in touched), max(b[3] for b in touched)
    differs = (image[y0:y1, x0:x1] != background[y0:y1, x0:x1]).any(axis=2)
    bx0, by0, bx1, by1 = mask_bbox(differs)
    return [0, 0, 0, 0] if bx1 == 0 else [bx0 + x0, by0 + y0, bx1 + x0, by1 + y0]


def union_box(first: list[int], second: list[int]) -> list[int]:
    """The smallest box holding both; an empty box ([0, 0, 0, 0] or zero area) adds nothing."""
    if first[2] <= first[0] or first[3] <= first[1]:
        return list(second)
    if second[2] <= second[0] or second[3] <= second[1]:
        return list(first)
    return [min(first[0], second[0]), min(first[1], second[1]), max(first[2], second[2]), max(first[3], second[3])]
