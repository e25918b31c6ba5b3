"""Scenes of several objects (--objects): besides the row's own object, extra cut-outs drawn from the
foregrounds of the row's split.

On the floor each stands at its own position and true size. Their footprints on the floor do not overlap:
each object stands on a disc as wide as it is, centred on its contact point, and no two discs meet, so no
object stands inside another. Which object hides which, pixel by pixel, is the renderer's depth buffer
(render.py), not the order they are listed in.

By the uniform and ground rules, which know no floor, extra cut-outs are pasted flat at drawn positions
where no two silhouettes' boxes overlap by more than MAX_OVERLAP of the smaller box, and every object of
the scene gets a drawn layer: the depth order, farthest first, that the renderer pastes them in."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ...config import BuildOptions
from ...rules import PlacementRule
from ..cutouts import CUTOUTS
from ..depth import ObjectDepth
from ..placement import FloorGeometry, stand
from ..composite import placed_bbox
from ..plan import Placement, draw_position, scaled_shape
from ..sources import Background, Sources
from .model import PlacedObject

_SALT_OBJECTS = 7
_TRIES_PER_OBJECT = 20  # draws of a foreground and a position before an extra object is given up
MAX_OVERLAP = 0.5  # flat objects: the most two silhouettes' boxes share, as a fraction of the smaller box


def footprint_radius(place: Placement, floor: FloorGeometry) -> float:
    """Metres: half the object's width where it stands (its width in pixels at its contact's depth)."""
    return 0.5 * place.w * abs(place.contact[2]) / floor.intrinsics.fx


def footprints_apart(a: Placement, b: Placement, floor: FloorGeometry) -> bool:
    """Whether the floor discs of `a` and `b` do not meet."""
    return math.dist(a.contact, b.contact) >= footprint_radius(a, floor) + footprint_radius(b, floor)


def extra_objects(options: BuildOptions, sources: Sources, background: Background, taken: list[PlacedObject],
                  pool: np.ndarray, rng: np.random.Generator, wanted: int, labelled: bool = True) -> list[PlacedObject]:
    """`wanted` more objects for a scene that holds `taken` (the row's own object first), drawn by `rng`
    from the foregrounds `pool` (the ids of the row's split), placed by the rule that placed the row's
    own; fewer where there is no room left."""
    floor = background.floor
    if wanted == 0:
        return []
    if taken[0].place.contact is None:
        return _flat_objects(options, sources, taken, pool, rng, wanted, labelled)
    if floor is None:
        return []
    placed: list[PlacedObject] = []
    for _ in range(_TRIES_PER_OBJECT * wanted):
        fg_id = int(pool[rng.integers(len(pool))])
        flipped = bool(options.flip and rng.integers(2))
        row, col = (int(v) for v in floor.contacts[rng.integers(len(floor.contacts))])
        source = sources.foregrounds[fg_id].source
        height_m = sources.foregrounds[fg_id].height_m
        place = stand(floor, options.bg_size, row, col, height_m, source.shape[1] / source.shape[0], options.fg_longest_side)
        if place is None or not all(footprints_apart(place, p.place, floor) for p in [*taken, *placed]):
            continue
        cutout = CUTOUTS.get(source, flipped, (place.w, place.h), options.soft_mask)
        placed.append(PlacedObject(cutout, place, PlacementRule.FLOOR, standing_depth(floor, place),
                                   fg_id=fg_id, flipped=flipped, labelled=labelled))
        if len(placed) == wanted:
            break
    return placed


def _flat_objects(options: BuildOptions, sources: Sources, taken: list[PlacedObject], pool: np.ndarray,
                  rng: np.random.Generator, wanted: int, labelled: bool) -> list[PlacedObject]:
    """Extra cut-outs pasted flat as the uniform and ground rules paste the row's own: the --fg-size
    cut-out, --scale-jitter drawn, anywhere the rule allows that overlaps no other by more than MAX_OVERLAP."""
    placed: list[PlacedObject] = []
    for _ in range(_TRIES_PER_OBJECT * wanted):
        fg_id = int(pool[rng.integers(len(pool))])
        flipped = bool(options.flip and rng.integers(2))
        scale = 1.0 + float(rng.uniform(-options.scale_jitter, options.scale_jitter)) if options.scale_jitter else 1.0
        rgba = sources.foregrounds[fg_id].rgba
        height, width = scaled_shape(rgba.shape[:2], scale)
        x, y = draw_position(options, width, height, rng)
        place = Placement(x, y, scale, width, height)
        cutout = CUTOUTS.get(rgba, flipped, (width, height), options.soft_mask)
        box = placed_bbox(cutout, place)
        if any(box_overlap(box, placed_bbox(p.cutout, p.place)) > MAX_OVERLAP for p in [*taken, *placed]):
            continue
        placed.append(PlacedObject(cutout, place, taken[0].rule, fg_id=fg_id, flipped=flipped, labelled=labelled))
        if len(placed) == wanted:
            break
    return placed


def box_overlap(a: list[int], b: list[int]) -> float:
    """The area two boxes [x0, y0, x1, y1] share, as a fraction of the smaller one's (0 for an empty box)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if width > 0 and height > 0 and smaller > 0 else 0.0


def drawn_layers(objects: tuple[PlacedObject, ...], rng: np.random.Generator) -> tuple[PlacedObject, ...]:
    """Flat objects, each given its place in a drawn depth order (0 farthest): the order they are pasted
    in, so the nearer hides the farther. Objects standing on the floor have their own depth instead."""
    if len(objects) < 2 or objects[0].depth is not None:
        return objects
    return tuple(replace(placed, layer=int(layer)) for placed, layer in zip(objects, rng.permutation(len(objects))))


def objects_rng(seed: int, bg_id: int, fg_id: int, flipped: bool, k: int) -> np.random.Generator:
    """The extra objects' draws of one row, seeded by the seed and the row's ids."""
    return np.random.default_rng([seed, _SALT_OBJECTS, bg_id, fg_id, int(flipped), k])


def standing_depth(floor: FloorGeometry, place: Placement) -> ObjectDepth:
    """The depth of the upright cut-out standing at `place` over its silhouette's box."""
    return ObjectDepth(place.y, place.x, floor.upright.box_depth(place.contact, place.y, place.x, place.h, place.w))
