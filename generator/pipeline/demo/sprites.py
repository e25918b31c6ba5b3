"""Demo cut-outs: sprites built from a few signed-distance primitives (circles, rounded boxes,
capsules, trapezoids), scaled so the alpha support fills max(h, w) == size and touches the bottom edge."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .noise import value_noise
from .rooms import WOOD

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
    wood = _pick(rng, WOOD) if rng.uniform() < 0.6 else _hue(rng)
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
    wood = _pick(rng, WOOD)
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


SPRITE_KINDS = (person, animal, chair, plant, vase_or_lamp, table, snowman)


# ----- sprite rendering


def render_sprite(parts: list[Part], size: int, salt: int) -> np.ndarray:
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
    grain = 0.94 + 0.12 * value_noise(x * scale / 6, y * scale / 6, salt)  # soft surface blotches
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
