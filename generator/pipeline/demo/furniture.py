"""Demo furniture: occluders made of axis-aligned boxes standing on the room's floor (tables, sofas,
shelves, pillars, door frames), their exact ray/box intersection, textures and contact shadows.

Boxes are ``(lo, hi)`` corner pairs in the room's world frame (x right, y up, z forward; floor y = 0).
The camera is outside every box, so a ray's slab-test entry distance is its hit; because the camera
rays have camera-frame z component 1, that distance is the z-depth (see the package docstring).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .noise import fbm, hash01, value_noise

FURNITURE = 6  # surface id of the first item; item k of a room has surface id FURNITURE + k
KINDS = ("table", "sofa", "shelf", "pillar", "door_frame")
_KIND_WEIGHTS = (0.3, 0.2, 0.25, 0.1, 0.15)
CAMERA_CLEARANCE = 0.6  # metres from the camera's (x, z) to any item's footprint
_GAP = 0.15  # metres between the footprints of two items
_SHADOW_REACH = 0.9  # metres: contact shadows fade to under 1 % by then
_WALLS = (2, 3, 5)  # LEFT_WALL, RIGHT_WALL, BACK_WALL surface ids (rooms.py): where wall items stand

_WOOD = [(0.45, 0.30, 0.18), (0.62, 0.45, 0.28), (0.30, 0.20, 0.13), (0.72, 0.60, 0.45), (0.55, 0.36, 0.20)]
_FABRIC = [(0.55, 0.20, 0.18), (0.25, 0.32, 0.50), (0.45, 0.45, 0.42), (0.28, 0.42, 0.30), (0.65, 0.58, 0.45)]
_PAINT = [(0.93, 0.92, 0.90), (0.85, 0.85, 0.83), (0.70, 0.70, 0.72), (0.95, 0.93, 0.86)]


class Item(NamedTuple):
    kind: str
    boxes: np.ndarray  # (k, 2, 3) float32: (lo, hi) corners of each box
    shadow: np.ndarray  # (j, 2, 3) boxes that darken the floor and walls next to them
    colour: np.ndarray  # (3,) albedo
    material: str  # wood, fabric, paint or shelf
    front: int  # face (axis * 2 + (normal > 0)) that shows a bookcase's shelves, -1 for none
    salt: int

    @property
    def lo(self) -> np.ndarray:
        return self.boxes[:, 0].min(axis=0)

    @property
    def hi(self) -> np.ndarray:
        return self.boxes[:, 1].max(axis=0)


# --------------------------------------------------------------------------- sampling


def sample_furniture(rng: np.random.Generator, room, size: int, accept) -> tuple[Item, ...]:
    """1-4 items inside `room`, clear of the camera and of each other; `accept(items)` is the caller's
    rule on the whole set (the floor stays visible, no item fills the view), else the item is redrawn
    and after a few tries dropped."""
    items: list[Item] = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(8):
            kind = KINDS[rng.choice(len(KINDS), p=_KIND_WEIGHTS)]
            item = _DRAW[kind](rng, room, size)
            if item is not None and _fits(item, room, items) and accept((*items, item)):
                items.append(item)
                break
    return tuple(items)


def _fits(item: Item, room, others: list[Item]) -> bool:
    lo, hi = item.lo, item.hi
    upper = np.array([room.width, room.height, room.depth])
    if np.any(lo < -1e-6) or np.any(hi > upper + 1e-6):
        return False
    if _footprint_distance(lo, hi, room.camera[0], room.camera[2]) < CAMERA_CLEARANCE:
        return False
    if np.all((room.light > lo - 0.2) & (room.light < hi + 0.2)):  # the ceiling light not inside a pillar
        return False
    keep_out = [(o.lo, o.hi) for o in others]
    if item.kind != "door_frame":  # nothing blocks the room's door
        keep_out.append(_door_keep_out(room))
    return all(np.any(lo[[0, 2]] > b_hi[[0, 2]] + _GAP) or np.any(hi[[0, 2]] < b_lo[[0, 2]] - _GAP)
               for b_lo, b_hi in keep_out)


def _footprint_distance(lo, hi, x, z) -> float:
    dx, dz = max(lo[0] - x, 0, x - hi[0]), max(lo[2] - z, 0, z - hi[2])
    return float(np.hypot(dx, dz))


def _door_keep_out(room) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _wall_slab(room, room.door.wall, room.door.u0, room.door.u1, 0.8)
    return np.array([lo[0], 0, lo[1]]), np.array([hi[0], 1, hi[1]])


def _wall_slab(room, wall: int, u0: float, u1: float, thickness: float):
    """(x, z) corners of the strip [u0, u1] along `wall`, `thickness` metres into the room."""
    if wall == 2:
        return (0.0, u0), (thickness, u1)
    if wall == 3:
        return (room.width - thickness, u0), (room.width, u1)
    return (u0, room.depth - thickness), (u1, room.depth)  # back wall


def _floor_spot(rng, room, size: int) -> tuple[float, float]:
    """A floor point (x, z) in the middle part of the view, between 1.6 m away and the far wall."""
    half_fov = np.arctan(size / 2 / room.focal)
    angle = room.yaw + rng.uniform(-0.6, 0.6) * half_fov
    dx, dz = np.sin(angle), np.cos(angle)
    x, z = float(room.camera[0]), float(room.camera[2])
    exit_x = (room.width - x) / dx if dx > 0 else (-x / dx if dx < 0 else np.inf)
    far = min(exit_x, (room.depth - z) / dz)
    distance = rng.uniform(1.6, max(far - 0.5, 1.7))
    return x + dx * distance, z + dz * distance


def _nearest_wall(room, x: float, z: float) -> int:
    return min(_WALLS, key=lambda wall: {2: x, 3: room.width - x, 5: room.depth - z}[wall])


def _place(local: list, length: float, depth: float, facing: int, corner: tuple[float, float]) -> np.ndarray:
    """Boxes given as (u0, y0, v0, u1, y1, v1) in an item frame (u along its length, v from its front
    to its back at v = depth) -> world boxes; `facing` 0..3 puts the back towards +z, -z, +x, -x."""
    boxes = []
    for u0, y0, v0, u1, y1, v1 in local:
        if facing == 1:
            v0, v1 = depth - v1, depth - v0
        if facing == 3:
            v0, v1 = depth - v1, depth - v0
        x0, x1, z0, z1 = (u0, u1, v0, v1) if facing < 2 else (v0, v1, u0, u1)
        boxes.append([[corner[0] + x0, y0, corner[1] + z0], [corner[0] + x1, y1, corner[1] + z1]])
    return np.array(boxes, dtype=np.float32)


def _corner(room, centre, extent_x, extent_z, wall=None) -> tuple[float, float] | None:
    """Lower (x, z) corner of a footprint centred near `centre`, inside the room, flush with `wall`."""
    if extent_x > room.width - 0.1 or extent_z > room.depth - 0.1:
        return None
    x = float(np.clip(centre[0] - extent_x / 2, 0.05, room.width - 0.05 - extent_x))
    z = float(np.clip(centre[1] - extent_z / 2, 0.05, room.depth - 0.05 - extent_z))
    if wall == 2:
        x = 0.0
    elif wall == 3:
        x = room.width - extent_x
    elif wall == 5:
        z = room.depth - extent_z
    return x, z


def _item(rng, kind, boxes, colour, material, shadow=None, front=-1) -> Item:
    return Item(kind, boxes, boxes if shadow is None else shadow, colour, material, front, int(rng.integers(1 << 30)))


def _tint(rng, palette) -> np.ndarray:
    base = np.array(palette[rng.integers(len(palette))], dtype=np.float32)
    return np.clip(base + rng.uniform(-0.04, 0.04, 3).astype(np.float32), 0, 1)


def _table(rng, room, size) -> Item | None:
    length, depth = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0)
    top, slab, leg, inset = rng.uniform(0.72, 0.78), rng.uniform(0.035, 0.06), rng.uniform(0.04, 0.07), 0.04
    facing = int(rng.integers(4))
    corner = _corner(room, _floor_spot(rng, room, size), *((length, depth) if facing < 2 else (depth, length)))
    if corner is None:
        return None
    local = [(0, top - slab, 0, length, top, depth)]
    for u in (inset, length - inset - leg):
        for v in (inset, depth - inset - leg):
            local.append((u, 0, v, u + leg, top - slab, v + leg))
    boxes = _place(local, length, depth, facing, corner)
    return _item(rng, "table", boxes, _tint(rng, _WOOD), "wood", shadow=boxes[:1] * [[1, 0, 1], [1, 1, 1]])


def _sofa(rng, room, size) -> Item | None:
    length, depth = rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95)
    seat, back, back_t = rng.uniform(0.4, 0.46), rng.uniform(0.8, 0.9), rng.uniform(0.18, 0.25)
    arm, arm_w = rng.uniform(0.55, 0.65), rng.uniform(0.15, 0.2)
    spot = _floor_spot(rng, room, size)
    wall = _nearest_wall(room, *spot) if rng.uniform() < 0.4 else None
    if wall is None:  # free-standing: mostly facing the camera (back away from it), else sideways
        facing = 0 if rng.uniform() < 0.6 else int(rng.integers(4))
    else:  # back against the wall
        facing = {2: 3, 3: 2, 5: 0}[wall]
    extent = (length, depth) if facing < 2 else (depth, length)
    corner = _corner(room, spot, *extent, wall=wall)
    if corner is None:
        return None
    local = [(0, 0, 0, length, seat, depth), (0, seat, depth - back_t, length, back, depth),
             (0, seat, 0, arm_w, arm, depth - back_t), (length - arm_w, seat, 0, length, arm, depth - back_t)]
    boxes = _place(local, length, depth, facing, corner)
    bounds = np.stack([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])[None]
    return _item(rng, "sofa", boxes, _tint(rng, _FABRIC), "fabric", shadow=bounds)


def _shelf(rng, room, size) -> Item | None:
    width, depth = rng.uniform(0.6, 1.4), rng.uniform(0.3, 0.45)
    height = rng.uniform(0.8, 1.0) if rng.uniform() < 0.3 else rng.uniform(1.4, min(2.2, room.height - 0.2))
    spot = _floor_spot(rng, room, size)
    wall = _nearest_wall(room, *spot) if rng.uniform() < 0.85 else None
    facing = {2: 3, 3: 2, 5: 0, None: int(rng.integers(4))}[wall]
    corner = _corner(room, spot, *((width, depth) if facing < 2 else (depth, width)), wall=wall)
    if corner is None:
        return None
    boxes = _place([(0, 0, 0, width, height, depth)], width, depth, facing, corner)
    # The open front is the face opposite the back: -z, +z, -x, +x for facing 0..3.
    front = [2 * 2, 2 * 2 + 1, 0, 1][facing]
    bookcase = height > 1.2 and rng.uniform() < 0.8
    return _item(rng, "shelf", boxes, _tint(rng, _WOOD + _PAINT[:2]), "shelf" if bookcase else "wood", front=front)


def _pillar(rng, room, size) -> Item | None:
    side = rng.uniform(0.25, 0.5)
    corner = _corner(room, _floor_spot(rng, room, size), side, side)
    if corner is None:
        return None
    boxes = _place([(0, 0, 0, side, room.height, side)], side, side, 0, corner)
    return _item(rng, "pillar", boxes, _tint(rng, _PAINT), "paint")


def _door_frame(rng, room, size) -> Item | None:
    post, lintel = rng.uniform(0.08, 0.12), rng.uniform(0.1, 0.15)
    colour, material = (_tint(rng, _PAINT), "paint") if rng.uniform() < 0.5 else (_tint(rng, _WOOD), "wood")
    if rng.uniform() < 0.4:  # a frame around the room's door, standing out from its wall
        door, proud = room.door, rng.uniform(0.05, 0.08)
        (x0, z0), (x1, z1) = _wall_slab(room, door.wall, door.u0 - post, door.u1 + post, proud)
        along = 2 if door.wall in (2, 3) else 0
        lo, hi = np.array([x0, 0, z0]), np.array([x1, door.y1 + lintel, z1])
        left, right, top = (lo.copy(), hi.copy()), (lo.copy(), hi.copy()), (lo.copy(), hi.copy())
        left[1][along], right[0][along], top[0][1] = lo[along] + post, hi[along] - post, door.y1
        boxes = np.array([left, right, top], dtype=np.float32)
        return _item(rng, "door_frame", boxes, colour, material, shadow=boxes[:2])
    opening, height, thick = rng.uniform(0.8, 1.0), rng.uniform(2.0, min(2.15, room.height - 0.2)), rng.uniform(0.12, 0.2)
    facing, span = int(rng.integers(4)), opening + 2 * post
    corner = _corner(room, _floor_spot(rng, room, size), *((span, thick) if facing < 2 else (thick, span)))
    if corner is None:
        return None
    local = [(0, 0, 0, post, height, thick), (span - post, 0, 0, span, height, thick),
             (0, height, 0, span, height + lintel, thick)]
    boxes = _place(local, span, thick, facing, corner)
    return _item(rng, "door_frame", boxes, colour, material, shadow=boxes[:2])


_DRAW = {"table": _table, "sofa": _sofa, "shelf": _shelf, "pillar": _pillar, "door_frame": _door_frame}


# --------------------------------------------------------------------------- intersection


def _slab(lo, hi, origin, inverse) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entry distance and hit flag of rays (direction reciprocals `inverse`, (3, n)), and the entry
    distance along each axis (the largest one is the face hit)."""
    t1 = (lo - origin)[:, None] * inverse
    t2 = (hi - origin)[:, None] * inverse
    near_axes, far_axes = np.minimum(t1, t2), np.maximum(t1, t2)
    # Elementwise over the 3 rows: much faster than .max(axis=0) on a (3, n) array.
    near = np.maximum(np.maximum(near_axes[0], near_axes[1]), near_axes[2])
    far = np.minimum(np.minimum(far_axes[0], far_axes[1]), far_axes[2])
    return near, (near <= far) & (near > 0), near_axes


def intersect_items(items, origin, dirs, depth, surface, axis, part) -> None:
    """Nearest hit of every ray with the items' boxes, where nearer than `depth` (the room's walls):
    updates depth, surface (FURNITURE + item), axis (face axis) and part (box index) in place."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inverse = np.float32(1) / dirs
        for k, item in enumerate(items):
            near, hit, _ = _slab(item.lo, item.hi, origin, inverse)  # whole item first: cheap cull
            rays = np.flatnonzero(hit & (near < depth))
            if rays.size == 0:
                continue
            sub = inverse[:, rays]
            best, best_axis, best_part = depth[rays].copy(), np.full(rays.size, -1, np.int8), np.zeros(rays.size, np.int8)
            for b, (lo, hi) in enumerate(item.boxes):
                near, hit, near_axes = _slab(lo, hi, origin, sub)
                nearer = np.flatnonzero(hit & (near < best))
                best[nearer], best_part[nearer] = near[nearer], b
                best_axis[nearer] = near_axes[:, nearer].argmax(axis=0)
            won = best_axis >= 0
            rays = rays[won]
            depth[rays], axis[rays], part[rays] = best[won], best_axis[won], best_part[won]
            surface[rays] = FURNITURE + k


# --------------------------------------------------------------------------- appearance


def furniture_albedo(items, surface, axis, part, normals, points) -> np.ndarray:
    """(n, 3) albedo of furniture hits (all arrays restricted to those pixels)."""
    colour = np.empty((surface.size, 3), dtype=np.float32)
    for k, item in enumerate(items):
        for b, (lo, hi) in enumerate(item.boxes):
            sel = np.flatnonzero((surface == FURNITURE + k) & (part == b))
            if sel.size == 0:
                continue
            colour[sel] = _box_texture(item, b, lo, hi, axis[sel], normals[:, sel], points[:, sel])
    return colour


def _box_texture(item: Item, b, lo, hi, axis, normals, points) -> np.ndarray:
    longest = int(np.argmax(hi - lo))
    in_face = np.array([[1, 2], [0, 2], [0, 1]])[axis.astype(np.intp)]  # the two axes spanning each face
    cols = np.arange(axis.size)
    first, second = points[in_face[:, 0], cols], points[in_face[:, 1], cols]
    along_is_first = in_face[:, 0] == longest
    along = np.where(along_is_first | (in_face[:, 1] != longest), first, second)
    across = np.where(along_is_first | (in_face[:, 1] != longest), second, first)
    salt = item.salt + 17 * b
    if item.material == "fabric":
        tone = 0.88 + 0.18 * fbm(along * 7, across * 7, salt, octaves=2)
    elif item.material == "paint":
        tone = 0.95 + 0.06 * fbm(along * 3, across * 3, salt, octaves=2)
    else:  # wood grain: noise stretched along the board
        tone = 0.85 + 0.2 * value_noise(along * 1.5, across * 30, salt)
    colour = item.colour[None, :] * tone[:, None]
    if item.material == "shelf":
        face = axis.astype(np.intp) * 2 + (normals[axis.astype(np.intp), cols] > 0)
        front = np.flatnonzero(face == item.front)
        colour[front] = _bookcase(item, lo, hi, points[:, front], colour[front])
    return colour


def _bookcase(item: Item, lo, hi, points, colour) -> np.ndarray:
    """Front of a bookcase: a frame, shelf boards every ~0.38 m, rows of books of random colour and
    height in the dark recess between them."""
    axis_u = 0 if item.front >= 4 else 2  # the front's horizontal axis: x for a z-facing front
    u, y = points[axis_u], points[1]
    u0, u1 = lo[axis_u], hi[axis_u]
    frame = (u - u0 < 0.035) | (u1 - u < 0.035) | (y < 0.08) | (hi[1] - y < 0.035)
    pitch = (hi[1] - 0.08) / max(1, round((hi[1] - 0.08) / 0.38))
    level = np.floor((y - 0.08) / pitch)
    in_row = (y - 0.08) - level * pitch
    board = in_row < 0.025
    book = np.floor(u / 0.045)
    book_top = 0.025 + pitch * (0.55 + 0.3 * hash01(book, level, item.salt))
    has_book = (hash01(book, level, item.salt + 1) < 0.85) & (in_row < book_top)
    books = np.stack([hash01(book, level, item.salt + c + 2) for c in range(3)], axis=1) * 0.6 + 0.15
    out = np.where(has_book[:, None], books, colour * 0.25)  # the empty recess is in shadow
    return np.where((frame | board)[:, None], colour, out).astype(np.float32)


def contact_occlusion(items, points: np.ndarray) -> np.ndarray:
    """Darkening of room surfaces next to the items' feet and backs (soft contact shadows)."""
    factor = np.ones(points.shape[1], dtype=np.float32)
    reach = np.float32(_SHADOW_REACH)
    for item in items:
        lo, hi = item.lo - reach, item.hi + reach
        x, y, z = points
        near = np.flatnonzero((x > lo[0]) & (x < hi[0]) & (z > lo[2]) & (z < hi[2]) & (y < hi[1]))
        if near.size == 0:
            continue
        p = points[:, near]
        for lo, hi in item.shadow:
            gap = np.maximum(np.maximum(lo[:, None] - p, p - hi[:, None]), 0)
            distance = np.sqrt(gap[0] * gap[0] + gap[1] * gap[1] + gap[2] * gap[2])
            factor[near] *= 1 - np.float32(0.45) * np.exp(-distance / np.float32(0.18))
    return factor
