"""Scenes of several objects (--objects): besides the row's own object, extra cut-outs drawn from the
foregrounds of the row's split, each standing on the floor at its own position and true size. Their
footprints on the floor do not overlap: each object stands on a disc as wide as it is, centred on its
contact point, and no two discs meet, so no object stands inside another. Which object hides which,
pixel by pixel, is the renderer's depth buffer (render.py), not the order they are listed in."""

from __future__ import annotations

import math

import numpy as np

from ...config import BuildOptions
from ...rules import PlacementRule
from ..cutouts import CUTOUTS
from ..depth import ObjectDepth
from ..geometry import upright_plane_depth
from ..placement import FloorGeometry, stand
from ..plan import Placement
from ..sources import Background, Sources
from .model import PlacedObject

_SALT_OBJECTS = 7
_TRIES_PER_OBJECT = 20  # draws of a foreground and a floor point before an extra object is given up


def footprint_radius(place: Placement, floor: FloorGeometry) -> float:
    """Metres: half the object's width where it stands (its width in pixels at its contact's depth)."""
    return 0.5 * place.w * abs(place.contact[2]) / floor.intrinsics.fx


def footprints_apart(a: Placement, b: Placement, floor: FloorGeometry) -> bool:
    """Whether the floor discs of `a` and `b` do not meet."""
    return math.dist(a.contact, b.contact) >= footprint_radius(a, floor) + footprint_radius(b, floor)


def extra_objects(options: BuildOptions, sources: Sources, background: Background, taken: list[PlacedObject],
                  pool: np.ndarray, rng: np.random.Generator, wanted: int, labelled: bool = True) -> list[PlacedObject]:
    """`wanted` more objects for a scene that holds `taken` (the row's own object first), drawn by `rng`
    from the foregrounds `pool` (the ids of the row's split); fewer where the floor has no room left."""
    floor = background.floor
    if wanted == 0 or floor is None or taken[0].place.contact is None:
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


def objects_rng(seed: int, bg_id: int, fg_id: int, flipped: bool, k: int) -> np.random.Generator:
    """The extra objects' draws of one row, seeded by the seed and the row's ids."""
    return np.random.default_rng([seed, _SALT_OBJECTS, bg_id, fg_id, int(flipped), k])


def standing_depth(floor: FloorGeometry, place: Placement) -> ObjectDepth:
    """The depth of the upright cut-out standing at `place` over its silhouette's box."""
    rows, cols = np.arange(place.y, place.y + place.h), np.arange(place.x, place.x + place.w)
    return ObjectDepth(place.y, place.x, upright_plane_depth(np.asarray(place.contact), floor.plane, floor.intrinsics, rows, cols))
