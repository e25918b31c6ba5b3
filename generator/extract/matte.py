"""Stage 3b, matte: alpha from a matting model (ViTMatte) given the photo and a trimap, on the region
around each object. The region is shrunk to at most MAX_SIDE px (the model's memory grows with the
square of the side), the model's input padded to its multiple of 32 and its alpha cropped back, resized
to the region and pasted; where the trimap is sure (0 or 255) it has the last word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .trimap import BACKGROUND, FOREGROUND, UNKNOWN

MAX_SIDE = 1024  # working size of a region's longest side
REGION_MARGIN_PX = 8  # photo around the trimap's band that the model sees as context


@dataclass(frozen=True)
class Region:
    """The rows and columns of a photo a trimap's unknown and foreground parts lie in, with a margin."""

    top: int
    left: int
    bottom: int
    right: int

    @classmethod
    def around(cls, trimap: np.ndarray, margin: int) -> Region:
        rows = np.flatnonzero((trimap != BACKGROUND).any(axis=1))
        cols = np.flatnonzero((trimap != BACKGROUND).any(axis=0))
        height, width = trimap.shape
        return cls(max(0, rows[0] - margin), max(0, cols[0] - margin), min(height, rows[-1] + 1 + margin), min(width, cols[-1] + 1 + margin))

    def of(self, array: np.ndarray) -> np.ndarray:
        return array[self.top : self.bottom, self.left : self.right]


def working_size(height: int, width: int) -> tuple[int, int]:
    """The region's size for the model: unchanged up to MAX_SIDE, else shrunk to it, aspect kept."""
    scale = min(1.0, MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize(image: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    x = torch.from_numpy(np.ascontiguousarray(image)).float()
    x = x.permute(2, 0, 1)[None] if x.ndim == 3 else x[None, None]
    kwargs = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    y = F.interpolate(x, size=size, mode=mode, **kwargs)[0]
    y = y.permute(1, 2, 0) if image.ndim == 3 else y[0]
    return y.clamp(0, 255).round().to(torch.uint8).numpy()


class Matter:
    """A matting model over batches of (photo, trimap) pairs."""

    def __init__(self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype, batch_size: int):
        self.model, self.processor, self.device, self.dtype, self.batch_size = model, processor, device, dtype, batch_size

    def __call__(self, photos: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        """Each photo's alpha (H, W) uint8 for its trimap."""
        alphas = []
        for start in range(0, len(photos), self.batch_size):
            alphas += self._batch(photos[start : start + self.batch_size], trimaps[start : start + self.batch_size])
        return alphas

    def _batch(self, photos: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        regions = [Region.around(trimap, REGION_MARGIN_PX) for trimap in trimaps]
        sizes = [working_size(r.bottom - r.top, r.right - r.left) for r in regions]
        images = [_resize(r.of(photo), size, "bilinear") for r, photo, size in zip(regions, photos, sizes)]
        small_trimaps = [_resize(r.of(trimap), size, "nearest-exact") for r, trimap, size in zip(regions, trimaps, sizes)]
        pixels = _stacked(self.processor(images=images, trimaps=small_trimaps, return_tensors=None)["pixel_values"])
        with torch.inference_mode():
            predicted = self.model(pixel_values=pixels.to(self.device, self.dtype)).alphas[:, 0].float().cpu()
        alphas = []
        for prediction, region, size, trimap in zip(predicted, regions, sizes, trimaps):
            alpha_region = np.rint(prediction[: size[0], : size[1]].clamp(0, 1).numpy() * 255).astype(np.uint8)
            alpha = np.zeros(trimap.shape, np.uint8)
            alpha[region.top : region.bottom, region.left : region.right] = _resize(alpha_region, (region.bottom - region.top, region.right - region.left), "bilinear")
            alphas.append(sure_where_known(alpha, trimap))
        return alphas


def _stacked(arrays: list[np.ndarray]) -> torch.Tensor:
    """The processor's (C, h, w) inputs, each already padded to its multiple of 32, zero-padded to the
    batch's largest at the bottom and right, as the processor pads one image, and stacked."""
    height = max(a.shape[1] for a in arrays)
    width = max(a.shape[2] for a in arrays)
    batch = torch.zeros((len(arrays), arrays[0].shape[0], height, width))
    for index, array in enumerate(arrays):
        batch[index, :, : array.shape[1], : array.shape[2]] = torch.from_numpy(np.asarray(array))
    return batch


def sure_where_known(alpha: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """The alpha with the trimap's sure parts forced: opaque at 255, transparent at 0."""
    return np.where(trimap == FOREGROUND, 255, np.where(trimap == UNKNOWN, alpha, 0)).astype(np.uint8)
