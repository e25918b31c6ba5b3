"""Stage 2b, floor placement: cut-outs standing on the floor of the scene, sized by their real height and
the depth where they stand.

A background whose metric depth and intrinsics are known gets a `FloorGeometry`: its fitted floor plane and
the floor pixels actually visible (not under a table, not a wall), shrunk by one pixel so a contact point is
never on the floor's edge. A placement draws a contact pixel among those where the object fits; the silhouette's bottom row is that
pixel's row, centred on its column, and its top row is the projection of the point `height` metres above
the contact point along the floor's normal (so a pitched camera sizes it right, where fy * h / z would be
off by up to 15 %). Positions where the silhouette leaves the picture or is only a few pixels tall are
never drawn; everything is a pure function of (seed, bg_id, fg_id, flipped), like plan.placements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .geometry import Intrinsics, contact_pixel_candidates, fit_floor, ray_plane_point, top_of_object
from .upright import UprightPlanes
from ..rules import FloorMiss
from .plan import Placement

_SALT_FLOOR = 3
# Random draws per wanted placement before the rest are found by searching the whole floor.
_TRIES_PER_PLACEMENT = 50
# Pixels whose depth is the fitted floor's within this share count as floor.
FLOOR_TOLERANCE = 0.01


@dataclass(frozen=True)
class FloorGeometry:
    """What floor placement needs of one background."""

    intrinsics: Intrinsics
    plane: np.ndarray  # (4,) [nx, ny, nz, d], camera frame, y up, metres
    contacts: np.ndarray  # (N, 2) int32 (row, col): visible floor pixels, one pixel in from its edges

    @cached_property
    def upright(self) -> UprightPlanes:
        """The depth of the upright objects standing on this floor, box by box."""
        return UprightPlanes(self.plane, self.intrinsics)


def floor_geometry(depth: np.ndarray, intrinsics: Intrinsics, seed: int = 0) -> FloorGeometry | None:
    """The floor of a background from its metric depth, or None when no floor is seen."""
    plane = fit_floor(depth, intrinsics, seed=seed)
    if plane is None:
        return None
    floor = np.zeros(depth.shape, dtype=bool)
    rows, cols = contact_pixel_candidates(depth, intrinsics, plane, FLOOR_TOLERANCE).T
    floor[rows, cols] = True
    inner = _erode(floor)
    contacts = np.argwhere(inner).astype(np.int32)
    return FloorGeometry(intrinsics, plane, contacts) if len(contacts) else None


def _erode(mask: np.ndarray) -> np.ndarray:
    """Pixels whose 3 x 3 neighbourhood is all inside `mask`."""
    inner = mask.copy()
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    core = inner[1:-1, 1:-1]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            core &= mask[1 + dy : mask.shape[0] - 1 + dy, 1 + dx : mask.shape[1] - 1 + dx]
    return inner


def min_height_px(size: int) -> int:
    """Shorter silhouettes are too coarse to show their shape (and their size would be a rounding)."""
    return max(8, round(0.06 * size))


def floor_placements(
    floor: FloorGeometry, size: int, fg_shape: tuple[int, int], height_m: float, count: int, fg_size: int,
    jitter: float, seed: int, bg_id: int, fg_id: int, flipped: bool,
) -> list[Placement | FloorMiss]:
    """`count` distinct placements of a cut-out of `fg_shape` (h, w pixels, aspect kept), `height_m` tall
    (times a seeded factor within +-`jitter`), on a `size` x `size` background, each drawn among the visible
    floor pixels where it stands at that size inside the picture; where none is left, why (a FloorMiss).

    Pixels are first drawn at random over the whole floor (where most of them fit, a few draws find
    them); placements still missing then search the whole floor at once, which finds the far positions
    where an object too tall for the near ones fits."""
    rng = np.random.default_rng([seed, _SALT_FLOOR, bg_id, fg_id, int(flipped)])
    aspect = fg_shape[1] / fg_shape[0]
    chosen: list[Placement | FloorMiss] = []
    taken: set[tuple[int, int, int, int]] = set()
    for _ in range(_TRIES_PER_PLACEMENT * count):
        row, col = (int(v) for v in floor.contacts[rng.integers(len(floor.contacts))])
        height = height_m * (1.0 + rng.uniform(-jitter, jitter)) if jitter else height_m
        place = stand(floor, size, row, col, height, aspect, fg_size)
        if place is not None and (place.x, place.y, place.w, place.h) not in taken:
            taken.add((place.x, place.y, place.w, place.h))
            chosen.append(place)
            if len(chosen) == count:
                return chosen
    standing: dict[float, np.ndarray] = {}  # height -> the contacts' indices where it stands
    while len(chosen) < count:
        height = height_m * (1.0 + rng.uniform(-jitter, jitter)) if jitter else height_m
        if height not in standing:
            standing[height] = np.flatnonzero(standing_pixels(floor, size, height, aspect, fg_size))
        chosen.append(_search_floor(floor, size, height, aspect, fg_size, standing[height], rng, taken))
    return chosen


def _search_floor(floor: FloorGeometry, size: int, height_m: float, aspect: float, fg_size: int, fits: np.ndarray,
                  rng: np.random.Generator, taken: set) -> Placement | FloorMiss:
    """A placement drawn uniformly among `fits` (the indices of the floor pixels the cut-out stands on)
    that no earlier placement of its group took (added to `taken`), or why there is none."""
    if not len(fits):
        return FloorMiss.DOES_NOT_FIT
    while len(fits):
        pick = int(rng.integers(len(fits)))
        row, col = (int(v) for v in floor.contacts[fits[pick]])
        place = stand(floor, size, row, col, height_m, aspect, fg_size)  # the one rule, pixel by pixel
        if place is not None and (place.x, place.y, place.w, place.h) not in taken:
            taken.add((place.x, place.y, place.w, place.h))
            return place
        fits = np.delete(fits, pick)
    return FloorMiss.TOO_LITTLE_FLOOR


def standing_pixels(floor: FloorGeometry, size: int, height_m: float, aspect: float, fg_size: int) -> np.ndarray:
    """(N,) bool: for each of the floor's contact pixels, whether `stand` places the cut-out there (the
    same arithmetic for all pixels at once)."""
    intrinsics, normal = floor.intrinsics, np.asarray(floor.plane[:3], dtype=np.float64)
    rows = floor.contacts[:, 0].astype(np.float64)
    cols = floor.contacts[:, 1].astype(np.float64)
    rays = np.stack([(cols + 0.5 - intrinsics.cx) / intrinsics.fx, -(rows + 0.5 - intrinsics.cy) / intrinsics.fy,
                     np.ones_like(rows)], axis=1)
    along = rays @ normal
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = float(floor.plane[3]) / along
        top = t[:, None] * rays + height_m * normal
        v_top = intrinsics.cy - intrinsics.fy * top[:, 1] / top[:, 2]
        fits = (np.abs(along) >= 1e-12) & (t > 0) & np.isfinite(v_top) & (v_top >= 0)
        h = rows - np.floor(np.where(fits, v_top, 0.0)) + 1
        w = np.maximum(1, np.round(h * aspect))
        x = np.floor(cols + 0.5 - w / 2)
    return fits & (h >= min_height_px(size)) & (x >= 0) & (x + w <= size)


def stand(floor: FloorGeometry, size: int, row: int, col: int, height_m: float, aspect: float, fg_size: int) -> Placement | None:
    """The silhouette standing on pixel (row, col), or None if it does not fit the picture."""
    contact = ray_plane_point(col + 0.5, row + 0.5, floor.intrinsics, floor.plane)
    if contact is None:
        return None
    top = top_of_object(contact, height_m, floor.plane, floor.intrinsics)
    if not math.isfinite(top) or top < 0:
        return None
    y = math.floor(top)
    h = row - y + 1
    w = max(1, round(h * aspect))
    x = math.floor(col + 0.5 - w / 2)
    if h < min_height_px(size) or x < 0 or x + w > size:
        return None
    return Placement(x, y, max(w, h) / fg_size, w, h, tuple(float(v) for v in contact))


def attach_floors(backgrounds: list, seed: int, threads: int = 1) -> None:
    """Fit each background's floor from its metric depth (on `threads` threads: numpy releases the GIL);
    a background without one keeps `floor` None and its placements follow the uniform rule."""
    from ..threads import ordered_map

    def fit(background) -> FloorGeometry | None:
        if background.depth is None or background.intrinsics is None:
            return None
        return floor_geometry(background.depth, background.intrinsics, seed)

    for background, floor in zip(backgrounds, ordered_map(fit, backgrounds, threads)):
        background.floor = floor
