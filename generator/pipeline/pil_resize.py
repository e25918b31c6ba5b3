"""Bit-exact PIL uint8 resampling as batched torch matrix products, on any device.

Image processors resize uint8 images with PIL, which uses 22-bit fixed-point filter weights and
rounds and clips to uint8 after each of its two passes. torch's antialiased
`interpolate` uses the same filters but in floating point, so about one value in a few thousand
lands on the other side of a rounding boundary. That is invisible for a trained depth model, but
we replay PIL exactly anyway: the weights are PIL's integers and float64 sums of integers below
2**53 are exact, so results equal PIL's bit for bit (float32 on devices without float64).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

PRECISION_BITS = 32 - 8 - 2  # as in Pillow's Resample.c


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5  # Pillow's cubic (torch's non-antialiased bicubic uses -0.75)
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _bilinear(x: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - np.abs(x), 0.0, None)


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x >= -3.0) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


# mode -> (filter, support in input pixels at scale 1)
FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_bilinear, 1.0),
    "bicubic": (_bicubic, 2.0),
    "lanczos": (_lanczos, 3.0),
}


@lru_cache(maxsize=64)
def pil_weights(in_size: int, out_size: int, mode: str) -> np.ndarray:
    """(out_size, in_size) integer fixed-point weights, exactly Pillow's precompute_coeffs."""
    kernel, support = FILTERS[mode]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)  # widen the filter when shrinking: this is the antialiasing
    support *= filterscale
    center = (np.arange(out_size) + 0.5) * scale
    # C's (int) cast truncates; the clamp to 0 makes that the same as floor here.
    xmin = np.maximum(np.trunc(center - support + 0.5), 0)
    xmax = np.minimum(np.trunc(center + support + 0.5), in_size)
    pixels = np.arange(in_size)[None, :]
    inside = (pixels >= xmin[:, None]) & (pixels < xmax[:, None])
    weights = np.where(inside, kernel((pixels - center[:, None] + 0.5) / filterscale), 0.0)
    totals = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, totals, out=weights, where=totals != 0)
    fixed = weights * (1 << PRECISION_BITS)
    return np.trunc(np.where(fixed < 0, fixed - 0.5, fixed + 0.5))


def _weights(in_size: int, out_size: int, mode: str, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(pil_weights(in_size, out_size, mode)).to(like.device, like.dtype)


def _requantise(x: torch.Tensor) -> torch.Tensor:
    # Pillow: (sum + 2**21) >> 22 with an arithmetic shift, i.e. floor, then clip to uint8.
    half = float(1 << (PRECISION_BITS - 1))
    return torch.floor((x + half) / (1 << PRECISION_BITS)).clamp_(0, 255)


def _resize_width(x: torch.Tensor, width: int, mode: str) -> torch.Tensor:
    return _requantise(x @ _weights(x.shape[-1], width, mode, x).T)


def _resize_height(x: torch.Tensor, height: int, mode: str) -> torch.Tensor:
    return _requantise(_weights(x.shape[-2], height, mode, x) @ x)


def pil_resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(N, C, H, W) with uint8 values (any dtype) -> (N, C, *size) float32 with uint8 values."""
    exact = torch.float32 if images.device.type == "mps" else torch.float64
    x = images.to(exact)
    height, width = x.shape[-2:]
    # Pillow resamples width first, except (Pillow 13, checked by tests/test_teacher.py) when the
    # width grows while the height shrinks: then it shrinks the height first. Order matters
    # because every pass rounds to uint8.
    if size[1] > width and size[0] < height:
        return _resize_width(_resize_height(x, size[0], mode), size[1], mode).float()
    if size[1] != width:
        x = _resize_width(x, size[1], mode)
    if size[0] != height:
        x = _resize_height(x, size[0], mode)
    return x.float()
