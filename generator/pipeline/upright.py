"""The depth of upright objects standing on the floor: the vertical plane through an object's contact
point, facing the camera, over the object's box. A floor's `UprightPlanes` computes what every contact
shares once; `upright_plane_depth` is the plain function of one contact, which tests hold it to."""

from __future__ import annotations

import numpy as np

from .geometry import Intrinsics


def upright_plane_depth(contact: np.ndarray, plane: np.ndarray, intrinsics: Intrinsics, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(len(rows), len(cols)) float32 z-depth of the vertical plane through `contact` facing the camera
    (normal: the optical axis made horizontal), the depth to give an upright cut-out standing there.
    Pixels whose ray never meets that plane in front of the camera get inf."""
    facing = _horizontal_facing(plane)
    across, down = _facing_terms(facing, intrinsics, rows, cols)
    return _upright_depth(facing @ np.asarray(contact, dtype=np.float64), down, across)


class UprightPlanes:
    """upright_plane_depth over boxes (rows y..y+h, columns x..x+w, x and y >= 0) on one floor, with what
    every contact shares computed once: the direction the planes face and each row's and column's term of
    facing . ray, sliced for each box (the same values, so the same bits: tests/test_fast_paths.py)."""

    def __init__(self, plane: np.ndarray, intrinsics: Intrinsics):
        self.facing, self.intrinsics = _horizontal_facing(plane), intrinsics
        self._across = self._down = np.empty(0)

    def box_depth(self, contact: tuple[float, float, float], y: int, x: int, height: int, width: int) -> np.ndarray:
        if y + height > len(self._down) or x + width > len(self._across):  # grown to twice at least
            rows, cols = max(y + height, 2 * len(self._down)), max(x + width, 2 * len(self._across))
            self._across, self._down = _facing_terms(self.facing, self.intrinsics, np.arange(rows), np.arange(cols))
        offset = self.facing @ np.asarray(contact, dtype=np.float64)
        return _upright_depth(offset, self._down[y : y + height], self._across[x : x + width])


def _horizontal_facing(plane: np.ndarray) -> np.ndarray:
    """The unit direction upright planes face: the optical axis made horizontal (normal to the floor's)."""
    normal = np.asarray(plane[:3], dtype=np.float64)
    forward = np.array([0.0, 0.0, 1.0])
    facing = forward - (forward @ normal) * normal
    length = np.linalg.norm(facing)
    if length < 1e-9:
        raise ValueError("the camera looks straight along the floor normal: no horizontal viewing direction")
    return facing / length


def _facing_terms(facing: np.ndarray, intrinsics: Intrinsics, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(across, down): facing . ray of pixel (row, col) is down[row] + across[col], so no (h, w, 3) rays."""
    u = np.asarray(cols, dtype=np.float64) + 0.5
    v = np.asarray(rows, dtype=np.float64) + 0.5
    return facing[0] * (u - intrinsics.cx) / intrinsics.fx, facing[2] - facing[1] * (v - intrinsics.cy) / intrinsics.fy


def _upright_depth(offset: float, down: np.ndarray, across: np.ndarray) -> np.ndarray:
    """The plane's depth over the pixels of `down` (rows) and `across` (columns), `offset` its distance
    along the facing direction; inf where a ray never meets it in front of the camera."""
    if not offset > 0:  # the plane is behind the camera
        return np.full((len(down), len(across)), np.inf, dtype=np.float32)
    depth = np.add.outer(down, across)
    with np.errstate(divide="ignore"):
        np.divide(offset, depth, out=depth)
    # With offset > 0, depth > 0 exactly where the ray meets the plane in front (along > 0).
    depth[~(depth > 0)] = np.inf
    return depth.astype(np.float32)
