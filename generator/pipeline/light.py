"""Light: a soft contact shadow under an object standing on the floor, the object's colours moved towards
the scene around it (harmonisation), and a perturbed copy of the background for the `background` column.

- Shadow: a disc as wide as the object (its silhouette's width at the contact depth) lying on the floor
  plane under the object's footprint, seen through the camera: an ellipse foreshortened by the floor's
  tilt. The contact point is the silhouette's lowest point, the front of what stands on the floor (a
  chair's front legs), so the footprint, taken as deep as it is wide, lies behind it: the disc's centre
  is one radius from the contact point, away from the camera along the floor (along the line of sight
  seen from above, so an object off to the side casts its shadow straight behind it, not askew).
  Its darkness falls off smoothly to zero at 1.25 radii, so its edge is soft, and it darkens only pixels
  where the scene is the floor (not nearer than the plane), multiplicatively: pixel * (1 - strength * s).
- Harmonisation: in a luma / colour-difference space (Y, B - Y, R - Y), the object's mean luma moves
  `LUMA_SHIFT` of the way to the mean of a ring of background around its silhouette, its luma contrast by
  (ring std / object std) ^ `CONTRAST_POWER` (bounded), and its mean colour differences `CHROMA_SHIFT` of
  the way: partially, so an object keeps its own colours but looks lit by the same room.
- Background jitter: a seeded small change of gain per channel and overall, a shift of up to
  `JITTER_SHIFT` pixels (edges repeated) and Gaussian noise, so the stored background is a hint, not a
  key: no pixel of it equals the composite's outside the object.
"""

from __future__ import annotations

import numpy as np

from .geometry import project
from .plan import Placement
from .placement import FloorGeometry

SHADOW_REACH = 1.25  # radii of the disc where the shadow has faded to zero
SHADOW_STRENGTH = (0.35, 0.6)  # seeded darkening at the contact point
FLOOR_SLACK = 0.02  # a pixel nearer than the floor plane by more than this share is not floor

LUMA_SHIFT, CHROMA_SHIFT, CONTRAST_POWER, CONTRAST_BOUNDS = 0.4, 0.3, 0.3, (0.8, 1.25)
RING_SHARE, RING_MIN = 0.15, 3  # width of the background ring around the silhouette's box

JITTER_GAIN, JITTER_CHANNEL_GAIN, JITTER_SHIFT, JITTER_NOISE = 0.04, 0.02, 2, 2.0


def contact_shadow(depth: np.ndarray, floor: FloorGeometry, place: Placement) -> tuple[slice, slice, np.ndarray] | None:
    """(rows, cols, shadow in [0, 1] over them) for the object at `place`, or None if it falls outside."""
    contact = np.asarray(place.contact, dtype=np.float64)
    normal, offset = floor.plane[:3].astype(np.float64), float(floor.plane[3])
    radius = 0.5 * place.w * contact[2] / floor.intrinsics.fx
    along, across = _floor_axes(normal)
    centre = footprint_centre(contact, radius, normal)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    rim = centre + SHADOW_REACH * radius * (np.cos(angles)[:, None] * across + np.sin(angles)[:, None] * along)
    if (rim[:, 2] <= 1e-6).any():
        return None
    u, v = project(rim, floor.intrinsics)
    size_y, size_x = depth.shape
    x0, x1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, size_x)
    y0, y1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, size_y)
    if x1 <= x0 or y1 <= y0:
        return None
    # Each pixel's ray (x, y, 1) meets the floor at t * ray; every term below is separable in rows and
    # columns, so the box is a few broadcast sums (no per-pixel 3-vectors).
    k = floor.intrinsics
    x = ((np.arange(x0, x1) + 0.5 - k.cx) / k.fx).astype(np.float32)[None, :]
    y = (-(np.arange(y0, y1) + 0.5 - k.cy) / k.fy).astype(np.float32)[:, None]

    def dot(e: np.ndarray) -> np.ndarray:
        return np.float32(e[0]) * x + np.float32(e[1]) * y + np.float32(e[2])

    facing = dot(normal)
    t = np.float32(offset) / np.where(np.abs(facing) > 1e-9, facing, np.float32(-1e-9))
    side = t * dot(across) - np.float32(centre @ across)
    ahead = t * dot(along) - np.float32(centre @ along)
    rho2 = (side * side + ahead * ahead) / np.float32(radius * radius)
    shade = np.clip(1 - rho2 / np.float32(SHADOW_REACH**2), 0, 1) ** 2
    on_floor = (t > 0) & (depth[y0:y1, x0:x1] >= t * (1 - FLOOR_SLACK))
    shade = np.where(on_floor, shade, 0).astype(np.float32)
    return slice(y0, y1), slice(x0, x1), shade


def footprint_centre(contact: np.ndarray, radius: float, normal: np.ndarray) -> np.ndarray:
    """The middle of a footprint `radius` deep on each side whose front edge, as the camera sees it, is the
    contact point: one radius farther along the floor, on the line of sight seen from above."""
    away = contact - normal * (contact @ normal)  # the line of sight's part along the floor plane
    return contact + radius * away / np.linalg.norm(away)


def _floor_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in the floor plane: away from the camera, and sideways."""
    forward = np.array([0.0, 0.0, 1.0]) - normal * normal[2]
    forward /= np.linalg.norm(forward)
    return forward, np.cross(normal, forward)


def darken(image: np.ndarray, rows: slice, cols: slice, shade: np.ndarray, strength: float) -> None:
    """image[rows, cols] *= 1 - strength * shade, rounded, in place."""
    factor = 1 - np.float32(strength) * shade
    image[rows, cols] = np.rint(image[rows, cols] * factor[..., None]).astype(np.uint8)


# Rows: Y, B - Y, R - Y of an RGB colour. Linear, so the whole transfer is one affine map of RGB.
_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.299, -0.587, 0.886], [0.701, -0.587, -0.114]])
_FROM_YCC = np.linalg.inv(_TO_YCC)


def harmonized(colour: np.ndarray, alpha: np.ndarray, background: np.ndarray, place: Placement) -> np.ndarray:
    """The object's colours (h, w, 3 uint8) moved partway to the statistics of the background ring around
    its silhouette's box; unchanged if either side has too few pixels."""
    height, width = alpha.shape
    pad = max(RING_MIN, round(RING_SHARE * max(height, width)))
    size_y, size_x = background.shape[:2]
    y0, y1 = max(place.y - pad, 0), min(place.y + height + pad, size_y)
    x0, x1 = max(place.x - pad, 0), min(place.x + width + pad, size_x)
    ring = np.ones((y1 - y0, x1 - x0), bool)
    ring[place.y - y0 : place.y - y0 + height, place.x - x0 : place.x - x0 + width] = alpha == 0
    solid = alpha >= 128
    # Every other pixel is plenty for a mean and a standard deviation.
    scene = background[y0:y1:2, x0:x1:2][ring[::2, ::2]].astype(np.float32) @ _TO_YCC.T.astype(np.float32)
    inside = colour[::2, ::2][solid[::2, ::2]].astype(np.float32) @ _TO_YCC.T.astype(np.float32)
    if len(scene) < 16 or len(inside) < 16:
        return colour
    mean_o, mean_b = inside.mean(axis=0), scene.mean(axis=0)
    gain = float(np.clip((scene[:, 0].std() / max(float(inside[:, 0].std()), 1.0)) ** CONTRAST_POWER, *CONTRAST_BOUNDS))
    # In Y, Cb, Cr: y' = gain (y - mean_o) + mean_o + LUMA_SHIFT (mean_b - mean_o); c' = c + CHROMA_SHIFT (...).
    scale = np.diag([gain, 1.0, 1.0])
    shift = np.array([(1 - gain) * mean_o[0] + LUMA_SHIFT * (mean_b[0] - mean_o[0]), *(CHROMA_SHIFT * (mean_b[1:] - mean_o[1:]))])
    matrix = (_FROM_YCC @ scale @ _TO_YCC).astype(np.float32)
    offset = (_FROM_YCC @ shift).astype(np.float32)
    moved = colour.astype(np.float32) @ matrix.T + offset
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8)


def jittered(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slightly different photograph of the same scene: gains, a shift of a few pixels, noise."""
    gain = (1 + rng.uniform(-JITTER_GAIN, JITTER_GAIN)) * (1 + rng.uniform(-JITTER_CHANNEL_GAIN, JITTER_CHANNEL_GAIN, 3))
    dy, dx = (int(v) for v in rng.integers(-JITTER_SHIFT, JITTER_SHIFT + 1, 2))
    size_y, size_x = rgb.shape[:2]
    rows = np.clip(np.arange(size_y) - dy, 0, size_y - 1)
    cols = np.clip(np.arange(size_x) - dx, 0, size_x - 1)
    shifted = rgb[rows][:, cols].astype(np.float32) * gain.astype(np.float32)
    shifted += rng.normal(0, JITTER_NOISE, shifted.shape).astype(np.float32)
    return np.clip(np.rint(shifted), 0, 255).astype(np.uint8)
