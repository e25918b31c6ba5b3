"""The plain alpha blend of a cut-out on its background, and its mask on black: the fast path of
render/ (objects with no effects), and what every placed cut-out shares (`Cutout`).

What does not depend on the position is computed once per placed cut-out (`Cutout`): its alpha, mask and
the mask's box; placements of the same size share it. Only the cut-out's box of each composite is touched:
every pixel outside it is the background's own byte, and pixels where alpha is 0, or where the scene hides
the object (`hidden`), keep the background exactly, so the composite equals its background outside the
(visible) pixels with alpha > 0.

The object itself (its mask, its depth, what the scene may hide of it) is where the placed alpha is at
least one half, OBJECT_ALPHA. LANCZOS rings: a resized alpha has faint values (1-3 of 255) a pixel outside
the edge, which the blend shows as nothing; counting alpha > 0 as the object would give every mask a
detached outline the composite does not show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from PIL import Image

from .plan import Placement

OBJECT_ALPHA = 128  # a placed pixel is the object's where its alpha is at least this (one half)


def prepare_cutout(rgba: np.ndarray, flipped: bool, size: tuple[int, int]) -> np.ndarray:
    """The cut-out as placed: flipped left-right and resized to `size` (w, h), image and alpha together
    (LANCZOS; not resampled at all when the size is its own)."""
    if flipped:
        rgba = rgba[:, ::-1]
    if size != (rgba.shape[1], rgba.shape[0]):
        image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
        rgba = np.asarray(image.resize(size, Image.Resampling.LANCZOS))
    return np.ascontiguousarray(rgba)


def soft_alpha(rgba: np.ndarray, flipped: bool, size: tuple[int, int]) -> np.ndarray:
    """The --soft-mask mask of the cut-out as placed: its alpha flipped and resized to `size` (w, h) with
    BILINEAR, a triangle kernel (linear interpolation when enlarging, a tent over the source pixels when
    shrinking). Its weights are never negative, so every value is a weighted mean of source alphas: no
    ring outside the edge and no overshoot, where LANCZOS's negative lobes give both."""
    alpha = rgba[:, ::-1, 3] if flipped else rgba[..., 3]
    if size != (alpha.shape[1], alpha.shape[0]):
        alpha = np.asarray(Image.fromarray(np.ascontiguousarray(alpha), "L").resize(size, Image.Resampling.BILINEAR))
    return np.ascontiguousarray(alpha)


@dataclass(frozen=True, eq=False)
class Cutout:
    """A placed cut-out (flipped and scaled) with what every placement of it shares: its mask, the mask's
    box, and PIL views of its pixels and alpha to paste with (they share the arrays' memory).

    The blend is integer and rounded to nearest, (fg * a + bg * (255 - a)) / 255: exact at a = 0 (the
    background's own byte) and a = 255 (the foreground's)."""

    rgba: np.ndarray  # (h, w, 4) uint8, prepare_cutout's output
    alpha: np.ndarray  # (h, w) uint8, contiguous: what the composite blends with
    solid: np.ndarray  # (h, w) uint8: 255 where alpha >= OBJECT_ALPHA, the object's pixels (depth, occlusion)
    mask: np.ndarray  # (h, w) uint8: the stored mask in the box, `solid` itself or (soft) soft_alpha's
    bbox: tuple[int, int, int, int]  # of the mask's non-zero pixels within the cut-out, end-exclusive
    reach: tuple[int, int, int, int]  # of the pixels with alpha > 0, the ones the composite may change
    pixels: Image.Image = field(repr=False)  # RGBA, over `rgba`
    paste_mask: Image.Image = field(repr=False)  # L, over `alpha`

    @classmethod
    def of(cls, rgba: np.ndarray, soft: np.ndarray | None = None, boxes: tuple[tuple, tuple] | None = None) -> "Cutout":
        """rgba: prepare_cutout's output; soft: soft_alpha's, the mask to store with --soft-mask, else the
        mask is binary 0/255 where alpha >= OBJECT_ALPHA. boxes: (bbox, reach) where already known."""
        rgba = np.ascontiguousarray(rgba)
        alpha = np.ascontiguousarray(rgba[..., 3])
        solid = np.greater_equal(alpha, OBJECT_ALPHA).view(np.uint8)
        solid *= 255  # 0 or 255, in place (a cache hit rebuilds this: np.where takes several times longer)
        mask = solid if soft is None else np.ascontiguousarray(soft)
        bbox, reach = boxes if boxes is not None else (tuple(mask_bbox(mask)), tuple(mask_bbox(alpha)))
        return cls(rgba, alpha, solid, mask, bbox, reach, _image(rgba, "RGBA"), _image(alpha, "L"))

    @classmethod
    def known(cls, rgba: np.ndarray, soft: np.ndarray | None, bbox: tuple, reach: tuple, mask_png: bytes) -> "Cutout":
        """Cutout.of(rgba, soft) with its boxes and mask PNG as found before (a cache's entry)."""
        cutout = cls.of(rgba, soft, (bbox, reach))
        cutout.__dict__["mask_png"] = mask_png  # the cached_property, already known
        return cutout

    @classmethod
    def placed(cls, source: np.ndarray, flipped: bool, size: tuple[int, int], soft_mask: bool) -> "Cutout":
        """The cut-out `source` (RGBA) flipped and resized to `size` (w, h), with its soft mask if asked."""
        soft = soft_alpha(source, flipped, size) if soft_mask else None
        return cls.of(prepare_cutout(source, flipped, size), soft)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    @cached_property
    def mask_png(self) -> bytes:
        """The mask cropped to its box, as PNG: the whole silhouette (`amodal`) of every placement of the
        cut-out that nothing hides, encoded once."""
        from .encode import encode_png

        x0, y0, x1, y1 = self.bbox
        return encode_png(self.mask[y0:y1, x0:x1])

    @property
    def nbytes(self) -> int:
        return self.rgba.nbytes + self.alpha.nbytes + self.solid.nbytes + (self.mask.nbytes if self.mask is not self.solid else 0)


def _image(array: np.ndarray, mode: str) -> Image.Image:
    """A PIL image over a contiguous array's memory (what Image.fromarray gives, without its checks)."""
    return Image.frombuffer(mode, (array.shape[1], array.shape[0]), array, "raw", mode, 0, 1)


def composite(
    background: np.ndarray, cutouts: list[Cutout], places: list[Placement], hidden: list[np.ndarray | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(composites RGB uint8 (n, S, S, 3), visible masks uint8 (n, S, S)): cutouts[i] pasted at places[i] on
    one background by the plain alpha blend (paste_object), each on its own copy of it."""
    n, (size_y, size_x) = len(places), background.shape[:2]
    images = np.empty((n, size_y, size_x, 3), dtype=np.uint8)
    images[:] = background
    masks = np.zeros((n, size_y, size_x), dtype=np.uint8)
    for i, (image, mask, cutout, place) in enumerate(zip(images, masks, cutouts, places)):
        paste_object(image, mask, cutout, place, hidden[i] if hidden is not None else None)
    return images, masks


def paste_object(image: np.ndarray, mask: np.ndarray, cutout: Cutout, place: Placement, hide: np.ndarray | None = None) -> None:
    """The plain alpha blend, in place: `cutout` pasted into `image` (RGB uint8) at `place`, its mask drawn
    into `mask`. `hide`, (h, w) bool over the cut-out's box: pixels where the scene is nearer than the
    object, left to the background."""
    height, width = cutout.shape
    box = np.s_[place.y : place.y + height, place.x : place.x + width]
    if hide is None:
        image[box] = _pasted(image[box], cutout.pixels, cutout.paste_mask)
        mask[box] = cutout.mask
    else:
        visible = Image.fromarray(np.where(hide, np.uint8(0), cutout.alpha), "L")
        image[box] = _pasted(image[box], cutout.pixels, visible)
        mask[box] = np.where(hide, np.uint8(0), cutout.mask)


def _pasted(under: np.ndarray, pixels: Image.Image, alpha: Image.Image) -> np.ndarray:
    """(h, w, 3) uint8: round((rgb * alpha + under * (255 - alpha)) / 255) per channel. PIL's paste through
    an "L" mask computes exactly that (its DIV255 rounds to nearest) in one C loop, where numpy takes five
    passes over the box (tests/test_fast_paths.py checks it for every byte triple)."""
    canvas = Image.fromarray(under, "RGB")
    canvas.paste(pixels, (0, 0), alpha)
    return np.asarray(canvas)


def amodal_masks(shape: tuple[int, int], cutouts: list[Cutout], places: list[Placement]) -> np.ndarray:
    """(n, S, S) uint8: each cut-out's whole mask at its place, hidden parts included."""
    masks = np.zeros((len(places), *shape), dtype=np.uint8)
    for mask, cutout, place in zip(masks, cutouts, places):
        height, width = cutout.shape
        mask[place.y : place.y + height, place.x : place.x + width] = cutout.mask
    return masks


def object_masks(shape: tuple[int, int], cutouts: list[Cutout], places: list[Placement],
                 hidden: list[np.ndarray | None] | None = None) -> np.ndarray:
    """(n, S, S) uint8: 255 on each object's visible pixels (alpha >= OBJECT_ALPHA, not hidden), the
    pixels that take its depth. The visible masks themselves unless they are soft."""
    masks = np.zeros((len(places), *shape), dtype=np.uint8)
    for i, (mask, cutout, place) in enumerate(zip(masks, cutouts, places)):
        height, width = cutout.shape
        hide = hidden[i] if hidden is not None else None
        solid = cutout.solid if hide is None else np.where(hide, np.uint8(0), cutout.solid)
        mask[place.y : place.y + height, place.x : place.x + width] = solid
    return masks


def mask_bbox(mask: np.ndarray) -> list[int]:
    """[x0, y0, x1, y1] of the mask's non-zero pixels, end-exclusive; zeros for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def placed_bbox(cutout: Cutout, place: Placement) -> list[int]:
    """mask_bbox of a composite's mask: the cut-out's own box moved to the placement (the mask is zero
    outside the cut-out)."""
    return moved_box(cutout.bbox, place)


def moved_box(box: tuple[int, int, int, int] | list[int], place: Placement) -> list[int]:
    """A box within the cut-out moved to the placement; an empty box stays [0, 0, 0, 0]."""
    x0, y0, x1, y1 = box
    if x1 == 0:
        return [0, 0, 0, 0]
    return [x0 + place.x, y0 + place.y, x1 + place.x, y1 + place.y]


def reach_box(cutout: Cutout, place: Placement, hide: np.ndarray | None = None) -> list[int]:
    """[x0, y0, x1, y1] of the composite's pixels the cut-out blends (alpha > 0, not hidden): the
    composite equals its background outside it."""
    if hide is None:
        return moved_box(cutout.reach, place)
    return moved_box(mask_bbox((cutout.alpha > 0) & ~hide), place)
