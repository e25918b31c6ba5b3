"""Built-in demo inputs: shapes, determinism, plausible depth, clean sprite alpha, variety."""

import numpy as np
import pytest

from generator.pipeline.demo import demo_backgrounds, demo_foregrounds

SIZE = 64


@pytest.fixture(scope="module")
def rooms():
    return demo_backgrounds(12, SIZE, seed=3)


@pytest.fixture(scope="module")
def sprites():
    return demo_foregrounds(14, SIZE, seed=3)


def test_background_shapes_and_dtypes(rooms):
    assert len(rooms) == 12
    for rgb, depth in rooms:
        assert rgb.shape == (SIZE, SIZE, 3) and rgb.dtype == np.uint8
        assert depth.shape == (SIZE, SIZE) and depth.dtype == np.float32


def test_depth_is_finite_and_positive(rooms):
    for _, depth in rooms:
        assert np.all(np.isfinite(depth))
        assert depth.min() > 0
        assert depth.max() < 50  # metres: a room, not the sky


def test_floor_gets_nearer_towards_the_bottom(rooms):
    centre = SIZE // 2
    for _, depth in rooms:
        column = depth[:, centre]
        # The far wall near the horizon is deeper than the floor at the bottom of the image ...
        assert column[: SIZE // 2].max() > column[-1]
        # ... and along the floor depth shrinks row by row towards the camera.
        bottom = column[int(SIZE * 0.85) :]
        assert np.all(np.diff(bottom) < 0)


def test_backgrounds_deterministic_and_index_independent():
    three = demo_backgrounds(3, 32, seed=7)
    ten = demo_backgrounds(10, 32, seed=7)
    again = demo_backgrounds(3, 32, seed=7)
    for (rgb_a, depth_a), (rgb_b, depth_b), (rgb_c, depth_c) in zip(three, ten, again):
        assert np.array_equal(rgb_a, rgb_b) and np.array_equal(depth_a, depth_b)
        assert np.array_equal(rgb_a, rgb_c) and np.array_equal(depth_a, depth_c)


def test_seed_changes_backgrounds():
    (rgb_a, _), (rgb_b, _) = demo_backgrounds(1, 32, seed=0)[0], demo_backgrounds(1, 32, seed=1)[0]
    assert not np.array_equal(rgb_a, rgb_b)


def test_backgrounds_all_differ(rooms):
    images = [rgb.tobytes() for rgb, _ in rooms]
    assert len(set(images)) == len(images)


def test_background_not_flat(rooms):
    for rgb, depth in rooms:
        assert rgb.std() > 5
        assert depth.max() > 1.5 * depth.min()


def test_sprite_shapes_and_dtypes(sprites):
    assert len(sprites) == 14
    for sprite in sprites:
        assert sprite.ndim == 3 and sprite.shape[2] == 4 and sprite.dtype == np.uint8
        assert max(sprite.shape[:2]) == SIZE


@pytest.mark.parametrize("size", [16, 17, 23, 31, 64, 112, 113])
def test_sprite_alpha_is_tight_and_touches_ground(size):
    for sprite in demo_foregrounds(14, size, seed=1):
        alpha = sprite[..., 3]
        assert max(alpha.shape) == size
        # bbox of alpha > 0 equals the array bounds: every border row/column has some coverage.
        assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()
        if size >= 32:  # below that a thin table top is narrower than the 1.5 px edge ramp
            assert (alpha == 255).any()


def test_sprite_alpha_soft_edges_and_solid_inside(sprites):
    for sprite in sprites:
        alpha = sprite[..., 3]
        assert (alpha == 255).sum() > 0.05 * alpha.size  # thin tables are sparse
        assert ((alpha > 0) & (alpha < 255)).any()
        # Transparent pixels carry no stray colour.
        assert not sprite[alpha == 0, :3].any()


def test_sprite_alpha_zero_outside_the_shape(sprites):
    # The corners of most sprites are empty: shapes are not rectangles.
    empty_corners = sum(sprite[0, 0, 3] == 0 and sprite[0, -1, 3] == 0 for sprite in sprites)
    assert empty_corners >= len(sprites) // 2


def test_sprites_deterministic_and_index_independent():
    three = demo_foregrounds(3, 40, seed=5)
    ten = demo_foregrounds(10, 40, seed=5)
    again = demo_foregrounds(3, 40, seed=5)
    for a, b, c in zip(three, ten, again):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_sprite_variety(sprites):
    aspects = {round(s.shape[1] / s.shape[0], 2) for s in sprites}
    assert len(aspects) >= 5
    assert any(s.shape[0] > s.shape[1] for s in sprites)  # tall (people, lamps)
    assert any(s.shape[1] > s.shape[0] for s in sprites)  # wide (animals, tables)
    assert len({s.tobytes() for s in sprites}) == len(sprites)


@pytest.mark.parametrize("bad", [dict(count=-1, size=32), dict(count=1, size=8), dict(count=1, size=32, seed=-2)])
def test_bad_arguments_rejected(bad):
    with pytest.raises(ValueError):
        demo_backgrounds(**bad)
    with pytest.raises(ValueError):
        demo_foregrounds(**bad)


def test_zero_count():
    assert demo_backgrounds(0, 32) == [] and demo_foregrounds(0, 32) == []
