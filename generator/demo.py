"""Built-in, procedurally generated demo inputs: no files, no network, deterministic.

Backgrounds are closed box rooms rendered by vectorised ray casting.

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
is positive and finite everywhere.  Each hit also gives a surface id and 2-D surface
coordinates (metres) from which the textures are computed.

Foregrounds are sprites built from a few signed-distance primitives (circles, rounded
boxes, capsules, trapezoids) with analytic bounding boxes, which lets the sprite be
scaled and placed so that its alpha support exactly fills ``max(h, w) == size`` pixels
and touches the bottom edge, without resampling.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

from .threads import ordered_map

MIN_SIZE = 16

# Surface ids of the room box, in the order used by `_intersect_box`.
FLOOR, CEILING, LEFT_WALL, RIGHT_WALL, FRONT_WALL, BACK_WALL = range(6)
_NORMALS = np.array(  # inward-facing normal of each surface, indexed by surface id
    [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32
)

_FOREGROUND_STREAM = 0xF0  # extra seed word so sprites are not correlated with rooms


# --------------------------------------------------------------------------- public API


def demo_backgrounds(count: int, size: int, seed: int = 0, threads: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` indoor-like rooms, each (rgb uint8 (size,size,3), depth float32 (size,size) in metres),
    rendered on up to `threads` threads."""
    _check_args(count, size, seed)
    # Each room from its own seed, so rendering them on threads gives the same rooms.
    return ordered_map(lambda index: _render_room(np.random.default_rng([seed, index]), size), range(count), threads)


def demo_foregrounds(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """`count` cut-out sprites, each RGBA uint8 (h, w, 4) with max(h, w) == size, soft alpha edges,
    alpha exactly 0 well outside the shape, 255 inside."""
    _check_args(count, size, seed)
    sprites = []
    for index in range(count):
        rng = np.random.default_rng([seed, index, _FOREGROUND_STREAM])
        # Cycle through the kinds so even a handful of sprites is varied.
        kind = _SPRITE_KINDS[(index + seed) % len(_SPRITE_KINDS)]
        sprites.append(_render_sprite(kind(rng), size, salt=index * 7919 + seed))
    return sprites


def _check_args(count: int, size: int, seed: int) -> None:
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if int(size) != size or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


# --------------------------------------------------------------------------- noise


def _hash01(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point (wrapping uint32 maths)."""
    h = ix.astype(np.int64).astype(np.uint32) * np.uint32(0x8DA6B343)
    h ^= iy.astype(np.int64).astype(np.uint32) * np.uint32(0xD8163841)
    h ^= np.uint32((salt * 0xCB1AB31F) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _hash_scalar(salt: int, which: int) -> float:
    """One pseudo-random number per (room, purpose); via arrays because numpy scalars warn on wrap-around."""
    return float(_hash01(np.array([salt]), np.array([which]), 5)[0])


def _value_noise(x: np.ndarray, y: np.ndarray, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1) with unit lattice spacing."""
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    tx, ty = x - fx, y - fy
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)  # smoothstep hides the lattice
    top = _hash01(ix, iy, salt) * (1 - tx) + _hash01(ix + 1, iy, salt) * tx
    bottom = _hash01(ix, iy + 1, salt) * (1 - tx) + _hash01(ix + 1, iy + 1, salt) * tx
    return (top * (1 - ty) + bottom * ty).astype(np.float32)


def _fbm(x: np.ndarray, y: np.ndarray, salt: int, octaves: int = 3) -> np.ndarray:
    """Fractal noise in roughly [0, 1): a few octaves of value noise."""
    total = np.zeros_like(x, dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        scale = 2.0**octave
        total += amplitude * _value_noise(x * scale, y * scale, salt + 101 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


# --------------------------------------------------------------------------- rooms

_FLOOR_STYLES = ("planks", "tiles", "checker", "carpet")
_WOOD = [(0.55, 0.38, 0.22), (0.70, 0.52, 0.33), (0.40, 0.27, 0.16), (0.78, 0.66, 0.50)]
_TILE = [(0.86, 0.86, 0.83), (0.60, 0.62, 0.65), (0.76, 0.70, 0.60), (0.35, 0.40, 0.45)]
_CARPET = [(0.45, 0.22, 0.20), (0.30, 0.35, 0.50), (0.52, 0.50, 0.45), (0.30, 0.45, 0.35)]
_WALL = [
    (0.92, 0.90, 0.85), (0.85, 0.80, 0.70), (0.70, 0.78, 0.82), (0.80, 0.86, 0.76),
    (0.90, 0.80, 0.75), (0.75, 0.72, 0.80), (0.95, 0.93, 0.90), (0.60, 0.65, 0.70),
]
_WALL_STYLES = ("plain", "stripes", "wainscot")


class Rect(NamedTuple):
    """Axis-aligned rectangle on a wall, in wall coordinates (along-wall u, height y)."""

    wall: int
    u0: float
    u1: float
    y0: float
    y1: float


class Room(NamedTuple):
    width: float
    height: float
    depth: float
    camera: np.ndarray  # (3,) camera centre in world coordinates
    pitch: float  # radians, positive looks up
    yaw: float  # radians, positive turns right
    focal: float  # pixels
    floor_style: str
    floor_colour: np.ndarray
    wall_style: str
    wall_colour: np.ndarray
    accent_colour: np.ndarray
    window: Rect
    picture: Rect
    door: Rect
    light: np.ndarray  # (3,) point light position
    salt: int


def _render_room(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    room = _sample_room(rng, size)
    dirs = _camera_rays(room, size)
    depth, surface = _intersect_box(room, dirs)
    points = room.camera[:, None] + dirs * depth[None, :]
    colour, emission = _surface_colours(room, surface, points, depth, dirs)
    shade = _shading(room, surface, points)
    lit = colour * (shade * (1 - emission) + emission)[:, None]
    # A little per-pixel grain so flat walls do not look like vector art.
    lit += np.float32(0.012) * rng.standard_normal(lit.shape, dtype=np.float32)  # float32: 2x faster
    rgb = np.clip(lit * 255 + 0.5, 0, 255).astype(np.uint8).reshape(size, size, 3)
    return rgb, depth.reshape(size, size).astype(np.float32)


def _sample_room(rng: np.random.Generator, size: int) -> Room:
    """Draw camera and room; resample the few draws where the bottom of the view misses the floor."""
    for _ in range(100):
        room = _draw_room(rng, size)
        if _bottom_centre_sees_floor(room, size):
            return room
    return room  # practically unreachable; any room is still a valid closed box


def _draw_room(rng: np.random.Generator, size: int) -> Room:
    width, height, depth = rng.uniform(3.0, 7.0), rng.uniform(2.4, 3.2), rng.uniform(4.5, 10.0)
    camera = np.array(
        [width * rng.uniform(0.3, 0.7), rng.uniform(1.0, 1.7), rng.uniform(0.3, 1.2)], dtype=np.float32
    )
    hfov = np.radians(rng.uniform(50.0, 80.0))
    wall_ids = rng.permutation([LEFT_WALL, RIGHT_WALL, BACK_WALL])
    return Room(
        width=width, height=height, depth=depth, camera=camera,
        pitch=np.radians(rng.uniform(-16.0, 2.0)),
        yaw=np.radians(rng.uniform(-25.0, 25.0)),
        focal=(size / 2) / np.tan(hfov / 2),
        floor_style=_FLOOR_STYLES[rng.integers(len(_FLOOR_STYLES))],
        floor_colour=_jitter(rng, [_WOOD, _TILE, _TILE, _CARPET]),
        wall_style=_WALL_STYLES[rng.integers(len(_WALL_STYLES))],
        wall_colour=_jitter(rng, [_WALL]),
        accent_colour=_jitter(rng, [_WALL, _CARPET]),
        window=_wall_rect(rng, wall_ids[0], width, depth, w=(0.9, 2.0), y=(0.8, 1.0), h=(1.0, 1.4)),
        picture=_wall_rect(rng, wall_ids[1], width, depth, w=(0.4, 1.0), y=(1.2, 1.5), h=(0.35, 0.7)),
        door=_wall_rect(rng, wall_ids[2], width, depth, w=(0.8, 0.95), y=(0.0, 0.0), h=(2.0, 2.1)),
        light=np.array([width * rng.uniform(0.3, 0.7), height - 0.3, depth * rng.uniform(0.3, 0.7)],
                       dtype=np.float32),
        salt=int(rng.integers(1 << 30)),
    )


def _jitter(rng: np.random.Generator, palettes: list) -> np.ndarray:
    """A palette colour with a small random tint, so rooms sharing a palette entry still differ."""
    palette = palettes[rng.integers(len(palettes))]
    base = np.array(palette[rng.integers(len(palette))], dtype=np.float32)
    return np.clip(base + rng.uniform(-0.05, 0.05, 3).astype(np.float32), 0, 1)


def _wall_length(wall: int, width: float, depth: float) -> float:
    return depth if wall in (LEFT_WALL, RIGHT_WALL) else width


def _wall_rect(rng, wall, width, depth, w, y, h) -> Rect:
    """A rectangle (window, picture, door) that fits on `wall` with some margin from the corners."""
    length = _wall_length(wall, width, depth)
    rect_w = min(rng.uniform(*w), 0.6 * length)
    u0 = rng.uniform(0.15 * length, 0.85 * length - rect_w)
    y0 = rng.uniform(*y)
    return Rect(int(wall), u0, u0 + rect_w, y0, y0 + rng.uniform(*h))


@lru_cache(maxsize=8)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from the principal point (x right, y up), flattened row-major."""
    offsets = np.arange(size, dtype=np.float32) + 0.5 - size / 2
    px = np.tile(offsets, size)
    py = -np.repeat(offsets, size)
    px.flags.writeable = py.flags.writeable = False  # cached: callers must not modify
    return px, py


def _camera_rays(room: Room, size: int) -> np.ndarray:
    """(3, N) world-frame rays whose camera-frame z component is 1 (so ray t == z-depth)."""
    px, py = _pixel_grid(size)
    x, y, z = px / room.focal, py / room.focal, np.ones_like(px)
    return _rotate(np.stack([x, y, z]), room.pitch, room.yaw)


def _rotate(vectors: np.ndarray, pitch: float, yaw: float) -> np.ndarray:
    """Pitch about x (positive looks up), then yaw about y (positive turns right)."""
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    x, y, z = vectors
    y, z = y * cp + z * sp, -y * sp + z * cp
    x, z = x * cy + z * sy, -x * sy + z * cy
    return np.stack([x, y, z]).astype(np.float32)


def _intersect_box(room: Room, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exit distance and surface id of each ray leaving the closed room box from inside."""
    upper = np.array([room.width, room.height, room.depth], dtype=np.float32)
    hits = np.empty_like(dirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            d, o = dirs[axis], room.camera[axis]
            # From inside, a ray can only exit through the face it moves towards.
            hits[axis] = np.where(d > 0, (upper[axis] - o) / d, np.where(d < 0, -o / d, np.inf))
    axis = np.argmin(hits, axis=0)
    t = np.take_along_axis(hits, axis[None], axis=0)[0]
    towards_upper = np.take_along_axis(dirs, axis[None], axis=0)[0] > 0
    # axis 0 -> left/right wall, 1 -> floor/ceiling, 2 -> front/back wall
    surface = np.array([LEFT_WALL, FLOOR, FRONT_WALL], dtype=np.int8)[axis] + towards_upper
    return t.astype(np.float32), surface.astype(np.int8)


def _bottom_centre_sees_floor(room: Room, size: int) -> bool:
    """True when the centre column's bottom 15 % of rows all hit the floor (the test relies on it)."""
    rows = np.arange(int(size * 0.85), size, dtype=np.float32) + 0.5 - size / 2
    local = np.stack([np.zeros_like(rows), -rows / room.focal, np.ones_like(rows)])
    _, surface = _intersect_box(room, _rotate(local, room.pitch, room.yaw))
    return bool(np.all(surface == FLOOR))


# ----- textures


def _surface_colours(room, surface, points, depth, dirs) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) albedo in [0, 1] and (N,) emission weight (1 = unlit, e.g. the view out of a window)."""
    colour = np.empty((surface.size, 3), dtype=np.float32)
    emission = np.zeros(surface.size, dtype=np.float32)
    footprint = _pixel_footprint(room, surface, depth, dirs)
    x, y, z = points

    floor = surface == FLOOR
    colour[floor] = _floor_texture(room, x[floor], z[floor], footprint[floor])

    ceiling = surface == CEILING
    colour[ceiling], emission[ceiling] = _ceiling_texture(room, x[ceiling], z[ceiling])

    walls = surface >= LEFT_WALL
    along = np.where(surface[walls] <= RIGHT_WALL, z[walls], x[walls])  # horizontal wall coordinate
    colour[walls], emission[walls] = _wall_texture(room, surface[walls], along, y[walls], footprint[walls])
    return colour, emission


def _pixel_footprint(room, surface, depth, dirs) -> np.ndarray:
    """Approximate size in metres of one pixel on the surface; used to fade detail that would alias."""
    normals = _NORMALS[surface.astype(np.intp)].T
    length = np.sqrt((dirs * dirs).sum(axis=0))
    grazing = np.maximum(np.abs((normals * dirs).sum(axis=0)) / length, 0.05)
    return depth * length / (room.focal * grazing)


def _line_mask(coord: np.ndarray, period: float, half_width: float, footprint: np.ndarray) -> np.ndarray:
    """Coverage of thin lines every `period` metres, box-filtered by the pixel footprint (no moire)."""
    distance = np.abs(coord / period - np.round(coord / period)) * period
    fp = np.maximum(footprint, 1e-4)
    return np.clip(0.5 + (half_width - distance) / fp, 0, 1) * np.minimum(1, 2 * half_width / fp + 0.3)


def _floor_texture(room: Room, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    base, salt, style = room.floor_colour, room.salt, room.floor_style
    if style == "planks":
        return _planks(base, u, v, footprint, salt)
    if style == "tiles":
        return _tiles(base, u, v, footprint, salt)
    if style == "checker":
        return _checker(base, u, v, footprint, salt)
    grain = 0.85 + 0.3 * _fbm(u * 6, v * 6, salt)  # carpet: soft mottled noise
    return base[None, :] * grain[:, None]


def _planks(base, u, v, footprint, salt) -> np.ndarray:
    plank_w, plank_l = 0.12 + 0.1 * _hash_scalar(salt, 1), 1.4
    column = np.floor(u / plank_w)
    offset = _hash01(column, column * 0 + 7, salt) * plank_l  # staggered plank ends per column
    row = np.floor((v + offset) / plank_l)
    tone = 0.8 + 0.35 * _hash01(column, row, salt + 1)
    grain = 0.9 + 0.15 * _value_noise(u * 40, v * 2, salt + 2)  # stretched noise reads as wood grain
    seams = np.maximum(_line_mask(u, plank_w, 0.004, footprint), _line_mask(v + offset, plank_l, 0.004, footprint))
    return base[None, :] * (tone * grain * (1 - 0.5 * seams))[:, None]


def _tiles(base, u, v, footprint, salt) -> np.ndarray:
    tile = 0.3 + 0.3 * _hash_scalar(salt, 2)
    tone = 0.92 + 0.12 * _hash01(np.floor(u / tile), np.floor(v / tile), salt)
    grout = np.maximum(_line_mask(u, tile, 0.006, footprint), _line_mask(v, tile, 0.006, footprint))
    colour = base[None, :] * tone[:, None]
    return colour * (1 - grout[:, None]) + 0.45 * base[None, :] * grout[:, None]


def _checker(base, u, v, footprint, salt) -> np.ndarray:
    tile = 0.3 + 0.2 * _hash_scalar(salt, 3)
    parity = (np.floor(u / tile) + np.floor(v / tile)) % 2
    blur = np.clip(footprint / tile * 2 - 0.5, 0, 1)  # far away the checker averages to grey
    mix = parity * (1 - blur) + 0.5 * blur
    dark = base * 0.35
    return dark[None, :] + (base - dark)[None, :] * mix[:, None]


def _ceiling_texture(room: Room, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    colour = np.broadcast_to(np.float32([0.93, 0.92, 0.90]), (x.size, 3)).copy()
    lamp = np.hypot(x - room.light[0], z - room.light[2]) < 0.2  # round ceiling light fitting
    colour[lamp] = (1.0, 0.97, 0.88)
    return colour, lamp.astype(np.float32)


def _wall_texture(room, wall, u, y, footprint) -> tuple[np.ndarray, np.ndarray]:
    colour = _wall_paint(room, u, y, footprint)
    colour = _baseboard(colour, y)
    colour = _paint_door(room.door, colour, wall, u, y)
    colour = _paint_picture(room, colour, wall, u, y)
    return _paint_window(room, colour, wall, u, y)


def _wall_paint(room, u, y, footprint) -> np.ndarray:
    base, accent = room.wall_colour, room.accent_colour
    mottle = 0.95 + 0.07 * _fbm(u * 3, y * 3, room.salt + 11, octaves=2)
    colour = base[None, :] * mottle[:, None]
    if room.wall_style == "stripes":
        stripe = _line_mask(u, 0.3, 0.06, footprint)
        colour = colour * (1 - 0.12 * stripe[:, None])
    elif room.wall_style == "wainscot":
        lower = y < 0.9
        colour[lower] = accent * mottle[lower, None] * 0.9
        rail = np.abs(y - 0.9) < 0.025
        colour[rail] = 0.95
    return colour


def _baseboard(colour, y) -> np.ndarray:
    colour[y < 0.1] = 0.9
    return colour


def _in_rect(rect: Rect, wall, u, y, margin: float = 0.0) -> np.ndarray:
    return (
        (wall == rect.wall) & (u > rect.u0 - margin) & (u < rect.u1 + margin)
        & (y > rect.y0 - margin) & (y < rect.y1 + margin)
    )


def _paint_door(door: Rect, colour, wall, u, y) -> np.ndarray:
    frame, leaf = _in_rect(door, wall, u, y, margin=0.05), _in_rect(door, wall, u, y)
    colour[frame] = 0.92
    panel = 0.55 + 0.08 * (np.abs((u - door.u0) / (door.u1 - door.u0) - 0.5) < 0.3)
    colour[leaf] = np.float32([0.62, 0.44, 0.28]) * panel[leaf, None]
    knob = leaf & (np.hypot(u - (door.u0 + 0.08), y - 1.0) < 0.03)
    colour[knob] = (0.8, 0.7, 0.3)
    return colour


def _paint_picture(room, colour, wall, u, y) -> np.ndarray:
    rect = room.picture
    frame, canvas = _in_rect(rect, wall, u, y, margin=0.04), _in_rect(rect, wall, u, y)
    colour[frame] = (0.15, 0.1, 0.07)
    # An abstract painting: two colours mixed by low-frequency noise.
    paint = _fbm(u[canvas] * 4, y[canvas] * 4, room.salt + 23)[:, None]
    colour[canvas] = room.accent_colour * paint + (1 - room.floor_colour) * (1 - paint)
    return colour


def _paint_window(room, colour, wall, u, y) -> tuple[np.ndarray, np.ndarray]:
    rect = room.window
    frame, glass = _in_rect(rect, wall, u, y, margin=0.06), _in_rect(rect, wall, u, y)
    mid_u, mid_y = (rect.u0 + rect.u1) / 2, (rect.y0 + rect.y1) / 2
    glass &= (np.abs(u - mid_u) > 0.025) & (np.abs(y - mid_y) > 0.025)  # cross-shaped mullions
    colour[frame] = 0.95
    colour[glass] = _view_outside(room, u[glass] - rect.u0, (y[glass] - rect.y0) / (rect.y1 - rect.y0))
    return colour, glass.astype(np.float32)


def _view_outside(room, u, height_fraction) -> np.ndarray:
    """Sky gradient over a noisy green hill line, seen through a window."""
    sky = np.float32([0.55, 0.75, 0.95])[None, :] + (0.4 * height_fraction)[:, None] * np.float32([0.4, 0.2, 0.05])
    hills = height_fraction < 0.25 + 0.2 * _value_noise(u * 2, u * 0, room.salt + 31)
    sky[hills] = np.float32([0.35, 0.55, 0.3]) * (0.9 + 0.2 * _value_noise(u[hills] * 9, height_fraction[hills] * 9, room.salt))[:, None]
    return np.clip(sky, 0, 1)


# ----- lighting


def _shading(room: Room, surface: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Ambient + point light with distance falloff, darkened near room corners (cheap ambient occlusion)."""
    normals = _NORMALS[surface.astype(np.intp)].T
    to_light = room.light[:, None] - points
    distance = np.sqrt((to_light * to_light).sum(axis=0)) + 1e-6
    lambert = np.maximum((normals * to_light).sum(axis=0) / distance, 0)
    direct = lambert / (1 + 0.04 * distance * distance)
    return (0.45 + 0.6 * direct) * _corner_occlusion(room, surface, points)


def _corner_occlusion(room: Room, surface: np.ndarray, points: np.ndarray) -> np.ndarray:
    upper = np.array([room.width, room.height, room.depth], dtype=np.float32)[:, None]
    gap = np.minimum(points, upper - points)  # distance to the nearer face along each axis
    own_axis = np.array([1, 1, 0, 0, 2, 2])[surface.astype(np.intp)]
    gap[own_axis, np.arange(surface.size)] = np.inf  # the surface's own plane is not an occluder
    return 1 - 0.35 * np.exp(-gap.min(axis=0) / 0.25)


# --------------------------------------------------------------------------- sprites

_EDGE = 0.75  # half-width in pixels of the anti-aliased alpha ramp (1.5 px total)


class Part(NamedTuple):
    """One filled primitive of a sprite: signed distance (shape units), bounds, colour."""

    sdf: Callable[[np.ndarray, np.ndarray], np.ndarray]
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 with y up, exact for the filled shape
    colour: np.ndarray
    thickness: float  # inscribed half-size, for the rounded shading ramp


def circle(cx, cy, r, colour) -> Part:
    return Part(lambda x, y: np.hypot(x - cx, y - cy) - r, (cx - r, cy - r, cx + r, cy + r), _rgb(colour), r)


def round_box(cx, cy, hw, hh, colour, radius=0.0) -> Part:
    radius = min(radius, hw, hh)

    def sdf(x, y):
        qx, qy = np.abs(x - cx) - (hw - radius), np.abs(y - cy) - (hh - radius)
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        return outside + np.minimum(np.maximum(qx, qy), 0) - radius

    return Part(sdf, (cx - hw, cy - hh, cx + hw, cy + hh), _rgb(colour), min(hw, hh))


def capsule(ax, ay, bx, by, r, colour) -> Part:
    def sdf(x, y):
        px, py, ex, ey = x - ax, y - ay, bx - ax, by - ay
        h = np.clip((px * ex + py * ey) / max(ex * ex + ey * ey, 1e-12), 0, 1)
        return np.hypot(px - ex * h, py - ey * h) - r

    bbox = (min(ax, bx) - r, min(ay, by) - r, max(ax, bx) + r, max(ay, by) + r)
    return Part(sdf, bbox, _rgb(colour), r)


def trapezoid(cx, y0, half_bottom, half_top, height, colour) -> Part:
    """Isosceles trapezoid standing on y = y0 (exact distance, after Inigo Quilez)."""
    he, cy = height / 2, y0 + height / 2
    k1x, k1y, k2x, k2y = half_top, he, half_top - half_bottom, 2 * he
    k2_len2 = k2x * k2x + k2y * k2y

    def sdf(x, y):
        px, py = np.abs(x - cx), y - cy
        cax = px - np.minimum(px, np.where(py < 0, half_bottom, half_top))
        cay = np.abs(py) - he
        h = np.clip(((k1x - px) * k2x + (k1y - py) * k2y) / k2_len2, 0, 1)
        cbx, cby = px - k1x + k2x * h, py - k1y + k2y * h
        sign = np.where((cbx < 0) & (cay < 0), -1.0, 1.0)
        return sign * np.sqrt(np.minimum(cax * cax + cay * cay, cbx * cbx + cby * cby))

    half = max(half_bottom, half_top)
    return Part(sdf, (cx - half, y0, cx + half, y0 + height), _rgb(colour), min(half_top, half_bottom, he))


def _rgb(colour) -> np.ndarray:
    return np.clip(np.asarray(colour, dtype=np.float32), 0, 1)


def _hue(rng: np.random.Generator, saturation=(0.4, 0.8), value=(0.4, 0.9)) -> np.ndarray:
    """A random saturated colour from HSV, for clothes and objects."""
    h, s, v = rng.uniform(0, 1), rng.uniform(*saturation), rng.uniform(*value)
    k = (np.array([5, 3, 1]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


_SKIN = [(0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.71, 0.51, 0.36), (0.50, 0.34, 0.24), (0.36, 0.24, 0.17)]
_HAIR = [(0.1, 0.08, 0.06), (0.35, 0.22, 0.12), (0.75, 0.6, 0.35), (0.55, 0.25, 0.1), (0.6, 0.6, 0.6)]
_FUR = [(0.55, 0.38, 0.2), (0.3, 0.25, 0.2), (0.85, 0.8, 0.72), (0.15, 0.13, 0.12), (0.75, 0.5, 0.25)]


def _pick(rng, options) -> np.ndarray:
    return np.array(options[rng.integers(len(options))], dtype=np.float32)


def person(rng: np.random.Generator) -> list[Part]:
    """Standing figure, about 1 unit tall: legs, torso, arms, head with hair. Tall and narrow."""
    skin, hair, shirt, trousers = _pick(rng, _SKIN), _pick(rng, _HAIR), _hue(rng), _hue(rng, value=(0.15, 0.5))
    leg_h, torso_h, head_r = rng.uniform(0.42, 0.5), rng.uniform(0.28, 0.34), rng.uniform(0.07, 0.09)
    hip_w, shoulder_w = rng.uniform(0.08, 0.11), rng.uniform(0.1, 0.15)
    torso_top = leg_h + torso_h
    parts = [
        round_box(-hip_w / 2, leg_h / 2, hip_w / 2 - 0.005, leg_h / 2, trousers, 0.02),
        round_box(hip_w / 2, leg_h / 2, hip_w / 2 - 0.005, leg_h / 2, trousers, 0.02),
        round_box(-hip_w / 2 - 0.01, 0.02, hip_w / 2 + 0.01, 0.02, (0.1, 0.1, 0.1), 0.015),  # shoes
        round_box(hip_w / 2 + 0.01, 0.02, hip_w / 2 + 0.01, 0.02, (0.1, 0.1, 0.1), 0.015),
    ]
    if rng.uniform() < 0.4:  # a dress or long coat instead of visible trousers
        parts.append(trapezoid(0, leg_h * 0.45, shoulder_w * 1.3, shoulder_w, torso_h + leg_h * 0.55, shirt))
    parts.append(round_box(0, leg_h + torso_h / 2, shoulder_w, torso_h / 2 + 0.02, shirt, 0.05))
    for side in (-1, 1):  # arms hang down, raised by a random angle
        angle = np.radians(rng.uniform(5, 60 if rng.uniform() < 0.3 else 20))
        sx, sy = side * (shoulder_w - 0.02), torso_top - 0.03
        hand = (sx + side * 0.3 * np.sin(angle), sy - 0.3 * np.cos(angle))
        parts.append(capsule(sx, sy, *hand, 0.03, shirt * 0.9))
        parts.append(circle(*hand, 0.032, skin))
    parts.append(round_box(0, torso_top + 0.03, 0.025, 0.04, skin, 0.01))  # neck
    head_y = torso_top + 0.05 + head_r
    parts.append(circle(0, head_y + head_r * 0.15, head_r * 1.05, hair))
    parts.append(circle(0, head_y, head_r, skin))
    return parts


def animal(rng: np.random.Generator) -> list[Part]:
    """Four-legged animal side view: body, legs, head, ear and tail. Wide."""
    fur = _pick(rng, _FUR)
    length, thick, leg_h = rng.uniform(0.9, 1.5), rng.uniform(0.16, 0.24), rng.uniform(0.25, 0.45)
    body_y = leg_h + thick * 0.6
    front, back = length / 2, -length / 2
    parts = [capsule(back + 0.05, body_y + 0.05, back - rng.uniform(0.15, 0.3), body_y + rng.uniform(0.1, 0.3),
                     0.035, fur * 0.85)]  # tail, drawn first so the body covers its root
    for x in (back + thick * 0.6, back + thick * 1.2, front - thick * 1.1, front - thick * 0.5):
        shade = 0.8 if x in (back + thick * 1.2, front - thick * 0.5) else 1.0  # far legs darker
        parts.append(round_box(x, (body_y) / 2, 0.045, body_y / 2, fur * shade, 0.03))
    parts.append(capsule(back + thick, body_y, front - thick, body_y, thick, fur))
    head_r = thick * rng.uniform(0.75, 1.0)
    hx, hy = front + head_r * 0.2, body_y + thick + head_r * rng.uniform(0.3, 1.0)
    parts.append(capsule(front - thick, body_y, hx, hy, thick * 0.55, fur))  # neck
    parts.append(circle(hx, hy, head_r, fur))
    parts.append(capsule(hx, hy - head_r * 0.2, hx + head_r * 1.3, hy - head_r * 0.45, head_r * 0.45, fur * 1.1))
    parts.append(trapezoid(hx - head_r * 0.3, hy + head_r * 0.6, head_r * 0.3, 0.01, head_r * 0.7, fur * 0.7))
    parts.append(circle(hx + head_r * 0.35, hy + head_r * 0.15, head_r * 0.12, (0.05, 0.05, 0.05)))  # eye
    return parts


def chair(rng: np.random.Generator) -> list[Part]:
    """Chair in three-quarter side view: legs, seat, backrest."""
    wood = _pick(rng, _WOOD) if rng.uniform() < 0.6 else _hue(rng)
    seat_h, seat_w, back_h = rng.uniform(0.42, 0.5), rng.uniform(0.4, 0.5), rng.uniform(0.4, 0.55)
    leg = 0.025
    parts = [round_box(x, seat_h / 2, leg, seat_h / 2, wood * 0.8, 0.01) for x in (-seat_w / 2 + leg, seat_w / 2 - leg)]
    parts.append(round_box(0, seat_h, seat_w / 2 + 0.02, 0.03, wood, 0.015))
    back_x = -seat_w / 2 + leg
    parts.append(round_box(back_x, seat_h + back_h / 2, leg, back_h / 2, wood * 0.85, 0.01))
    parts.append(round_box(back_x + 0.06, seat_h + back_h * 0.7, 0.08, back_h * 0.25, wood * 0.95, 0.03))
    if rng.uniform() < 0.5:  # cushion in a contrasting colour
        parts.append(round_box(0.02, seat_h + 0.045, seat_w / 2 - 0.02, 0.025, _hue(rng), 0.02))
    return parts


def plant(rng: np.random.Generator) -> list[Part]:
    """Potted plant: trapezoid pot, fan of capsule leaves in greens."""
    pot = _hue(rng, saturation=(0.3, 0.7), value=(0.4, 0.8))
    pot_h, pot_w = rng.uniform(0.25, 0.35), rng.uniform(0.12, 0.18)
    parts = []
    for i in range(int(rng.integers(6, 11))):
        angle = np.radians(rng.uniform(-60, 60))
        reach = rng.uniform(0.35, 0.75)
        tip = (np.sin(angle) * reach, pot_h + np.cos(angle) * reach)
        green = np.array([0.15, rng.uniform(0.35, 0.6), 0.12], dtype=np.float32) * rng.uniform(0.7, 1.2)
        parts.append(capsule(0, pot_h, *tip, rng.uniform(0.025, 0.05), green))
        parts.append(circle(*tip, rng.uniform(0.05, 0.09), green * 1.1))
    parts.append(trapezoid(0, 0, pot_w * 0.75, pot_w, pot_h, pot))
    parts.append(round_box(0, pot_h, pot_w * 1.08, 0.025, pot * 0.85, 0.01))  # rim
    return parts


def vase_or_lamp(rng: np.random.Generator) -> list[Part]:
    """Either a bulbous vase or a floor lamp: tall, narrow objects."""
    colour = _hue(rng)
    if rng.uniform() < 0.5:
        r = rng.uniform(0.15, 0.22)
        return [
            trapezoid(0, 0, r * 0.5, r * 0.6, 0.06, colour * 0.8),
            circle(0, r * 0.95, r, colour),
            trapezoid(0, r * 1.7, r * 0.3, r * rng.uniform(0.3, 0.5), r * rng.uniform(0.5, 1.2), colour * 1.1),
        ]
    height = rng.uniform(1.2, 1.7)
    return [
        round_box(0, 0.03, 0.15, 0.03, (0.15, 0.15, 0.15), 0.02),
        capsule(0, 0.05, 0, height - 0.2, 0.015, (0.25, 0.25, 0.25)),
        trapezoid(0, height - 0.3, rng.uniform(0.18, 0.25), rng.uniform(0.08, 0.14), 0.3, colour * 0.6 + 0.4),
    ]


def table(rng: np.random.Generator) -> list[Part]:
    """Side table: wide top on two legs."""
    wood = _pick(rng, _WOOD)
    top_w, top_h = rng.uniform(0.5, 0.8), rng.uniform(0.45, 0.7)
    # Legs and top are chunky enough to stay solid (alpha 255) even in small sprites.
    parts = [round_box(x, top_h / 2, 0.045, top_h / 2, wood * 0.8, 0.01) for x in (-top_w + 0.08, top_w - 0.08)]
    parts.append(round_box(0, top_h, top_w, 0.05, wood, 0.015))
    if rng.uniform() < 0.6:  # something standing on the table
        parts.append(circle(rng.uniform(-0.3, 0.3) * top_w, top_h + 0.1, 0.07, _hue(rng)))
    return parts


def snowman(rng: np.random.Generator) -> list[Part]:
    """Blob creature of stacked balls with eyes: a soft, rounded silhouette."""
    colour = _hue(rng, saturation=(0.2, 0.7), value=(0.6, 0.95))
    radii = sorted(rng.uniform(0.12, 0.28, int(rng.integers(2, 4))), reverse=True)
    parts, y = [], 0.0
    for r in radii:
        parts.append(circle(rng.uniform(-0.03, 0.03), y + r, r, colour))
        y += 1.7 * r
    head_x, head_y, head_r = parts[-1].bbox[0] + radii[-1], y - 0.7 * radii[-1], radii[-1]
    for side in (-1, 1):
        parts.append(circle(head_x + side * head_r * 0.35, head_y + head_r * 0.2, head_r * 0.12, (0.05, 0.05, 0.05)))
    # Flat feet so it stands on the ground line.
    parts.append(round_box(0, 0.02, radii[0] * 0.6, 0.02, colour * 0.7, 0.02))
    return parts


_SPRITE_KINDS = (person, animal, chair, plant, vase_or_lamp, table, snowman)


# ----- sprite rendering


def _render_sprite(parts: list[Part], size: int, salt: int) -> np.ndarray:
    """Rasterise parts so the alpha support is tight, max(h, w) == size and it touches the bottom."""
    x0 = min(p.bbox[0] for p in parts)
    y0 = min(p.bbox[1] for p in parts)
    x1 = max(p.bbox[2] for p in parts)
    y1 = max(p.bbox[3] for p in parts)
    # Alpha > 0 exactly where distance < _EDGE px, i.e. on the shape's bbox grown by _EDGE px
    # (growing a union of convex parts grows each bbox uniformly).  Choose the scale so that
    # grown box spans exactly `size` pixels along the longer side.
    scale = (size - 2 * _EDGE) / max(x1 - x0, y1 - y0)
    extent_x, extent_y = (x1 - x0) * scale + 2 * _EDGE, (y1 - y0) * scale + 2 * _EDGE
    width, height = _canvas_length(extent_x, size), _canvas_length(extent_y, size)
    offset_x = (width - extent_x) / 2  # centred horizontally ...
    offset_y = height - extent_y  # ... and flush with the bottom so the sprite stands on the ground
    cols = np.arange(width, dtype=np.float32) + 0.5
    rows = np.arange(height, dtype=np.float32) + 0.5
    x = (x0 + (cols - _EDGE - offset_x) / scale)[None, :]
    y = (y1 - (rows - _EDGE - offset_y) / scale)[:, None]
    x, y = np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))
    rgb, alpha = _composite_parts(parts, x, y, scale, salt)
    return _crop_to_alpha(np.dstack([rgb, alpha]))


def _canvas_length(extent: float, size: int) -> int:
    # The longer side is exactly `size`: its extreme rows/columns always contain a pixel
    # centre because every part's outline is curved at least as tightly as the 0.75 px ramp.
    return size if extent >= size - 1e-3 else min(int(np.ceil(extent)), size)


def _composite_parts(parts, x, y, scale, salt) -> tuple[np.ndarray, np.ndarray]:
    union = np.full(x.shape, np.inf, dtype=np.float32)
    colour = np.broadcast_to(parts[0].colour, x.shape + (3,)).astype(np.float32)
    grain = 0.94 + 0.12 * _value_noise(x * scale / 6, y * scale / 6, salt)  # soft surface blotches
    top_light = 0.9 + 0.2 * (y - y.min()) / max(float(y.max() - y.min()), 1e-6)  # lit from above
    for part in parts:
        distance = part.sdf(x, y) * scale  # shape units -> pixels
        union = np.minimum(union, distance)
        coverage = _ramp(distance)[..., None]
        # Darker towards each part's outline: reads as a rounded, lit volume.
        rounded = 0.7 + 0.3 * np.clip(-distance / (part.thickness * scale + 1e-6), 0, 1) ** 0.5
        shaded = part.colour * (rounded * grain * top_light)[..., None]
        colour = colour + (shaded - colour) * coverage
    alpha = np.ceil(_ramp(union) * 255)  # ceil: any coverage > 0 stays visible as alpha >= 1
    rgb = np.clip(colour * 255 + 0.5, 0, 255) * (alpha > 0)[..., None]
    return rgb.astype(np.uint8), alpha.astype(np.uint8)


def _ramp(distance: np.ndarray) -> np.ndarray:
    """Alpha from signed distance in pixels: 1 inside, 0 beyond _EDGE px outside, linear between."""
    return np.clip((_EDGE - distance) / (2 * _EDGE), 0, 1).astype(np.float32)


def _crop_to_alpha(rgba: np.ndarray) -> np.ndarray:
    visible = rgba[..., 3] > 0
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    return np.ascontiguousarray(rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
