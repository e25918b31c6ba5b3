"""The greyscale PNG writer (masks and depth): any decoder reads back exactly the array written."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from generator.pipeline.demo import demo_backgrounds
from generator.pipeline.encode import PNG_SIGNATURE, encode_grey_png, encode_png, quantize_depth


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def arrays(dtype) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max
    extremes = np.zeros((9, 13), dtype=dtype)
    extremes[::2] = top  # every Up residual wraps around modulo 256
    return [
        rng.integers(0, top, (37, 53), endpoint=True, dtype=dtype),  # odd sizes, no structure
        extremes,
        np.zeros((1, 1), dtype=dtype),
        np.full((5, 300), top, dtype=dtype),
    ]


@pytest.mark.parametrize("dtype,mode", [(np.uint8, "L"), (np.uint16, "I;16")])
def test_grey_png_decodes_to_the_array_written(dtype, mode):
    for array in arrays(dtype):
        png = encode_png(array)
        assert png.startswith(PNG_SIGNATURE)
        image = decoded(png)
        assert image.mode == mode and image.size == (array.shape[1], array.shape[0])
        np.testing.assert_array_equal(np.asarray(image), array)


def test_grey_png_chunks_pass_the_decoders_crc_checks():
    png = encode_grey_png(arrays(np.uint16)[0])
    Image.open(io.BytesIO(png)).verify()  # checks every chunk's CRC
    damaged = bytearray(png)
    damaged[png.index(b"IDAT") + 10] ^= 0xFF  # inside the compressed rows
    with pytest.raises(SyntaxError, match="broken PNG|CRC"):
        Image.open(io.BytesIO(bytes(damaged))).verify()


def test_grey_png_takes_strided_views_and_refuses_other_types():
    rgba = np.random.default_rng(1).integers(0, 255, (20, 30, 4), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decoded(encode_png(rgba[..., 3]))), rgba[..., 3])
    np.testing.assert_array_equal(np.asarray(decoded(encode_png(rgba))), rgba)  # RGBA still through PIL
    with pytest.raises(TypeError, match="uint8 or uint16"):
        encode_grey_png(np.zeros((4, 4), dtype=np.float32))


def test_depth_png_uses_up_filter_and_is_no_larger_than_pils():
    """The writer's choice of filter pays on real depth: smaller than PIL's adaptive filtering."""
    for _, depth in demo_backgrounds(3, 96, seed=2):
        quantized = quantize_depth(depth)[0]
        ours = encode_grey_png(quantized)
        buffer = io.BytesIO()
        Image.fromarray(quantized).save(buffer, format="PNG", compress_level=1)
        assert len(ours) <= len(buffer.getvalue())
        idat = ours[ours.index(b"IDAT") + 4 : ours.index(b"IEND") - 8]
        raw = zlib.decompress(idat)
        assert raw[0] == 2 and raw[1 + 96 * 2] == 2  # every row filtered "Up"
