"""Camera geometry for placing cut-outs on the floor of a background: intrinsics, back-projection, a
RANSAC floor fit, ray-plane hits and the depth of an upright object standing on the floor. Pure numpy
(and Pillow for EXIF); everything random takes a seed.

Conventions (other code relies on them exactly):
- Camera frame: x right, y UP, z forward along the optical axis; depth maps store z (metres), not range.
- Pixel (row, col) has its centre at continuous image coordinates (u, v) = (col + 0.5, row + 0.5), v grows
  downward. The ray of (u, v) is ((u - cx)/fx, -(v - cy)/fy, 1): its parameter t is the depth z.
- A plane is [nx, ny, nz, d] with unit normal pointing up (ny > 0) and n . P = d for its points, so a floor
  below the camera has d = -(camera height) < 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

# EXIF tags (numbers, so no dependence on the names a Pillow version knows).
_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_FOCAL_LENGTH = 0x920A
_FOCAL_PLANE_X_RESOLUTION = 0xA20E
_FOCAL_PLANE_RESOLUTION_UNIT = 0xA210
_FOCAL_LENGTH_35MM = 0xA405
_PIXEL_X_DIMENSION = 0xA002
_PIXEL_Y_DIMENSION = 0xA003
# Where a photo's intrinsics came from (`intrinsics_source`; "demo" is the demo's camera), in the order they
# are taken: an explicit --fov, EXIF, the background model's field of view, the default field of view.
FOV, EXIF_35MM, EXIF_FOCAL_PLANE, MODEL_INTRINSICS, DEFAULT_INTRINSICS = "fov", "exif35mm", "exif_focal_plane", "model", "default"
DEFAULT_FOV_DEGREES = 60.0
_QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that turn a quarter: the upright width is the stored height
# The diagonal of a 36 x 24 mm frame, on which the 35 mm-equivalent focal length is defined.
_FULL_FRAME_DIAGONAL_MM = 43.27
# FocalPlaneResolutionUnit: 2 inch (the EXIF default), 3 cm, 4 mm, 5 micrometre.
_MM_PER_RESOLUTION_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
# A focal length giving a horizontal field of view outside this range is a broken tag, not a lens.
SANE_HFOV_DEGREES = (5.0, 150.0)

# Floor fit settings.
_MAX_SCORED_POINTS = 20_000
_HYPOTHESES = 200
_MAX_TILT_DEGREES = 35.0  # the floor normal may lean this far from the camera's up axis (camera pitch/roll)
_MIN_INLIER_FRACTION = 0.03
_NEAR_TIE = 0.85  # a plane with this share of the best inlier count is as well supported
_DISTINCT_PLANE_M = 0.05  # planes whose offsets differ by less are the same surface
_REFINEMENTS = 3


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the stored image, principal point in continuous coordinates."""

    fx: float
    fy: float
    cx: float
    cy: float

    def as_list(self) -> list[float]:
        return [self.fx, self.fy, self.cx, self.cy]

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_degrees: float) -> Intrinsics:
        """Square pixels, centred principal point, the given horizontal field of view."""
        focal = (width / 2) / math.tan(math.radians(hfov_degrees) / 2)
        return cls(focal, focal, width / 2, height / 2)

    def cropped(self, left: float, top: float) -> Intrinsics:
        """The same camera seen through a crop whose top-left corner is (left, top)."""
        return Intrinsics(self.fx, self.fy, self.cx - left, self.cy - top)

    def resized(self, scale_x: float, scale_y: float) -> Intrinsics:
        """The same camera after a resize; exact because a resize maps continuous u to u * scale
        (pixel centres col + 0.5 land on new centres, which is how PIL samples)."""
        return Intrinsics(self.fx * scale_x, self.fy * scale_y, self.cx * scale_x, self.cy * scale_y)

    @classmethod
    def from_exif(cls, image: Image.Image) -> Intrinsics | None:
        """Intrinsics of the upright (EXIF-rotated) photo from its EXIF focal length, or None."""
        found = exif_intrinsics(image)
        return found[0] if found else None


def exif_intrinsics(image: Image.Image) -> tuple[Intrinsics, str] | None:
    """Intrinsics of the upright (EXIF-rotated) photo from its EXIF focal length and which tags gave them
    (EXIF_35MM or EXIF_FOCAL_PLANE), or None.

    Prefers FocalLengthIn35mmFilm (defined on the 43.27 mm diagonal, so it holds at any pixel size); falls
    back to FocalLength with FocalPlaneXResolution, the sensor's pixels per unit, which describe the
    camera's own image: only while the file still has the pixel size EXIF records. Works on the raw image
    and on one already passed through ImageOps.exif_transpose (which drops the orientation tag)."""
    exif = image.getexif()
    width, height = upright_size(image)
    source, focal_px = EXIF_35MM, _focal_from_35mm(exif, width, height)
    if focal_px is None:
        source, focal_px = EXIF_FOCAL_PLANE, _focal_from_focal_plane(exif, image.size)
    if focal_px is None or not _sane_focal(focal_px, width):
        return None
    return Intrinsics(focal_px, focal_px, width / 2, height / 2), source


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the photo after EXIF rotation, read from the size without transposing pixels."""
    orientation = image.getexif().get(_ORIENTATION, 1)
    width, height = image.size
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def _positive_number(value) -> float | None:
    """A tag value (int, IFDRational, tuple) as a positive finite float, else None."""
    try:
        number = float(value[0] / value[1]) if isinstance(value, tuple) else float(value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _focal_from_35mm(exif: Image.Exif, width: int, height: int) -> float | None:
    focal_35mm = _positive_number(exif.get_ifd(_EXIF_IFD).get(_FOCAL_LENGTH_35MM))
    if focal_35mm is None:
        return None
    return focal_35mm * math.hypot(width, height) / _FULL_FRAME_DIAGONAL_MM


def _focal_from_focal_plane(exif: Image.Exif, size: tuple[int, int]) -> float | None:
    """FocalLength (mm) times the sensor's pixels per mm, for a photo of `size` that still has the pixel
    size EXIF records (either way round: EXIF rotation may have turned it); a resized or cropped photo has
    other pixels per mm."""
    tags = exif.get_ifd(_EXIF_IFD)
    recorded = (_positive_number(tags.get(_PIXEL_X_DIMENSION)), _positive_number(tags.get(_PIXEL_Y_DIMENSION)))
    if recorded not in (tuple(map(float, size)), tuple(map(float, size[::-1]))):
        return None
    focal_mm = _positive_number(tags.get(_FOCAL_LENGTH))
    pixels_per_unit = _positive_number(tags.get(_FOCAL_PLANE_X_RESOLUTION))
    unit_mm = _MM_PER_RESOLUTION_UNIT.get(tags.get(_FOCAL_PLANE_RESOLUTION_UNIT, 2))
    if focal_mm is None or pixels_per_unit is None or unit_mm is None:
        return None
    return focal_mm * pixels_per_unit / unit_mm


def _sane_focal(focal_px: float, width: int) -> bool:
    hfov = math.degrees(2 * math.atan((width / 2) / focal_px))
    return SANE_HFOV_DEGREES[0] <= hfov <= SANE_HFOV_DEGREES[1]


def photo_intrinsics(image: Image.Image, hfov_degrees: float | None = None) -> tuple[Intrinsics, str]:
    """Intrinsics of the upright photo and their origin: FOV from the field of view given (--fov), else
    EXIF_35MM or EXIF_FOCAL_PLANE when its tags give them, else DEFAULT_INTRINSICS (60 degrees, which a
    background model's field of view may replace: model_intrinsics)."""
    width, height = upright_size(image)
    if hfov_degrees is not None:
        return Intrinsics.from_fov(width, height, hfov_degrees), FOV
    from_exif = exif_intrinsics(image)
    if from_exif is not None:
        return from_exif
    return Intrinsics.from_fov(width, height, DEFAULT_FOV_DEGREES), DEFAULT_INTRINSICS



def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The central square of a width x height image, as (left, top, right, bottom) integer pixels."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def centre_crop_resize(intrinsics: Intrinsics, width: int, height: int, size: int) -> Intrinsics:
    """Intrinsics after the background preprocessing of sources._load_background: crop to
    center_square_box (integer offsets (w - side)//2, (h - side)//2), then resize to size x size."""
    left, top, right, _ = center_square_box(width, height)
    scale = size / (right - left)
    return intrinsics.cropped(left, top).resized(scale, scale)


# --- rays and points --------------------------------------------------------------------------------

def pixel_rays(intrinsics: Intrinsics, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(len(rows), len(cols), 3) float64 rays through the pixel centres, z component 1."""
    u = np.asarray(cols, dtype=np.float64) + 0.5
    v = np.asarray(rows, dtype=np.float64) + 0.5
    x = (u - intrinsics.cx) / intrinsics.fx
    y = -(v - intrinsics.cy) / intrinsics.fy
    rays = np.empty((y.size, x.size, 3))
    rays[..., 0] = x[None, :]
    rays[..., 1] = y[:, None]
    rays[..., 2] = 1.0
    return rays


def image_ray(u: float, v: float, intrinsics: Intrinsics) -> np.ndarray:
    """The ray (z component 1) of continuous image point (u, v)."""
    return np.array([(u - intrinsics.cx) / intrinsics.fx, -(v - intrinsics.cy) / intrinsics.fy, 1.0])


def back_project(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 camera-frame points of every pixel centre of an (H, W) z-depth map."""
    height, width = depth.shape
    rays = pixel_rays(intrinsics, np.arange(height), np.arange(width))
    return (rays * np.asarray(depth, dtype=np.float64)[..., None]).astype(np.float32)


def project(points: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Continuous image coordinates (u, v) of camera-frame points (..., 3)."""
    points = np.asarray(points, dtype=np.float64)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return intrinsics.cx + intrinsics.fx * x / z, intrinsics.cy - intrinsics.fy * y / z


def ray_plane_point(u: float, v: float, intrinsics: Intrinsics, plane: np.ndarray) -> np.ndarray | None:
    """Camera-frame point where the ray of (u, v) meets the plane; None if parallel or behind the camera."""
    normal, offset = np.asarray(plane[:3], dtype=np.float64), float(plane[3])
    ray = image_ray(u, v, intrinsics)
    along = float(normal @ ray)
    if abs(along) < 1e-12:
        return None
    t = offset / along
    return t * ray if t > 0 else None


# --- floor ------------------------------------------------------------------------------------------

def fit_floor(depth: np.ndarray, intrinsics: Intrinsics, seed: int = 0) -> np.ndarray | None:
    """The floor plane [nx, ny, nz, d] (float64) of a z-depth map, or None if no floor is seen.

    RANSAC on the back-projected points: hypotheses from 3 points of the lower 2/3 of the image (where a
    floor is), kept only if near-horizontal (normal within 35 degrees of the camera's up axis) and below
    the camera (d < 0); scored on a subsample of all valid pixels with a depth-relative threshold. Of
    equally supported planes the lowest wins (a table top is horizontal too, but higher). Non-finite or
    non-positive depths are ignored."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = (np.isfinite(depth) & (depth > 0)).ravel()
    if valid.sum() < 3:
        return None
    rng = np.random.default_rng(seed)
    # Only the pixels used are back-projected: the subsample scored, and the hypotheses' triples.
    valid_pixels = np.flatnonzero(valid)
    scored = _points_at(valid_pixels[_subsample(rng, len(valid_pixels), _MAX_SCORED_POINTS)], depth, intrinsics)
    lower = valid_pixels[valid_pixels >= (depth.shape[0] // 3) * depth.shape[1]]
    pool = lower if len(lower) >= 3 else valid_pixels
    planes = _floor_hypotheses(rng, pool, depth, intrinsics)
    if len(planes) == 0:
        return None
    plane = _refine(scored, planes[_choose(planes, _inlier_counts(scored, planes))])
    if plane is None:
        return None
    enough = _on_plane(scored, plane).sum() >= _MIN_INLIER_FRACTION * len(scored)
    return plane if enough else None


def _points_at(flat_pixels: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(N, 3) float64 camera-frame points of the given flat (row-major) pixel indices."""
    rows, cols = np.divmod(flat_pixels, depth.shape[1])
    z = depth.ravel()[flat_pixels]
    x = (cols + 0.5 - intrinsics.cx) / intrinsics.fx * z
    y = -(rows + 0.5 - intrinsics.cy) / intrinsics.fy * z
    return np.column_stack([x, y, z])


def _subsample(rng: np.random.Generator, count: int, limit: int) -> np.ndarray:
    if count <= limit:
        return np.arange(count)
    return np.sort(rng.choice(count, size=limit, replace=False))


def _depth_tolerance(points: np.ndarray) -> np.ndarray:
    """Inlier distance per point: 1 % of its depth (depth noise grows with z), at least 1 cm."""
    return np.maximum(0.01, 0.01 * points[:, 2])


def _on_plane(points: np.ndarray, plane: np.ndarray) -> np.ndarray:
    return np.abs(points @ plane[:3] - plane[3]) < _depth_tolerance(points)


def _inlier_counts(points: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Inliers of each of the (K, 4) planes among the (N, 3) points, as one (N, 4) @ (4, K) product.

    Dividing each point's row by its tolerance turns |n.P - d| < tol into ((P, -1) / tol) . (n, d) < 1,
    so the whole score is one float32 product (plenty for centimetre bands), a square and one compare:
    a few passes over N x K numbers instead of one per step."""
    scale = 1.0 / _depth_tolerance(points)
    rows = np.column_stack([points * scale[:, None], -scale]).astype(np.float32)
    residual = rows @ planes.T.astype(np.float32)
    np.square(residual, out=residual)
    return (residual < 1).view(np.uint8).sum(axis=0, dtype=np.int64)


def _floor_hypotheses(rng: np.random.Generator, pool: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(K, 4) planes through random triples of the `pool` pixels that could be a floor: near-horizontal,
    below the camera."""
    a, b, c = (_points_at(pool[rng.integers(0, len(pool), _HYPOTHESES)], depth, intrinsics) for _ in range(3))
    normals = np.cross(b - a, c - a)
    lengths = np.linalg.norm(normals, axis=1)
    usable = lengths > 1e-9
    normals = normals[usable] / lengths[usable, None]
    normals *= np.where(normals[:, 1] < 0, -1.0, 1.0)[:, None]  # orient up
    offsets = np.einsum("ij,ij->i", normals, a[usable])
    planes = np.column_stack([normals, offsets])
    return planes[_floor_like(planes)]


def _floor_like(planes: np.ndarray) -> np.ndarray:
    return (planes[:, 1] >= math.cos(math.radians(_MAX_TILT_DEGREES))) & (planes[:, 3] < 0)


def _choose(planes: np.ndarray, counts: np.ndarray) -> int:
    """Index of the best-supported plane, or of a distinctly lower one (the floor under a table top)
    with nearly as much support."""
    best = int(np.argmax(counts))
    near = np.flatnonzero(counts >= _NEAR_TIE * counts[best])
    lowest = int(near[np.argmin(planes[near, 3])])
    return lowest if planes[best, 3] - planes[lowest, 3] > _DISTINCT_PLANE_M else best


def _refine(points: np.ndarray, plane: np.ndarray) -> np.ndarray | None:
    """Least-squares plane (smallest principal axis) of the inliers, re-selected a few times; None if
    the fit stops being a floor below the camera.

    The RANSAC band also holds the foot of every wall (points up to 1 % of z above the floor), all on one
    side of the plane: that would tilt the fit. So each pass narrows the band to 3 robust standard
    deviations of the residuals (relative to depth, like the band), which the floor's own noise fills."""
    band = _depth_tolerance(points)
    for _ in range(_REFINEMENTS):
        residual = points @ plane[:3] - plane[3]
        inliers = np.abs(residual) < band
        if inliers.sum() < 3:
            return None
        relative = residual[inliers] / points[inliers, 2]
        spread = 3 * 1.4826 * np.median(np.abs(relative - np.median(relative)))  # 3 sigma, from the MAD
        band = np.minimum(band, np.maximum(spread, 1e-6) * points[:, 2])
        inliers &= np.abs(residual) < band
        if inliers.sum() < 3:
            return None
        plane = _least_squares_plane(points[inliers])
    return plane if _floor_like(plane[None])[0] else None


def _least_squares_plane(points: np.ndarray) -> np.ndarray:
    """Plane through the centroid along the points' two widest principal axes, normal oriented up."""
    centre = points.mean(axis=0)
    _, _, axes = np.linalg.svd(points - centre, full_matrices=False)
    normal = axes[2] if axes[2, 1] >= 0 else -axes[2]
    return np.append(normal, normal @ centre)


def contact_pixel_candidates(depth: np.ndarray, intrinsics: Intrinsics, plane: np.ndarray, tolerance: float = 0.05) -> np.ndarray:
    """(K, 2) int (row, col) pixels whose depth is the plane's depth along their ray within tolerance *
    depth: the floor actually visible, where an object can stand without floating over a table or through
    a wall. (Along the ray, not along the normal: far away the rays graze the floor, and a wall point a
    metre behind the floor's line is then only centimetres above the plane.) Not a pixel that would hide
    its own contact: one nearer than the plane by `occlusion_margin`."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    rays = pixel_rays(intrinsics, np.arange(depth.shape[0]), np.arange(depth.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        plane_depth = plane[3] / (rays @ np.asarray(plane[:3], dtype=np.float64))
    hides_contact = depth < plane_depth - occlusion_margin(plane_depth)
    return np.argwhere(valid & (plane_depth > 0) & (np.abs(plane_depth - depth) < tolerance * depth) & ~hides_contact)


def occlusion_margin(depth: np.ndarray) -> np.ndarray:
    """How much nearer the scene must be to hide an object: max(1 cm, 0.5 % of its depth), in its dtype."""
    return np.maximum(0.01, 0.005 * depth)


# --- objects standing on the floor ------------------------------------------------------------------

def top_of_object(contact: np.ndarray, height_m: float, plane: np.ndarray, intrinsics: Intrinsics) -> float:
    """Image v of the top of an object `height_m` tall standing at `contact`, straight up along the floor
    normal. With a pitched camera this is not v_contact - fy * h / z: the top is at another depth."""
    top = np.asarray(contact, dtype=np.float64) + height_m * np.asarray(plane[:3], dtype=np.float64)
    return float(project(top, intrinsics)[1])
