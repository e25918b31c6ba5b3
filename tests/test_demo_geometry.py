"""Geometry of the demo inputs: furniture occluders with exact depth, the camera intrinsics and floor
plane of `demo_rooms`, the real heights of `demo_sprites`."""

import hashlib

import numpy as np
import pytest

from generator.pipeline.demo import (
    FLOOR, FURNITURE, HEIGHT_RANGES, demo_backgrounds, demo_foregrounds, demo_rooms, demo_sprites, floor_plane,
)
from generator.pipeline.demo.furniture import CAMERA_CLEARANCE
from generator.pipeline.demo.rooms import draw_room, render_room

SIZE = 64
SEED = 3


@pytest.fixture(scope="module")
def rooms():
    return demo_rooms(20, SIZE, seed=SEED)


def _furnished(seed, index, size=SIZE):
    """The room `demo_rooms(..., seed)[index]` is drawn from, with its furniture (rooms internals)."""
    return render_room(np.random.default_rng([seed, index]), size, np.random.default_rng([seed, index, 0xF1]))


def _camera_points(room):
    """(3, size, size) camera-frame points (x right, y up, z forward) back-projected with the intrinsics."""
    fx, fy, cx, cy = room.intrinsics
    rows, cols = np.mgrid[: room.depth.shape[0], : room.depth.shape[1]] + 0.5
    z = room.depth.astype(np.float64)
    return np.stack([z * (cols - cx) / fx, -z * (rows - cy) / fy, z])


def _height_above_floor(room):
    nx, ny, nz, d = room.floor
    x, y, z = _camera_points(room)
    return nx * x + ny * y + nz * z - d


def test_room_fields(rooms):
    for room in rooms:
        assert room.rgb.shape == (SIZE, SIZE, 3) and room.rgb.dtype == np.uint8
        assert room.depth.shape == (SIZE, SIZE) and room.depth.dtype == np.float32
        assert np.all(np.isfinite(room.depth)) and room.depth.min() > 0
        fx, fy, cx, cy = room.intrinsics
        assert fx == fy > 0 and cx == cy == SIZE / 2
        assert np.isclose(np.linalg.norm(room.floor[:3]), 1) and room.floor[1] > 0 and room.floor[3] < 0
        assert room.occluder_fraction == pytest.approx(np.mean(room.surface >= FURNITURE))


def test_wrappers_return_the_rooms_and_sprites():
    for (rgb, depth), room in zip(demo_backgrounds(3, 40, seed=2), demo_rooms(3, 40, seed=2)):
        assert np.array_equal(rgb, room.rgb) and np.array_equal(depth, room.depth)
    for rgba, sprite in zip(demo_foregrounds(7, 40, seed=2), demo_sprites(7, 40, seed=2)):
        assert np.array_equal(rgba, sprite.rgba)


def test_floor_plane_matches_the_depth(rooms):
    for room in rooms:
        height = _height_above_floor(room)
        floor = room.surface == FLOOR
        assert floor.sum() > 0.05 * floor.size
        assert np.all(np.abs(height[floor]) < 1e-3 * room.depth[floor])
        # Not true of everything: the ceiling is the room's height above the floor.
        assert np.all(height[room.surface == 1] > 2.3)


def test_floor_plane_of_a_level_camera():
    assert floor_plane(1.5, 0.0, 0.3) == pytest.approx((0, 1, 0, -1.5))
    nx, ny, nz, d = floor_plane(1.2, np.radians(-10), np.radians(20))
    # Looking down, "up" points back towards the camera; yaw does not tilt the floor.
    assert nx == pytest.approx(0, abs=1e-12) and nz == pytest.approx(np.sin(np.radians(-10)))
    assert ny == pytest.approx(np.cos(np.radians(10))) and d == -1.2


def test_average_occluder_fraction(rooms):
    fractions = np.array([room.occluder_fraction for room in rooms])
    assert 0.05 <= fractions.mean() <= 0.40
    assert (fractions > 0).sum() >= len(rooms) // 2
    assert fractions.max() < 0.6  # no room is filled by furniture


def test_furniture_is_nearer_than_the_room_behind_it():
    furnished = 0
    for index in range(8):
        image = _furnished(SEED, index)
        bare = draw_room(image.room._replace(furniture=()), SIZE, np.random.default_rng(0))
        hit = image.surface >= FURNITURE
        furnished += hit.any()
        assert np.all(image.depth[hit] < bare.depth[hit])
        assert np.array_equal(image.depth[~hit], bare.depth[~hit])  # elsewhere the same room box
        assert np.array_equal(image.surface[~hit], bare.surface[~hit])
    assert furnished >= 4


def test_furniture_stands_on_the_floor_inside_the_room_clear_of_the_camera():
    kinds = set()
    for index in range(30):
        image = _furnished(SEED, index, 32)
        room = image.room
        for item in room.furniture:
            kinds.add(item.kind)
            assert item.lo[1] == 0  # on the floor, not floating
            assert np.all(item.lo >= 0) and np.all(item.hi <= [room.width + 1e-5, room.height + 1e-5, room.depth + 1e-5])
            dx = max(item.lo[0] - room.camera[0], 0, room.camera[0] - item.hi[0])
            dz = max(item.lo[2] - room.camera[2], 0, room.camera[2] - item.hi[2])
            assert np.hypot(dx, dz) >= CAMERA_CLEARANCE
            if item.kind == "table":
                assert 0.72 <= item.hi[1] <= 0.78
    assert kinds == {"table", "sofa", "shelf", "pillar", "door_frame"}


def test_furniture_pixels_lie_between_floor_and_top(rooms):
    for index, room in enumerate(rooms):
        items = _furnished(SEED, index).room.furniture
        height = _height_above_floor(room)
        for k, item in enumerate(items):
            pixels = room.surface == FURNITURE + k
            if pixels.any():
                assert height[pixels].min() > -1e-3 * room.depth.max()
                assert height[pixels].max() < item.hi[1] + 1e-3 * room.depth.max()


def test_bottom_centre_still_sees_the_floor():
    for room in demo_rooms(40, 48, seed=11):
        assert np.all(room.surface[int(48 * 0.85) :, 24] == FLOOR)


def test_rooms_deterministic_across_threads():
    one = demo_rooms(4, 40, seed=9, threads=1)
    two = demo_rooms(4, 40, seed=9, threads=2)
    again = demo_rooms(4, 40, seed=9)
    for a, b, c in zip(one, two, again):
        for room in (b, c):
            assert a.rgb.tobytes() == room.rgb.tobytes() and a.depth.tobytes() == room.depth.tobytes()
            assert a.surface.tobytes() == room.surface.tobytes()
            assert (a.intrinsics, a.floor, a.occluder_fraction) == (room.intrinsics, room.floor, room.occluder_fraction)


def test_sprite_heights_lie_in_their_kind_range():
    sprites = demo_sprites(70, 48, seed=4)
    assert {s.kind for s in sprites} == {"person", "animal", "chair", "plant", "vase_or_lamp", "table", "snowman"}
    for sprite in sprites:
        if sprite.kind == "vase_or_lamp":
            low, high = HEIGHT_RANGES["lamp" if sprite.rgba.shape[0] > 2 * sprite.rgba.shape[1] else "vase"]
        else:
            low, high = HEIGHT_RANGES[sprite.kind]
        assert low <= sprite.height_m <= high
    assert len({round(s.height_m, 6) for s in sprites}) == len(sprites)
    assert [s.height_m for s in sprites] == [s.height_m for s in demo_sprites(70, 48, seed=4)]


def test_sprites_are_the_same_on_any_number_of_threads():
    one, two = demo_sprites(14, 40, seed=5), demo_sprites(14, 40, seed=5, threads=2)
    assert [(s.kind, s.height_m) for s in one] == [(s.kind, s.height_m) for s in two]
    assert all(np.array_equal(a.rgba, b.rgba) for a, b in zip(one, two))


# sha256 over (shape, bytes) of demo_foregrounds(14, size, seed), rendered by the code before
# demo_sprites existed (commit 319debf): the API change must not change a pixel.
_SPRITES_BEFORE = {
    (64, 3): "e1c5baabdab460cbccde8d1fdc5bebd9449bb36fcc6370f43b2f3caaeb77a20e",
    (40, 5): "78a6d7766541001f337e048547d17a7d0c6341980135be2cf42514cd33a3281e",
    (113, 1): "329748950a9196ec3eba78997224c65cb9b4a8f716ce73a12ad1686d53f2fc83",
}


@pytest.mark.parametrize("size, seed", sorted(_SPRITES_BEFORE))
def test_sprite_pixels_unchanged(size, seed):
    digest = hashlib.sha256()
    for rgba in demo_foregrounds(14, size, seed=seed):
        digest.update(str(rgba.shape).encode())
        digest.update(rgba.tobytes())
    assert digest.hexdigest() == _SPRITES_BEFORE[(size, seed)]
