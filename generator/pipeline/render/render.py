"""Render a Scene: its background with each object drawn in turn (flat objects by their drawn layer,
farthest first), the object's visible mask (what the scene and nearer objects leave of it) and whole
mask, and the box of the pixels that changed.

There is one path. An object with no effects is the plain alpha blend, drawn by composite.paste_object
(PIL's paste, checked against the plain arithmetic in tests/test_fast_paths.py); otherwise its shadow is
darkened into the floor, its colours harmonised and its edge blended by its registered mode (blend.py),
with the same integer rounding, so an object whose effects come out plain gives the same bytes either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..blend import BLENDS, blend_layer, poisson_colours
from ..composite import mask_bbox, paste_object, placed_bbox, reach_box
from ..depth import ObjectDepth
from ..geometry import occlusion_margin
from ..light import darken, harmonized
from ..scene.model import PlacedObject, Scene
from .boxes import changed_box, union_box


@dataclass
class RenderedObject:
    """One object as drawn: `visible` (S, S) its stored mask where it shows, `whole` its mask with the
    hidden parts (None where nothing hides it: then it is `visible`), `hidden` (h, w) bool over its box
    (None for nothing), `bbox` of its visible mask and `changed` the box of every pixel it changed."""

    placed: PlacedObject
    visible: np.ndarray
    whole: np.ndarray | None
    hidden: np.ndarray | None
    bbox: list[int]
    changed: list[int]


@dataclass
class Rendered:
    """A drawn Scene: the composite (S, S, 3) uint8 and each object as drawn. The depth map is the depth
    stage's (depth.py), made for a batch of composites at once, and joined to the row when it is encoded."""

    scene: Scene
    image: np.ndarray
    objects: list[RenderedObject]

    @property
    def changed(self) -> list[int]:
        """[x0, y0, x1, y1] of every pixel that differs from the background (zeros for none)."""
        box = [0, 0, 0, 0]
        for drawn in self.objects:
            box = union_box(box, drawn.changed)
        return box


def render(scene: Scene, out: np.ndarray | None = None) -> Rendered:
    """Draw `scene`, into `out` (S, S, 3) uint8 when given (a row of a batch the depth teacher reads)."""
    background = scene.background.rgb
    image = np.empty_like(background) if out is None else out
    image[:] = background
    # The depth buffer: the scene's depth, with each object standing on the floor written in where it
    # shows, so a later object is hidden where an earlier one is nearer, and hides it where it is nearer.
    # Flat objects are pasted by their drawn layer, farthest first (a stable sort: floor objects, all on
    # layer 0, keep their order); the result lists them in the scene's order again.
    order = sorted(range(len(scene.objects)), key=lambda i: scene.objects[i].layer)
    depth = scene.background.depth
    drawn: list[RenderedObject] = []
    for i in order:
        placed = scene.objects[i]
        drawn.append(_draw(image, scene, placed, depth))
        _cover(drawn[:-1], drawn[-1])
        if len(scene.objects) > 1 and placed.depth is not None:
            depth = _with_object_depth(depth if len(drawn) > 1 else depth.copy(), drawn[-1])
    by_scene = [drawn[order.index(i)] for i in range(len(order))]
    return Rendered(scene, image, by_scene)


def _with_object_depth(depth: np.ndarray, drawn: RenderedObject) -> np.ndarray:
    """`depth` with the object's own depth written where it shows (alpha >= one half, not hidden)."""
    solid = _solid(drawn)
    box = depth[drawn.placed.depth.y : drawn.placed.depth.y + solid.shape[0], drawn.placed.depth.x : drawn.placed.depth.x + solid.shape[1]]
    box[solid] = drawn.placed.depth.depth[solid]
    return depth


def _solid(drawn: RenderedObject) -> np.ndarray:
    """(h, w) bool over the object's box: its pixels (alpha >= one half) that nothing hides."""
    solid = drawn.placed.cutout.solid > 0
    return solid if drawn.hidden is None else solid & ~drawn.hidden


def _cover(earlier: list[RenderedObject], top: RenderedObject) -> None:
    """Hide what `top` covers (its object's pixels, alpha >= one half) from the objects drawn before it."""
    if not earlier:
        return
    cutout, place = top.placed.cutout, top.placed.place
    covered = np.zeros(top.visible.shape, bool)
    covered[place.y : place.y + cutout.shape[0], place.x : place.x + cutout.shape[1]] = _solid(top)
    for below in earlier:
        if (below.visible[covered] > 0).any():
            if below.whole is None:
                below.whole = below.visible.copy()
            below.visible[covered] = 0
            below.bbox = mask_bbox(below.visible)


def _draw(image: np.ndarray, scene: Scene, placed: PlacedObject, depth: np.ndarray | None) -> RenderedObject:
    """Draw `placed` where `depth` (the scene's, with the objects drawn before) is not nearer."""
    cutout, place = placed.cutout, placed.place
    hide = occluded(depth, placed.depth, cutout.alpha) if placed.depth is not None else None
    visible = np.zeros(image.shape[:2], np.uint8)
    if placed.effects.plain:
        paste_object(image, visible, cutout, place, hide)
        touched = []
    else:
        touched = _draw_with_effects(image, scene.background.rgb, placed, hide)
        height, width = cutout.shape
        visible[place.y : place.y + height, place.x : place.x + width] = cutout.mask if hide is None else np.where(hide, 0, cutout.mask)
    # Where nothing hides the object its visible mask is its cut-out's, so the box is the cut-out's own,
    # moved; a hidden floor object's box is searched.
    bbox = placed_bbox(cutout, place) if hide is None else _visible_bbox(visible, place)
    # Every pixel the blend touches (alpha > 0, below the mask's half too) and every one an effect changed.
    changed = union_box(bbox, reach_box(cutout, place, hide))
    if touched:
        changed = union_box(changed, changed_box(image, scene.background.rgb, touched))
    return RenderedObject(placed, visible, _whole(visible.shape, placed) if hide is not None else None, hide, bbox, changed)


def _draw_with_effects(image: np.ndarray, background: np.ndarray, placed: PlacedObject, hide: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """The object's shadow, colours and edge drawn into `image`; the boxes they touched."""
    effects, place, rgba = placed.effects, placed.place, placed.cutout.rgba
    touched = []
    if effects.shadow is not None:
        shadow = effects.shadow
        darken(image, shadow.rows, shadow.cols, shadow.shade, shadow.strength)
        touched.append((shadow.cols.start, shadow.rows.start, shadow.cols.stop, shadow.rows.stop))
    alpha = rgba[..., 3] if hide is None else np.where(hide, 0, rgba[..., 3]).astype(np.uint8)
    colour = rgba[..., :3]
    if effects.harmonize:
        colour = harmonized(colour, rgba[..., 3], background, place)
    blend = BLENDS[effects.blend]
    if blend.against_background:
        colour = poisson_colours(colour, alpha, image, place.y, place.x)
    box = blend_layer(image, blend.layer(colour, alpha, place.y, place.x, effects.blend_params))
    if box is not None:
        touched.append(box)
    return touched


def occluded(background_depth: np.ndarray, standing: ObjectDepth, alpha: np.ndarray) -> np.ndarray | None:
    """(h, w) bool: where the scene is nearer than the object by more than max(1 cm, 0.5 % of its depth);
    None where that hides none of the pixels the cut-out blends (`alpha` > 0)."""
    height, width = standing.depth.shape
    scene = background_depth[standing.y : standing.y + height, standing.x : standing.x + width]
    hidden = scene < standing.depth - occlusion_margin(standing.depth)
    return hidden if (hidden & (alpha > 0)).any() else None


def _whole(shape: tuple[int, int], placed: PlacedObject) -> np.ndarray:
    """(S, S) uint8: the object's whole mask at its place, hidden parts included."""
    mask = np.zeros(shape, np.uint8)
    height, width = placed.cutout.shape
    mask[placed.place.y : placed.place.y + height, placed.place.x : placed.place.x + width] = placed.cutout.mask
    return mask


def _visible_bbox(mask: np.ndarray, place) -> list[int]:
    """mask_bbox of a visible mask, searched in the silhouette's box only."""
    x0, y0, x1, y1 = mask_bbox(mask[place.y : place.y + place.h, place.x : place.x + place.w])
    return [0, 0, 0, 0] if x1 == 0 else [x0 + place.x, y0 + place.y, x1 + place.x, y1 + place.y]
