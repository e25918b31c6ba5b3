"""Built-in, procedurally generated demo inputs: no files, no network, deterministic.

Backgrounds are closed box rooms rendered by vectorised ray casting, furnished with occluders made of
axis-aligned boxes (tables, sofas, shelves, pillars, door frames) standing on the floor.

Camera model
------------
World frame: x to the right, y up, z forward (metres).  The room is the box
``[0, W] x [0, H] x [0, D]``: floor ``y = 0``, ceiling ``y = H``, left/right walls
``x = 0`` / ``x = W``, front wall ``z = 0`` (behind the camera) and back wall ``z = D``.
The pinhole camera sits inside the box at ``(cx, height, cz)`` with focal length ``f``
in pixels and the principal point at the image centre.  Pixel ``(row, col)`` (centre at
``+0.5``) has the camera-frame ray ``((col + .5 - size/2) / f, (size/2 - row - .5) / f, 1)``
(y up).  That ray is pitched about the camera x axis (positive = look up) and then yawed
about the world y axis (positive = turn right).

Because the camera-frame ray has z component exactly 1 and rotations are applied to it
unnormalised, the ray parameter ``t`` of a hit is directly the z-depth along the optical
axis (what depth maps store), not the Euclidean range.  The camera is strictly inside a
closed box, so every ray leaves it through exactly one face at a finite ``t > 0``: depth
is positive and finite everywhere.  Furniture boxes are tested with the slab method on the
same unnormalised rays, so their hits are z-depths too; the nearest of all hits wins.  Each
hit also gives a surface id and 2-D surface coordinates (metres) from which the textures
are computed.

`demo_rooms` also returns the intrinsics ``(fx, fy, cx, cy) = (f, f, size/2, size/2)``: pixel
``(row, col)`` at depth ``z`` is the camera-frame point ``(z (col + .5 - cx) / fx,
-z (row + .5 - cy) / fy, z)`` (y up), and the floor plane ``n . P = d`` in that frame, with
``n`` the world up vector seen from the camera (unit, pointing up) and ``d = -camera height``.

Foregrounds are sprites built from a few signed-distance primitives (circles, rounded
boxes, capsules, trapezoids) with analytic bounding boxes, which lets the sprite be
scaled and placed so that its alpha support exactly fills ``max(h, w) == size`` pixels
and touches the bottom edge, without resampling.  Each sprite also has a real height in
metres, drawn from its kind's plausible range by a separate random stream (so the pixels
do not depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...threads import ordered_map
from .furniture import FURNITURE
from .rooms import FLOOR, render_room
from .sprites import SPRITE_KINDS, render_sprite

__all__ = ["DemoRoom", "DemoSprite", "FLOOR", "FURNITURE", "HEIGHT_RANGES", "demo_backgrounds",
           "demo_foregrounds", "demo_rooms", "demo_sprites", "floor_plane"]

MIN_SIZE = 16

_FOREGROUND_STREAM = 0xF0  # extra seed word so sprites are not correlated with rooms
_FURNITURE_STREAM = 0xF1  # furniture of room `index`: the bare room is the same draws as before
_HEIGHT_STREAM = 0xF2  # sprite heights: drawing them leaves the sprites' pixels unchanged

# Real height in metres of the whole silhouette, by sprite kind (a vase and a floor lamp share a kind:
# the range is picked from the sprite's aspect ratio, see `_height`).
HEIGHT_RANGES = {
    "person": (1.6, 1.9), "animal": (0.5, 0.8), "chair": (0.85, 1.0), "plant": (0.5, 1.5),
    "vase": (0.3, 0.6), "lamp": (1.2, 1.6), "table": (0.7, 0.8), "snowman": (1.0, 1.8),
}


@dataclass(frozen=True, eq=False)
class DemoRoom:
    rgb: np.ndarray  # (size, size, 3) uint8
    depth: np.ndarray  # (size, size) float32, metres along the optical axis
    intrinsics: tuple[float, float, float, float]  # fx, fy, cx, cy in pixels (pixel centres at +0.5)
    floor: tuple[float, float, float, float]  # nx, ny, nz, d: the floor is n . P = d (camera frame, n up)
    occluder_fraction: float  # fraction of pixels that see furniture
    surface: np.ndarray  # (size, size) int8: FLOOR, CEILING, walls 2..5, FURNITURE + item index


@dataclass(frozen=True, eq=False)
class DemoSprite:
    rgba: np.ndarray  # (h, w, 4) uint8, max(h, w) == size
    kind: str  # person, animal, chair, plant, vase_or_lamp, table or snowman
    height_m: float  # real height of the whole sprite image in metres


# --------------------------------------------------------------------------- public API


def demo_rooms(count: int, size: int, seed: int = 0, threads: int = 1) -> list[DemoRoom]:
    """`count` furnished indoor rooms with exact depth, camera intrinsics and floor plane, rendered on
    up to `threads` threads (the same rooms whatever the thread count)."""
    _check_args(count, size, seed)
    return ordered_map(lambda index: _demo_room(seed, index, size), range(count), threads)


def demo_backgrounds(count: int, size: int, seed: int = 0, threads: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` indoor-like rooms, each (rgb uint8 (size,size,3), depth float32 (size,size) in metres),
    rendered on up to `threads` threads: `demo_rooms` without the geometry."""
    return [(room.rgb, room.depth) for room in demo_rooms(count, size, seed, threads)]


def demo_sprites(count: int, size: int, seed: int = 0, threads: int = 1) -> list[DemoSprite]:
    """`count` cut-out sprites with their kind and real height in metres, rendered on up to `threads`
    threads (the same sprites whatever the thread count)."""
    _check_args(count, size, seed)
    return ordered_map(lambda index: _demo_sprite(seed, index, size), range(count), threads)


def _demo_sprite(seed: int, index: int, size: int) -> DemoSprite:
    rng = np.random.default_rng([seed, index, _FOREGROUND_STREAM])
    # Cycle through the kinds so even a handful of sprites is varied.
    kind = SPRITE_KINDS[(index + seed) % len(SPRITE_KINDS)]
    rgba = render_sprite(kind(rng), size, salt=index * 7919 + seed)
    height = _height(kind.__name__, rgba, np.random.default_rng([seed, index, _HEIGHT_STREAM]))
    return DemoSprite(rgba, kind.__name__, height)


def demo_foregrounds(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """`count` cut-out sprites, each RGBA uint8 (h, w, 4) with max(h, w) == size, soft alpha edges,
    alpha exactly 0 well outside the shape, 255 inside: `demo_sprites` without kind and height."""
    return [sprite.rgba for sprite in demo_sprites(count, size, seed)]


def floor_plane(camera_height: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """The floor y_world = 0 in the camera frame of a camera `camera_height` m above it, pitched then
    yawed as in rooms._rotate: the world up vector rotated back (yaw undone, then pitch), d = -height."""
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    x, y, z = 0.0, 1.0, 0.0  # world up
    x, z = x * cy - z * sy, x * sy + z * cy  # undo the yaw
    y, z = y * cp - z * sp, y * sp + z * cp  # undo the pitch
    return float(x), float(y), float(z), -float(camera_height)


def _demo_room(seed: int, index: int, size: int) -> DemoRoom:
    # Each room from its own seeds, so rendering them on threads gives the same rooms.
    image = render_room(np.random.default_rng([seed, index]), size, np.random.default_rng([seed, index, _FURNITURE_STREAM]))
    room = image.room
    focal, centre = float(room.focal), size / 2
    return DemoRoom(
        rgb=image.rgb, depth=image.depth, intrinsics=(focal, focal, centre, centre),
        floor=floor_plane(float(room.camera[1]), float(room.pitch), float(room.yaw)),
        occluder_fraction=float(np.mean(image.surface >= FURNITURE)), surface=image.surface,
    )


def _height(kind: str, rgba: np.ndarray, rng: np.random.Generator) -> float:
    if kind == "vase_or_lamp":  # a floor lamp is a tall thin image, a vase is about as wide as tall
        kind = "lamp" if rgba.shape[0] > 2 * rgba.shape[1] else "vase"
    return float(rng.uniform(*HEIGHT_RANGES[kind]))


def _check_args(count: int, size: int, seed: int) -> None:
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if int(size) != size or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


