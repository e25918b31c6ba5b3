"""The Scene API: a scene holds a list of placed objects and render draws them in order, each with its
visible and whole mask; a scene of one object renders as the plain composite."""

from __future__ import annotations

import numpy as np

from generator.pipeline.composite import Cutout, composite, mask_bbox
from generator.pipeline.plan import Placement
from generator.pipeline.render import render
from generator.pipeline.scene import PlacedObject, Scene
from generator.pipeline.sources import Background
from generator.rules import PlacementRule


def _square(colour, size=16) -> Cutout:
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = 255
    return Cutout.of(rgba)


def _placed(cutout: Cutout, x: int, y: int) -> PlacedObject:
    return PlacedObject(cutout, Placement(x, y, 1.0, cutout.shape[1], cutout.shape[0]), PlacementRule.UNIFORM)


def test_one_object_renders_as_the_plain_composite():
    background = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    cutout = _square((200, 30, 30))
    rendered = render(Scene(0, Background("b", background, None), (_placed(cutout, 5, 7),)))
    [image], [mask] = composite(background, [cutout], [Placement(5, 7, 1.0, 16, 16)])
    np.testing.assert_array_equal(rendered.image, image)
    [drawn] = rendered.objects
    np.testing.assert_array_equal(drawn.visible, mask)
    assert drawn.whole is None and drawn.bbox == [5, 7, 21, 23] == rendered.changed


def test_a_later_object_covers_an_earlier_one_and_each_keeps_its_whole_mask():
    background = np.zeros((48, 48, 3), np.uint8)
    below, above = _placed(_square((255, 0, 0)), 4, 4), _placed(_square((0, 0, 255)), 12, 12)
    rendered = render(Scene(0, Background("b", background, None), (below, above)))
    assert tuple(rendered.image[14, 14]) == (0, 0, 255) and tuple(rendered.image[6, 6]) == (255, 0, 0)
    first, second = rendered.objects
    assert first.visible[14, 14] == 0 and first.visible[6, 6] == 255  # hidden where the second stands
    assert first.whole is not None and first.whole[14, 14] == 255  # its whole mask keeps that part
    assert first.bbox == mask_bbox(first.visible) == [4, 4, 20, 20]
    assert second.whole is None and second.bbox == [12, 12, 28, 28]
    assert rendered.changed == [4, 4, 28, 28]
