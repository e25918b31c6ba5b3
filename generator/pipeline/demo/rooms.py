"""Demo rooms: closed boxes with a floor, walls, a window, a picture and a door, furnished with box
occluders (furniture.py), ray cast through a pinhole camera with their exact depth (see the package
docstring for the camera model)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .furniture import FURNITURE, contact_occlusion, furniture_albedo, intersect_items, sample_furniture
from .textures import ceiling_texture, floor_texture, wall_texture

# Surface ids of the room box, in the order used by `_intersect_box`.
FLOOR, CEILING, LEFT_WALL, RIGHT_WALL, FRONT_WALL, BACK_WALL = range(6)
_NORMALS = np.array(  # inward-facing normal of each surface, indexed by surface id
    [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32
)


# --------------------------------------------------------------------------- rooms

_FLOOR_STYLES = ("planks", "tiles", "checker", "carpet")
WOOD = [(0.55, 0.38, 0.22), (0.70, 0.52, 0.33), (0.40, 0.27, 0.16), (0.78, 0.66, 0.50)]
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
    furniture: tuple = ()  # furniture.Item boxes standing in the room


class RoomImage(NamedTuple):
    rgb: np.ndarray  # (size, size, 3) uint8
    depth: np.ndarray  # (size, size) float32 z-depth in metres
    surface: np.ndarray  # (size, size) int8 surface id: FLOOR ... BACK_WALL, FURNITURE + item index
    room: Room


def render_room(rng: np.random.Generator, size: int, furniture_rng: np.random.Generator | None = None) -> RoomImage:
    """A random room; furnished from `furniture_rng` (a separate stream: the bare room and its pixel
    grain are the same draws with or without furniture)."""
    room = _sample_room(rng, size)
    if furniture_rng is not None:
        bare = room

        def accept(items: tuple) -> bool:
            return _furniture_ok(bare._replace(furniture=items), size)

        room = room._replace(furniture=sample_furniture(furniture_rng, room, size, accept))
    return draw_room(room, size, rng)


def draw_room(room: Room, size: int, rng: np.random.Generator) -> RoomImage:
    """Ray cast `room`; `rng` only adds the per-pixel grain."""
    dirs = _camera_rays(room, size)
    depth, surface, axis, part = _intersect(room, dirs)
    points = room.camera[:, None] + dirs * depth[None, :]
    normals = _surface_normals(surface, axis, dirs)
    colour, emission = _surface_colours(room, surface, axis, part, normals, points, depth, dirs)
    shade = _shading(room, surface, normals, points)
    lit = colour * (shade * (1 - emission) + emission)[:, None]
    # A little per-pixel grain so flat walls do not look like vector art.
    lit += np.float32(0.012) * rng.standard_normal(lit.shape, dtype=np.float32)  # float32: 2x faster
    rgb = np.clip(lit * 255 + 0.5, 0, 255).astype(np.uint8).reshape(size, size, 3)
    return RoomImage(rgb, depth.reshape(size, size).astype(np.float32), surface.reshape(size, size), room)


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
        floor_colour=_jitter(rng, [WOOD, _TILE, _TILE, _CARPET]),
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


def _intersect(room: Room, dirs: np.ndarray):
    """Depth, surface id, face axis (furniture; -1 on the room box) and box index of the nearest hit."""
    depth, surface = _intersect_box(room, dirs)
    axis, part = np.full(depth.shape, -1, np.int8), np.zeros(depth.shape, np.int8)
    if room.furniture:
        intersect_items(room.furniture, room.camera, dirs, depth, surface, axis, part)
    return depth, surface, axis, part


def _bottom_centre_sees_floor(room: Room, size: int, columns=(0.0,)) -> bool:
    """True when the bottom 15 % of rows all hit the floor along the centre line (the test relies on
    it), and along the other `columns` (pixel offsets from the image centre)."""
    rows = np.arange(int(size * 0.85), size, dtype=np.float32) + 0.5 - size / 2
    x, rows = np.meshgrid(np.float32(columns), rows)
    x, rows = x.ravel(), rows.ravel()
    local = np.stack([x / room.focal, -rows / room.focal, np.ones_like(rows)])
    _, surface, _, _ = _intersect(room, _rotate(local, room.pitch, room.yaw))
    return bool(np.all(surface == FLOOR))


def _furniture_ok(room: Room, size: int, grid: int = 24) -> bool:
    """The floor rule still holds and, on a coarse grid of rays, no item covers over 30 % of the view
    and all together no more than 45 %."""
    middle = np.arange(size // 2 - 1, size // 2 + 1) + 0.5 - size / 2  # the centre pixel columns
    if not _bottom_centre_sees_floor(room, size, (0.0, *middle)):
        return False
    px, py = _pixel_grid(grid)
    scale = size / grid / room.focal
    local = np.stack([px * scale, py * scale, np.ones_like(px)])
    _, surface, _, _ = _intersect(room, _rotate(local, room.pitch, room.yaw))
    counts = np.bincount(surface.astype(np.intp), minlength=FURNITURE + len(room.furniture))[FURNITURE:]
    return counts.max() <= 0.3 * grid * grid and counts.sum() <= 0.45 * grid * grid


def _surface_normals(surface: np.ndarray, axis: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """(3, N) unit normals facing the camera: the room box's inward ones, a box face's outward one."""
    room_surface = np.minimum(surface, FURNITURE - 1).astype(np.intp)
    normals = _NORMALS[room_surface].T.copy()
    boxes = np.flatnonzero(axis >= 0)
    face = axis[boxes].astype(np.intp)
    normals[:, boxes] = 0
    normals[face, boxes] = -np.sign(dirs[face, boxes])
    return normals


# ----- textures


def _surface_colours(room, surface, axis, part, normals, points, depth, dirs) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) albedo in [0, 1] and (N,) emission weight (1 = unlit, e.g. the view out of a window)."""
    colour = np.empty((surface.size, 3), dtype=np.float32)
    emission = np.zeros(surface.size, dtype=np.float32)
    footprint = _pixel_footprint(room, normals, depth, dirs)
    x, y, z = points

    floor = surface == FLOOR
    colour[floor] = floor_texture(room, x[floor], z[floor], footprint[floor])

    ceiling = surface == CEILING
    colour[ceiling], emission[ceiling] = ceiling_texture(room, x[ceiling], z[ceiling])

    boxes = surface >= FURNITURE
    if boxes.any():
        colour[boxes] = furniture_albedo(room.furniture, surface[boxes], axis[boxes], part[boxes],
                                         normals[:, boxes], points[:, boxes])

    walls = (surface >= LEFT_WALL) & ~boxes
    along = np.where(surface[walls] <= RIGHT_WALL, z[walls], x[walls])  # horizontal wall coordinate
    colour[walls], emission[walls] = wall_texture(room, surface[walls], along, y[walls], footprint[walls])
    return colour, emission


def _pixel_footprint(room, normals, depth, dirs) -> np.ndarray:
    """Approximate size in metres of one pixel on the surface; used to fade detail that would alias."""
    length = np.sqrt((dirs * dirs).sum(axis=0))
    grazing = np.maximum(np.abs((normals * dirs).sum(axis=0)) / length, 0.05)
    return depth * length / (room.focal * grazing)


# ----- lighting


def _shading(room: Room, surface: np.ndarray, normals: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Ambient + point light with distance falloff, darkened near room corners and next to furniture
    (cheap ambient occlusion)."""
    to_light = room.light[:, None] - points
    distance = np.sqrt((to_light * to_light).sum(axis=0)) + 1e-6
    lambert = np.maximum((normals * to_light).sum(axis=0) / distance, 0)
    direct = lambert / (1 + 0.04 * distance * distance)
    shade = (0.45 + 0.6 * direct) * _corner_occlusion(room, surface, points)
    if room.furniture:
        bare = np.flatnonzero(surface < FURNITURE)
        shade[bare] *= contact_occlusion(room.furniture, points[:, bare])
    return shade


def _corner_occlusion(room: Room, surface: np.ndarray, points: np.ndarray) -> np.ndarray:
    upper = np.array([room.width, room.height, room.depth], dtype=np.float32)[:, None]
    gap = np.minimum(points, upper - points)  # distance to the nearer face along each axis
    bare = np.flatnonzero(surface < FURNITURE)  # furniture is darkened near every room face
    own_axis = np.array([1, 1, 0, 0, 2, 2])[surface[bare].astype(np.intp)]
    gap[own_axis, bare] = np.inf  # the surface's own plane is not an occluder
    return 1 - 0.35 * np.exp(-gap.min(axis=0) / 0.25)
