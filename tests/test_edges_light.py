"""Edges and light that keep the object as it is: the Poisson offset's bound, softened edges that change
only a band along the edge, and a contact shadow under and behind the object."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from generator.pipeline.blend import POISSON_MAX_CHROMA, POISSON_MAX_LUMA, POISSON_MAX_SHIFT, edge_band
from generator.pipeline.composite import Cutout, composite
from generator.pipeline.geometry import project
from generator.pipeline.plan import Placement
from generator.pipeline.scene.compose import Effects
from generator.rules import BlendMode
from tests.test_effects import _disc, _effects_composite, _rendered, _scene, demo_floor  # noqa: F401  (a fixture)

SKIN, GRASS = (225, 185, 160), (40, 170, 50)


def _ycc(change: np.ndarray) -> tuple[float, float]:
    """(luma, length of the colour difference B - Y, R - Y) of an RGB change."""
    luma = 0.299 * change[0] + 0.587 * change[1] + 0.114 * change[2]
    return float(luma), float(np.hypot(change[2] - luma, change[0] - luma))


@pytest.mark.parametrize("colour, back", [(SKIN, GRASS), ((230, 30, 30), (20, 200, 220)), ((30, 30, 220), (250, 240, 40)), ((240, 240, 240), (15, 15, 15))])
def test_poisson_moves_a_flat_object_by_at_most_its_bound(colour, back):
    background = np.full((64, 64, 3), back, np.uint8)
    rgba, _ = _disc(24, colour=colour, screen=colour)
    place = Placement(20, 18, 1.0, 24, 24)
    poisson = _effects_composite("poisson", background, rgba, place)[0][0][18:42, 20:44]
    interior = rgba[..., 3] == 255
    change = poisson[interior].astype(float).mean(axis=0) - np.asarray(colour)
    assert np.abs(change).max() <= POISSON_MAX_SHIFT + 0.5
    luma, chroma = _ycc(change)
    assert POISSON_MAX_LUMA - 1 <= abs(luma) <= POISSON_MAX_LUMA + 0.5  # lit towards the scene, as far as allowed
    assert chroma <= POISSON_MAX_CHROMA + 0.5  # its hue hardly moves
    mean = poisson[interior].astype(float).mean(axis=0)
    # Recognisable: nearer its own colour than the background's (a face does not turn green).
    assert np.linalg.norm(mean - colour) < np.linalg.norm(mean - back) / 3


def test_a_face_keeps_its_hue_under_poisson():
    background = np.full((64, 64, 3), GRASS, np.uint8)
    rgba, _ = _disc(24, colour=SKIN, screen=SKIN)
    poisson = _effects_composite("poisson", background, rgba, Placement(20, 18, 1.0, 24, 24))[0][0][18:42, 20:44]
    red, green, blue = poisson[rgba[..., 3] == 255].astype(float).mean(axis=0)
    assert red > green > blue


def test_no_pixel_moves_beyond_the_bound_against_a_wall_above_and_a_dark_floor_below():
    background = np.zeros((64, 64, 3), np.uint8)
    background[:30] = (250, 250, 200)  # a bright wall above the head, a dark floor below the feet
    rgba, _ = _disc(24, colour=SKIN, screen=SKIN)
    poisson = _effects_composite("poisson", background, rgba, Placement(20, 18, 1.0, 24, 24))[0][0][18:42, 20:44]
    solid = rgba[..., 3] == 255
    change = poisson[solid].astype(float) - SKIN
    assert np.abs(change).max() <= POISSON_MAX_SHIFT + 0.5
    assert max(_ycc(c)[1] for c in change) <= POISSON_MAX_CHROMA + 1  # no pixel's hue moves far


@pytest.mark.parametrize("mode", ["gaussian", "box"])
@pytest.mark.parametrize("size", [12, 24, 120])
def test_softened_edges_change_only_a_band_along_the_edge(mode, size):
    background = _scene(size=size + 40)
    yy, xx = np.mgrid[:size, :size]
    edge = np.clip(size * 0.45 - np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5), 0, 1)  # a disc, one px of soft edge
    rgba = np.dstack([np.full((size, size, 3), 250), np.rint(edge * 255)]).astype(np.uint8)
    place = Placement(20, 18, 1.0, size, size)
    soft = _effects_composite(mode, background, rgba, place)[0][0]
    plain = composite(background, [Cutout.of(rgba)], [place])[0][0]
    band = edge_band(rgba.shape[:2])
    alpha = np.zeros(background.shape[:2], np.uint8)
    alpha[18 : 18 + size, 20 : 20 + size] = rgba[..., 3]
    window = 2 * band + 1
    interior = ndimage.minimum_filter(alpha, window, mode="constant") == 255  # farther than the band inside
    outside = ndimage.maximum_filter(alpha, window, mode="constant") == 0  # farther than the band outside
    assert interior.any()
    np.testing.assert_array_equal(soft[interior], plain[interior])  # the interior is the alpha composite
    np.testing.assert_array_equal(soft[outside], background[outside])
    assert (soft != plain).any()


def test_the_edge_band_widens_with_the_object():
    assert edge_band((12, 8)) == 1 < edge_band((200, 120)) < edge_band((480, 300))


def _chair(height: int, width: int) -> np.ndarray:
    """A chair's alpha seen from the front: a backrest, a seat, four legs (the back pair ends higher)."""
    alpha = np.zeros((height, width), np.uint8)
    leg, seat = max(1, width // 10), height // 2
    alpha[:seat, leg : width - leg] = 255
    alpha[seat : seat + max(1, height // 10)] = 255
    for x0, bottom in ((0, height), (width - leg, height), (2 * leg, height - height // 8), (width - 3 * leg, height - height // 8)):
        alpha[seat:bottom, x0 : x0 + leg] = 255
    return alpha


def test_the_shadow_of_a_chair_is_centred_under_and_behind_its_contact_point(demo_floor):
    background, _, places = demo_floor
    for place in places:
        chair = np.dstack([np.full((place.h, place.w, 3), 200, np.uint8), _chair(place.h, place.w)])
        image = _rendered(background, [chair], [place], Effects(BlendMode.ALPHA, shadow=True))[0][0]
        covered = np.zeros(image.shape[:2], bool)
        covered[place.y : place.y + place.h, place.x : place.x + place.w] = chair[..., 3] > 0
        darkness = np.where(covered, 0, (background.rgb.astype(float) - image).sum(axis=2))
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        row, col = (yy * darkness).sum() / darkness.sum() + 0.5, (xx * darkness).sum() / darkness.sum() + 0.5
        u, v = project(np.asarray([place.contact]), background.floor.intrinsics)
        assert row < float(v[0]) - 0.5  # behind the contact point as seen from the camera: higher in the picture
        assert abs(col - float(u[0])) < 0.1 * place.w + 1  # neither left nor right of it
        assert row > place.y + place.h / 2  # on the floor under the seat, not up the backrest
        between_legs = darkness[place.y + place.h * 3 // 4 : place.y + place.h, place.x + place.w // 4 : place.x + place.w * 3 // 4]
        assert between_legs.sum() > 0  # the floor under the chair is in shadow
