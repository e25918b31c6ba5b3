"""Composite JPEGs spliced from their background's MCU rows are the encoder's own bytes, and their
statistics those of the decoded image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generator.demo import demo_backgrounds
from generator.encode import encode_image
from generator.jpeg_rows import BackgroundJpeg, Moments, RowCodedJpeg
from generator.stats import exact_moments


def pasted(background: np.ndarray, top: int, bottom: int, left: int, right: int, seed: int) -> np.ndarray:
    """The background with random pixels in a box: a composite of it."""
    composite = background.copy()
    rng = np.random.default_rng(seed)
    composite[top:bottom, left:right] = rng.integers(0, 256, (bottom - top, right - left, 3), dtype=np.uint8)
    return composite


def decoded(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)))


# (height, width) and the changed box (top, bottom, left, right): strips at the top, the bottom, inside one
# MCU row, across all rows, none; and sizes that are not multiples of the MCU.
CASES = [
    ((224, 224), (40, 150, 30, 140)),
    ((224, 224), (0, 17, 0, 224)),
    ((224, 224), (200, 224, 100, 101)),
    ((224, 224), (33, 34, 5, 9)),
    ((224, 224), (0, 224, 0, 224)),
    ((224, 224), (90, 90, 0, 0)),
    ((100, 60), (81, 100, 10, 50)),
    ((100, 60), (15, 17, 0, 60)),
]


@pytest.fixture(scope="module")
def rooms() -> list[np.ndarray]:
    return [rgb for rgb, _ in demo_backgrounds(2, 224, seed=5)]


def test_row_coded_jpeg_parses_and_joins_back_to_the_same_bytes(rooms):
    jpeg = encode_image(rooms[0], "jpeg", 95)
    code = RowCodedJpeg.parse(jpeg)
    assert code.mcu_height == 16 and len(code.rows) == 14
    assert code.to_bytes() == jpeg
    # Restart markers change the bytes, never the pixels a decoder reads.
    plain = io.BytesIO()
    Image.fromarray(rooms[0]).save(plain, format="JPEG", quality=95)
    np.testing.assert_array_equal(decoded(jpeg), decoded(plain.getvalue()))


@pytest.mark.parametrize("shape,box", CASES)
@pytest.mark.parametrize("quality", [95, 60])
def test_spliced_composite_is_the_encoders_bytes_and_its_moments_exact(rooms, shape, box, quality):
    height, width = shape
    for seed, room in enumerate(rooms):
        background = np.ascontiguousarray(room[:height, :width])
        composite = pasted(background, *box, seed=seed)
        made = BackgroundJpeg(background, quality).composite(composite, box[0], box[1])
        jpeg = made.to_bytes()
        assert jpeg == encode_image(composite, "jpeg", quality)
        sums, squares = exact_moments(decoded(jpeg).reshape(-1, 3))
        assert made.moments().sums.tolist() == sums and made.moments().squares.tolist() == squares


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


def test_parse_refuses_what_is_not_a_baseline_jpeg(rooms):
    with pytest.raises(ValueError, match="not a JPEG"):
        RowCodedJpeg.parse(b"\x89PNG....")
    progressive = io.BytesIO()
    Image.fromarray(rooms[0]).save(progressive, format="JPEG", progressive=True)
    with pytest.raises(ValueError, match="baseline"):
        RowCodedJpeg.parse(progressive.getvalue())
