"""Camera geometry on analytic scenes: a floor (with a back wall and a table top) ray-cast from a camera of
known height, pitch and roll, so every expected plane, depth and pixel is known exactly."""

from __future__ import annotations

import io
import math
from dataclasses import FrozenInstanceError, dataclass

import numpy as np
import pytest
from PIL import Image

from generator.pipeline.geometry import (
    Intrinsics,
    center_square_box,
    back_project,
    centre_crop_resize,
    contact_pixel_candidates,
    fit_floor,
    photo_intrinsics,
    project,
    ray_plane_point,
    top_of_object,
)
from generator.pipeline.upright import upright_plane_depth

SIZE = 224
CAMERA_HEIGHT = 1.5
PITCH = 15.0
K = Intrinsics.from_fov(SIZE, SIZE, 60.0)
FLOOR, WALL, TABLE = 0, 1, 2


# --- a tiny ray caster ------------------------------------------------------------------------------


def camera_to_world(pitch_down_degrees: float, roll_degrees: float = 0.0) -> np.ndarray:
    """Rotation taking camera-frame vectors (x right, y up, z forward) to the world (y up): roll about
    the optical axis, then pitch down about x."""
    p, r = math.radians(pitch_down_degrees), math.radians(roll_degrees)
    pitch = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return pitch @ roll


def floor_plane(rotation: np.ndarray, height: float = CAMERA_HEIGHT) -> np.ndarray:
    """The world floor y = 0 in the camera frame: normal = world up in camera coordinates, d = -height."""
    return np.append(rotation.T @ np.array([0.0, 1.0, 0.0]), -height)


@dataclass(frozen=True)
class Table:
    """A horizontal rectangle `top` metres above the floor, x in [x0, x1], z in [z0, z1] (world)."""

    top: float
    x0: float
    x1: float
    z0: float
    z1: float


def render(rotation: np.ndarray, wall_distance: float | None = 6.0, table: Table | None = None,
           floor: bool = True, size: int = SIZE, intrinsics: Intrinsics = K) -> tuple[np.ndarray, np.ndarray]:
    """(z-depth, surface label) of a floor, a back wall at world z = wall_distance and a table, seen from
    (0, CAMERA_HEIGHT, 0). Pixels that hit nothing get depth inf and label -1."""
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    rays = np.stack([(cols - intrinsics.cx) / intrinsics.fx, -(rows - intrinsics.cy) / intrinsics.fy, np.ones_like(rows)], -1)
    world = rays @ rotation.T
    dy, dz, dx = world[..., 1], world[..., 2], world[..., 0]
    depth = np.full((size, size), np.inf)
    label = np.full((size, size), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = []
        if floor:
            hits.append((FLOOR, np.where(dy < 0, -CAMERA_HEIGHT / dy, np.inf)))
        if wall_distance is not None:
            hits.append((WALL, np.where(dz > 0, wall_distance / dz, np.inf)))
        if table is not None:
            t = np.where(dy < 0, (table.top - CAMERA_HEIGHT) / dy, np.inf)
            x, z = t * dx, t * dz
            inside = (x >= table.x0) & (x <= table.x1) & (z >= table.z0) & (z <= table.z1)
            hits.append((TABLE, np.where(inside, t, np.inf)))
    for surface, t in hits:
        nearer = t < depth
        depth[nearer], label[nearer] = t[nearer], surface
    return depth, label


def assert_plane_close(found: np.ndarray, expected: np.ndarray, normal_tolerance: float, d_tolerance: float) -> None:
    assert found is not None
    assert found.dtype == np.float64 and found.shape == (4,)
    np.testing.assert_allclose(found[:3], expected[:3], atol=normal_tolerance)
    assert abs(found[3] - expected[3]) < d_tolerance


# --- intrinsics -------------------------------------------------------------------------------------


def test_from_fov_crop_and_resize():
    k = Intrinsics.from_fov(640, 480, 90.0)
    assert k.as_list() == pytest.approx([320.0, 320.0, 320.0, 240.0])
    assert k.cropped(80, 0).as_list() == pytest.approx([320.0, 320.0, 240.0, 240.0])
    assert k.cropped(80, 0).resized(0.5, 0.25).as_list() == pytest.approx([160.0, 80.0, 120.0, 60.0])
    with pytest.raises(FrozenInstanceError):
        k.fx = 1.0  # frozen: intrinsics are shared between modules


def test_project_of_back_project_returns_the_pixel_centres():
    depth = np.random.default_rng(1).uniform(0.5, 9.0, (30, 40))
    for k in (Intrinsics(50.0, 60.0, 18.0, 16.5), Intrinsics(50.0, 60.0, 18.0, 16.5).cropped(3, 7).resized(1.7, 0.6)):
        points = back_project(depth, k)
        assert points.shape == (30, 40, 3) and points.dtype == np.float32
        np.testing.assert_allclose(points[..., 2], depth, rtol=1e-6)
        u, v = project(points, k)
        rows, cols = np.mgrid[0:30, 0:40]
        np.testing.assert_allclose(u, cols + 0.5, atol=1e-4)
        np.testing.assert_allclose(v, rows + 0.5, atol=1e-4)


def test_axes_point_right_and_up():
    k = Intrinsics(100.0, 100.0, 50.0, 50.0)
    u, v = project(np.array([[1.0, 1.0, 2.0]]), k)
    assert u[0] > k.cx and v[0] < k.cy  # right of and above the principal point: v grows downward


# (700, 500) -> 64 is a reduction over 6x: PIL's reducing_gap=3 then box-reduces first.
@pytest.mark.parametrize("width, height, size", [(400, 300, 96), (301, 500, 96), (256, 256, 96), (700, 501, 64)])
def test_centre_crop_resize_follows_the_background_preprocessing(width, height, size):
    """A blob at a known continuous position, cropped and resized as sources._load_background does,
    lands where the helper's intrinsics project it."""
    original = Intrinsics.from_fov(width, height, 60.0)
    k = centre_crop_resize(original, width, height, size)
    blob_u, blob_v = width / 2 + 23.3, height / 2 - 17.8
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    blob = 250 * np.exp(-((cols - blob_u) ** 2 + (rows - blob_v) ** 2) / (2 * 9.0**2))
    image = Image.fromarray(blob.astype(np.float32), "F")
    resized = np.asarray(image.crop(center_square_box(width, height)).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0))
    grid_v, grid_u = np.mgrid[0:size, 0:size] + 0.5
    found_u, found_v = (resized * grid_u).sum() / resized.sum(), (resized * grid_v).sum() / resized.sum()
    # The same blob, as a point at depth 1 on the original camera's ray, projected with the new intrinsics.
    point = np.array([(blob_u - original.cx) / original.fx, -(blob_v - original.cy) / original.fy, 1.0])
    expected_u, expected_v = project(point, k)
    assert abs(found_u - expected_u) < 0.05 and abs(found_v - expected_v) < 0.05


# --- EXIF -------------------------------------------------------------------------------------------


def jpeg_with_exif(width: int, height: int, exif_ifd: dict[int, object], orientation: int | None = None) -> Image.Image:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769).update(exif_ifd)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, "JPEG", exif=exif.tobytes())
    buffer.seek(0)
    return Image.open(buffer)


def test_exif_35mm_focal_length():
    image = jpeg_with_exif(320, 240, {0xA405: 28})
    assert image.getexif().get_ifd(0x8769)[0xA405] == 28  # the tag really is in the file
    k = Intrinsics.from_exif(image)
    focal = 28 * math.hypot(320, 240) / 43.27
    assert k is not None and k.as_list() == pytest.approx([focal, focal, 160.0, 120.0])
    assert photo_intrinsics(image) == (k, "exif35mm")


def test_exif_orientation_swaps_width_and_height():
    image = jpeg_with_exif(320, 240, {0xA405: 28}, orientation=6)
    k = Intrinsics.from_exif(image)
    focal = 28 * math.hypot(240, 320) / 43.27
    assert k is not None and k.as_list() == pytest.approx([focal, focal, 120.0, 160.0])
    # The same photo after exif_transpose (orientation tag dropped, pixels turned) gives the same answer.
    from PIL import ImageOps

    assert Intrinsics.from_exif(ImageOps.exif_transpose(image)).as_list() == pytest.approx(k.as_list())


def focal_plane_tags(width: int, height: int, pixels_per_mm: float = 100.0) -> dict[int, object]:
    """A 4 mm lens, the sensor's pixels per mm (unit 4 = mm) and the pixel size the camera recorded."""
    return {0x920A: 4.0, 0xA20E: pixels_per_mm, 0xA210: 4, 0xA002: width, 0xA003: height}


def test_exif_focal_plane_fallback_and_its_sanity_check():
    image = jpeg_with_exif(320, 240, focal_plane_tags(320, 240))  # 4 mm x 100 px/mm: 400 px
    k = Intrinsics.from_exif(image)
    assert k is not None and k.as_list() == pytest.approx([400.0, 400.0, 160.0, 120.0])
    assert photo_intrinsics(image) == (k, "exif_focal_plane")
    # A resolution that would mean a 170-degree view is a broken tag: no intrinsics from it.
    assert Intrinsics.from_exif(jpeg_with_exif(320, 240, focal_plane_tags(320, 240, pixels_per_mm=0.5))) is None


def test_exif_focal_plane_only_while_the_photo_has_the_recorded_pixel_size():
    # The camera's 1280 x 960 image downsized 4x: its sensor's pixels per mm no longer describe these pixels.
    downsized = jpeg_with_exif(320, 240, focal_plane_tags(1280, 960))
    assert Intrinsics.from_exif(downsized) is None
    assert photo_intrinsics(downsized, hfov_degrees=70.0) == (Intrinsics.from_fov(320, 240, 70.0), "fov")
    unrecorded = {tag: value for tag, value in focal_plane_tags(320, 240).items() if tag not in (0xA002, 0xA003)}
    assert photo_intrinsics(jpeg_with_exif(320, 240, unrecorded)) == (Intrinsics.from_fov(320, 240, 60.0), "default")
    # Turned upright by EXIF rotation, the photo still has the recorded pixels.
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(jpeg_with_exif(320, 240, focal_plane_tags(320, 240), orientation=6))
    assert photo_intrinsics(upright)[0].as_list() == pytest.approx([400.0, 400.0, 120.0, 160.0])
    assert photo_intrinsics(upright)[1] == "exif_focal_plane"
    # An explicit field of view comes first: the user knows the lens better than a tag.
    assert photo_intrinsics(upright, hfov_degrees=70.0) == (Intrinsics.from_fov(240, 320, 70.0), "fov")


def test_no_exif_falls_back_to_the_field_of_view():
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, "JPEG")
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert Intrinsics.from_exif(image) is None
    assert photo_intrinsics(image, hfov_degrees=70.0) == (Intrinsics.from_fov(300, 200, 70.0), "fov")


# --- floor fit --------------------------------------------------------------------------------------


def test_fit_floor_recovers_a_pitched_floor_exactly():
    rotation = camera_to_world(PITCH)
    depth, label = render(rotation)
    assert 0.3 < (label == FLOOR).mean() < 0.9 and (label == WALL).mean() > 0.1
    expected = floor_plane(rotation)
    assert expected[3] < 0 and expected[1] > 0
    assert_plane_close(fit_floor(depth, K), expected, 1e-3, 1e-3)


def test_fit_floor_with_noise_a_wall_a_table_and_invalid_pixels():
    rotation = camera_to_world(PITCH, roll_degrees=4.0)
    depth, label = render(rotation, wall_distance=5.0, table=Table(0.75, -1.0, 1.2, 2.0, 3.8))
    assert (label == WALL).mean() > 0.2 and (label == TABLE).mean() > 0.08
    rng = np.random.default_rng(7)
    noisy = depth * (1 + 0.01 * rng.standard_normal(depth.shape))
    holes = rng.random(depth.shape) < 0.05
    noisy[holes] = rng.choice([np.nan, np.inf, 0.0, -1.0], holes.sum())
    # 1 % depth noise moves points along their rays: the normal within 3e-3, the height within 1 cm.
    for seed in range(3):
        assert_plane_close(fit_floor(noisy, K, seed=seed), floor_plane(rotation), 3e-3, 1e-2)


def test_a_smaller_table_top_is_not_chosen_even_when_it_fills_the_lower_image():
    rotation = camera_to_world(PITCH)
    # A big low table right in front: fewer pixels than the floor, but the nearest horizontal surface.
    depth, label = render(rotation, table=Table(0.45, -0.7, 0.7, 1.3, 3.5))
    assert (label == TABLE).mean() > 0.15
    assert 0 < (label == TABLE).sum() < (label == FLOOR).sum()
    assert_plane_close(fit_floor(depth, K), floor_plane(rotation), 1e-3, 1e-3)


def test_an_equally_large_table_top_loses_to_the_lower_floor():
    rotation = camera_to_world(PITCH)
    # No wall: floor and table both reach the horizon, so each half of the image sees the same rows of each.
    floor_depth, _ = render(rotation, wall_distance=None)
    table_depth, table_label = render(rotation, wall_distance=None, table=Table(0.7, -1e3, 1e3, 0, 1e3))
    assert (table_label == TABLE).mean() > 0.4
    depth = floor_depth.copy()
    depth[:, SIZE // 2 :] = table_depth[:, SIZE // 2 :]  # right half sees a table top as big as the floor
    assert_plane_close(fit_floor(depth, K), floor_plane(rotation), 1e-3, 1e-3)
    # Without the tie-break it would be a coin toss: the table alone is a perfectly good plane.
    assert_plane_close(fit_floor(table_depth, K), floor_plane(rotation, CAMERA_HEIGHT - 0.7), 1e-3, 1e-3)


def test_no_floor_in_a_frontal_wall():
    depth, label = render(camera_to_world(0.0), wall_distance=3.0, floor=False)
    assert (label == WALL).all()
    noisy = depth * (1 + 0.01 * np.random.default_rng(2).standard_normal(depth.shape))
    assert fit_floor(depth, K) is None and fit_floor(noisy, K) is None


def test_no_floor_in_an_invalid_map():
    assert fit_floor(np.full((SIZE, SIZE), np.nan), K) is None
    assert fit_floor(np.zeros((SIZE, SIZE)), K) is None


def test_fit_floor_is_deterministic():
    rotation = camera_to_world(PITCH)
    depth, _ = render(rotation, table=Table(0.75, -0.8, 0.9, 2.5, 3.8))
    depth *= 1 + 0.01 * np.random.default_rng(5).standard_normal(depth.shape)
    depth = depth.astype(np.float32)
    assert np.array_equal(fit_floor(depth, K, seed=11), fit_floor(depth, K, seed=11))


# --- rays, contact points, objects ------------------------------------------------------------------


def test_ray_plane_point_lands_on_the_rendered_floor():
    rotation = camera_to_world(PITCH)
    plane = floor_plane(rotation)
    depth, label = render(rotation)
    row, col = 200, 60
    assert label[row, col] == FLOOR
    point = ray_plane_point(col + 0.5, row + 0.5, K, plane)
    assert point is not None
    np.testing.assert_allclose(point, back_project(depth, K)[row, col], rtol=1e-5)
    assert ray_plane_point(SIZE / 2, 5.0, K, plane) is None  # above the horizon: the floor is behind
    level = np.array([0.0, 1.0, 0.0, -1.0])
    assert ray_plane_point(K.cx, K.cy, K, level) is None  # the optical axis runs parallel to a level floor


def test_contact_candidates_are_the_visible_floor():
    rotation = camera_to_world(PITCH)
    plane = floor_plane(rotation)
    depth, label = render(rotation, table=Table(0.75, -0.8, 0.9, 2.5, 3.8))
    candidates = contact_pixel_candidates(depth, K, plane, tolerance=0.05)
    chosen = np.zeros(depth.shape, bool)
    chosen[candidates[:, 0], candidates[:, 1]] = True
    # Where each pixel's ray would meet the floor, from the renderer's own floor hit (rays have z = 1).
    floor_depth, _ = render(rotation, wall_distance=None)
    assert chosen[label == FLOOR].all()
    assert not chosen[label == TABLE].any()
    # A wall pixel counts only within 5 % of the depth at which its ray would have met the floor: the wall's
    # foot, however grazing the ray (a normal-distance test would take a metre of wall at 6 m).
    # A pixel nearer than the floor by the occlusion margin would hide the contact point of an object standing
    # there: the wall in front of where its ray meets the floor is not a contact.
    near_floor = np.abs(floor_depth - depth) < 0.05 * depth
    in_front = depth < floor_depth - np.maximum(0.01, 0.005 * floor_depth)
    np.testing.assert_array_equal(chosen, near_floor & ~in_front)
    wall_rows = np.flatnonzero((chosen & (label == WALL)).any(axis=1))
    assert wall_rows.size <= 4


def test_a_floor_pixel_that_would_hide_the_contact_is_no_contact():
    """Measured floors are noisy: a pixel 1.5 % nearer than the fitted plane is within the floor's
    tolerance, but an object standing on it would be hidden at its own contact point (occlusion hides what
    is behind the scene by more than max(1 cm, 0.5 %)); one 1.5 % farther is a contact."""
    rotation = camera_to_world(PITCH)
    plane = floor_plane(rotation)
    depth, label = render(rotation, wall_distance=None)
    floor = np.argwhere(label == FLOOR)
    bump, dip = (tuple(floor[len(floor) // 3]), tuple(floor[2 * len(floor) // 3]))
    noisy = depth.copy()
    noisy[bump] *= 0.985
    noisy[dip] *= 1.015
    candidates = {tuple(p) for p in contact_pixel_candidates(noisy, K, plane, tolerance=0.02)}
    assert bump not in candidates
    assert dip in candidates


def brute_force_top_v(contact_camera: np.ndarray, height: float, rotation: np.ndarray) -> float:
    """v of the point `height` above the contact, computed in world coordinates."""
    top_world = rotation @ contact_camera + np.array([0.0, height, 0.0])
    return float(project(rotation.T @ top_world, K)[1])


def test_top_of_object_with_a_pitched_camera():
    rotation = camera_to_world(PITCH)
    plane = floor_plane(rotation)
    height = 1.7
    worst = 0.0
    for row in range(130, SIZE, 10):
        contact = ray_plane_point(SIZE / 2, row + 0.5, K, plane)
        top_v = top_of_object(contact, height, plane, K)
        assert top_v == pytest.approx(brute_force_top_v(contact, height, rotation), abs=1e-6)
        true_height_px = (row + 0.5) - top_v
        naive_height_px = K.fy * height / contact[2]
        worst = max(worst, abs(naive_height_px - true_height_px) / true_height_px)
    assert worst > 0.05


def test_top_of_object_level_camera_matches_fy_h_over_z():
    rotation = camera_to_world(0.0)
    plane = floor_plane(rotation)
    contact = ray_plane_point(100.5, 180.5, K, plane)
    assert 180.5 - top_of_object(contact, 1.2, plane, K) == pytest.approx(K.fy * 1.2 / contact[2])


def test_upright_plane_depth_is_constant_along_rows_without_roll():
    rotation = camera_to_world(PITCH)
    plane = floor_plane(rotation)
    row, col = 190, 70
    contact = ray_plane_point(col + 0.5, row + 0.5, K, plane)
    depth = upright_plane_depth(contact, plane, K, np.arange(SIZE), np.arange(SIZE))
    assert depth.shape == (SIZE, SIZE) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, depth[:, :1].repeat(SIZE, 1), rtol=1e-6)
    assert depth[row, col] == pytest.approx(contact[2], rel=1e-6)
    # The plane is vertical in the world: its points above the contact keep the contact's forward distance.
    points = back_project(depth, K).astype(np.float64) @ rotation.T
    forward = (rotation @ contact)[2]
    np.testing.assert_allclose(points[..., 2], forward, rtol=1e-5)
    # A sub-window of rows/cols gives the same values.
    window = upright_plane_depth(contact, plane, K, np.arange(100, 120), np.arange(30, 50))
    np.testing.assert_array_equal(window, depth[100:120, 30:50])


def test_upright_plane_depth_varies_along_rows_with_roll():
    rotation = camera_to_world(PITCH, roll_degrees=10.0)
    plane = floor_plane(rotation)
    contact = ray_plane_point(80.5, 190.5, K, plane)
    depth = upright_plane_depth(contact, plane, K, np.arange(SIZE), np.arange(SIZE))
    assert depth[190, 80] == pytest.approx(contact[2], rel=1e-6)
    assert np.ptp(depth[190]) > 0.05 * contact[2]
