"""Composite JPEGs spliced from their background's MCUs are the encoder's own bytes, and their
statistics those of the decoded image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generator.pipeline.demo import demo_backgrounds
from generator.pipeline.encode import encode_image
from generator.pipeline.jpeg_splice import BackgroundJpeg, Box, McuCodedJpeg, Moments
from generator.pipeline.moments import exact_moments


def pasted(background: np.ndarray, box: Box, seed: int) -> np.ndarray:
    """The background with random pixels in a box: a composite of it."""
    composite = background.copy()
    rng = np.random.default_rng(seed)
    composite[box.top : box.bottom, box.left : box.right] = rng.integers(0, 256, (box.bottom - box.top, box.right - box.left, 3), dtype=np.uint8)
    return composite


def decoded(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)))


# (height, width) and the changed box: at the corners and edges, inside one MCU, one pixel, all of it,
# none; and sizes that are not multiples of the MCU.
CASES = [
    ((224, 224), Box(40, 150, 30, 140)),
    ((224, 224), Box(0, 17, 0, 224)),
    ((224, 224), Box(200, 224, 100, 101)),
    ((224, 224), Box(33, 34, 5, 9)),
    ((224, 224), Box(0, 224, 0, 224)),
    ((224, 224), Box(90, 90, 0, 0)),
    ((224, 224), Box(0, 30, 190, 224)),
    ((224, 224), Box(111, 112, 223, 224)),
    ((100, 60), Box(81, 100, 10, 60)),
    ((100, 60), Box(15, 17, 0, 5)),
    ((37, 250), Box(20, 37, 240, 250)),
]


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return [rgb for rgb, _ in demo_backgrounds(2, 256, seed=5)]


def test_mcu_coded_jpeg_joins_back_to_the_encoders_bytes_and_pixels(rooms):
    rgb = rooms[0][:224, :224]
    jpeg = encode_image(rgb, "jpeg", 95)
    code = McuCodedJpeg.encode(rgb, 95)
    assert code.mcu_size == (16, 16) and (code.rows, code.columns) == (14, 14)
    assert code.to_bytes() == jpeg
    # Restart markers change the bytes, never the pixels a decoder reads.
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, format="JPEG", quality=95)
    np.testing.assert_array_equal(decoded(jpeg), decoded(plain.getvalue()))


@pytest.mark.parametrize("shape,box", CASES)
@pytest.mark.parametrize("quality", [95, 60])
def test_spliced_composite_is_the_encoders_bytes_and_its_moments_exact(rooms, shape, box, quality):
    height, width = shape
    for seed, room in enumerate(rooms):
        background = np.ascontiguousarray(room[:height, :width])
        composite = pasted(background, box, seed)
        made = BackgroundJpeg(background, quality).composite(composite, box)
        jpeg = made.to_bytes()
        assert jpeg == encode_image(composite, "jpeg", quality)
        sums, squares = exact_moments(decoded(jpeg).reshape(-1, 3))
        moments = made.moments()
        assert moments.sums.tolist() == sums and moments.squares.tolist() == squares


@pytest.mark.parametrize("shape", [(224, 224), (100, 60), (37, 250)])
def test_composites_encoded_stacked_are_each_composites_own_bytes(rooms, shape, monkeypatch):
    """One background's composites, their whole-MCU patches encoded together (in stacks cut short, to take
    several), equal each composite made alone: boxes at every edge, partial MCUs, empty and whole boxes."""
    from generator.pipeline import jpeg_splice

    height, width = shape
    background = np.ascontiguousarray(rooms[0][:height, :width])
    rng = np.random.default_rng(3)
    boxes = [box for (size, box) in CASES if size == shape] + [Box(0, height, 0, width), Box(5, 5, 9, 9)]
    for _ in range(20):
        top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
        boxes.append(Box(top, int(rng.integers(top, height + 1)), left, int(rng.integers(left, width + 1))))
    images = [pasted(background, box, seed) for seed, box in enumerate(boxes)]
    monkeypatch.setattr(jpeg_splice, "_MAX_ROWS", 64)  # a stack of at most 4 rows of MCUs
    made = BackgroundJpeg(background, 90)
    stacked = made.composites(images, boxes)
    for image, box, composite in zip(images, boxes, stacked, strict=True):
        alone = made.composite(image, box)
        assert composite.mcus == alone.mcus and composite.to_bytes() == alone.to_bytes()
        assert composite.to_bytes() == encode_image(image, "jpeg", 90)


def test_moments_from_a_histogram_add_and_subtract_exactly():
    def moments(array):
        return Moments.of_histogram(Image.fromarray(array, "RGB").histogram())

    a = moments(np.full((2, 3, 3), 255, dtype=np.uint8))
    pixels = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    b = moments(pixels)
    assert (a + b - b).sums.tolist() == a.sums.tolist() == [6 * 255] * 3
    assert a.squares.tolist() == [6 * 255 * 255] * 3
    sums, squares = exact_moments(pixels.reshape(-1, 3))
    assert b.sums.tolist() == sums and b.squares.tolist() == squares


def test_refuses_what_is_not_a_baseline_jpeg_restarted_at_every_mcu(rooms, monkeypatch):
    from generator.pipeline import jpeg_splice

    def saved(**options):
        def encode(rgb, image_format, quality):
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, **options)
            return buffer.getvalue()
        return encode

    for options, message in [({"progressive": True}, "baseline"), ({}, "restarted after every MCU"),
                             ({"restart_marker_rows": 1}, "restarted after every MCU")]:
        monkeypatch.setattr(jpeg_splice, "encode_image", saved(**options))
        with pytest.raises(ValueError, match=message):
            McuCodedJpeg.encode(rooms[0], 95)


def test_a_patch_encoded_with_other_settings_is_refused(rooms):
    code = McuCodedJpeg.encode(rooms[0][:64, :64], 95)
    assert len(code.encode_patch(rooms[1][:32, :16], 95)) == 2  # 2 MCUs of 16 x 16
    with pytest.raises(ValueError, match="not encoded with the image's settings"):
        code.encode_patch(rooms[1][:32, :16], 80)  # other quantisation tables


@pytest.mark.parametrize("extra", [{}, {"soft_mask": True, "scale_jitter": 0.3}])
def test_every_composite_of_a_shard_is_the_encoders_bytes_for_the_whole_image(extra):
    """End to end: the shard's spliced JPEGs equal encoding each composite whole (so the composite equals
    its background outside the mask's box, as splicing assumes), and the statistics equal a whole decode's."""
    from generator.pipeline.shard import make_context
    from generator.config import BuildOptions, DepthPlan
    from generator.pipeline.plan import plan_shards
    from generator.pipeline.shard import build_rows, shard_composites
    from generator.pipeline.moments import IMAGE, DatasetStats

    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=2, bg_size=80, placements=6, **extra)
    context, _ = make_context(options, DepthPlan.of(options))
    for spec in plan_shards(context.grid, options):
        spliced, whole = DatasetStats(), DatasetStats()
        rows = build_rows(context, spec, spliced)
        for composite, jpeg in zip(shard_composites(context, spec), rows["image"], strict=True):
            assert jpeg == encode_image(composite, "jpeg", options.jpeg_quality)
            whole.add_jpeg(IMAGE, jpeg, (composite.shape[1], composite.shape[0]))
        assert spliced.kind(IMAGE).summary() == whole.kind(IMAGE).summary()
