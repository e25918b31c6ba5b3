"""Textures of the demo rooms' box: floors (planks, tiles, checker, carpet), ceiling with its light,
painted walls with a door, a picture and a window (albedo in [0, 1], and emission for the window's
view).  Pure functions of the room's parameters and the hit points' surface coordinates (metres)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .noise import fbm, hash01, hash_scalar, value_noise

if TYPE_CHECKING:
    from .rooms import Rect, Room


def _line_mask(coord: np.ndarray, period: float, half_width: float, footprint: np.ndarray) -> np.ndarray:
    """Coverage of thin lines every `period` metres, box-filtered by the pixel footprint (no moire)."""
    distance = np.abs(coord / period - np.round(coord / period)) * period
    fp = np.maximum(footprint, 1e-4)
    return np.clip(0.5 + (half_width - distance) / fp, 0, 1) * np.minimum(1, 2 * half_width / fp + 0.3)


def floor_texture(room: Room, u: np.ndarray, v: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    base, salt, style = room.floor_colour, room.salt, room.floor_style
    if style == "planks":
        return _planks(base, u, v, footprint, salt)
    if style == "tiles":
        return _tiles(base, u, v, footprint, salt)
    if style == "checker":
        return _checker(base, u, v, footprint, salt)
    grain = 0.85 + 0.3 * fbm(u * 6, v * 6, salt)  # carpet: soft mottled noise
    return base[None, :] * grain[:, None]


def _planks(base, u, v, footprint, salt) -> np.ndarray:
    plank_w, plank_l = 0.12 + 0.1 * hash_scalar(salt, 1), 1.4
    column = np.floor(u / plank_w)
    offset = hash01(column, column * 0 + 7, salt) * plank_l  # staggered plank ends per column
    row = np.floor((v + offset) / plank_l)
    tone = 0.8 + 0.35 * hash01(column, row, salt + 1)
    grain = 0.9 + 0.15 * value_noise(u * 40, v * 2, salt + 2)  # stretched noise reads as wood grain
    seams = np.maximum(_line_mask(u, plank_w, 0.004, footprint), _line_mask(v + offset, plank_l, 0.004, footprint))
    return base[None, :] * (tone * grain * (1 - 0.5 * seams))[:, None]


def _tiles(base, u, v, footprint, salt) -> np.ndarray:
    tile = 0.3 + 0.3 * hash_scalar(salt, 2)
    tone = 0.92 + 0.12 * hash01(np.floor(u / tile), np.floor(v / tile), salt)
    grout = np.maximum(_line_mask(u, tile, 0.006, footprint), _line_mask(v, tile, 0.006, footprint))
    colour = base[None, :] * tone[:, None]
    return colour * (1 - grout[:, None]) + 0.45 * base[None, :] * grout[:, None]


def _checker(base, u, v, footprint, salt) -> np.ndarray:
    tile = 0.3 + 0.2 * hash_scalar(salt, 3)
    parity = (np.floor(u / tile) + np.floor(v / tile)) % 2
    blur = np.clip(footprint / tile * 2 - 0.5, 0, 1)  # far away the checker averages to grey
    mix = parity * (1 - blur) + 0.5 * blur
    dark = base * 0.35
    return dark[None, :] + (base - dark)[None, :] * mix[:, None]


def ceiling_texture(room: Room, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    colour = np.broadcast_to(np.float32([0.93, 0.92, 0.90]), (x.size, 3)).copy()
    lamp = np.hypot(x - room.light[0], z - room.light[2]) < 0.2  # round ceiling light fitting
    colour[lamp] = (1.0, 0.97, 0.88)
    return colour, lamp.astype(np.float32)


def wall_texture(room, wall, u, y, footprint) -> tuple[np.ndarray, np.ndarray]:
    colour = _wall_paint(room, u, y, footprint)
    colour = _baseboard(colour, y)
    colour = _paint_door(room.door, colour, wall, u, y)
    colour = _paint_picture(room, colour, wall, u, y)
    return _paint_window(room, colour, wall, u, y)


def _wall_paint(room, u, y, footprint) -> np.ndarray:
    base, accent = room.wall_colour, room.accent_colour
    mottle = 0.95 + 0.07 * fbm(u * 3, y * 3, room.salt + 11, octaves=2)
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
    paint = fbm(u[canvas] * 4, y[canvas] * 4, room.salt + 23)[:, None]
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
    hills = height_fraction < 0.25 + 0.2 * value_noise(u * 2, u * 0, room.salt + 31)
    sky[hills] = np.float32([0.35, 0.55, 0.3]) * (0.9 + 0.2 * value_noise(u[hills] * 9, height_fraction[hills] * 9, room.salt))[:, None]
    return np.clip(sky, 0, 1)
