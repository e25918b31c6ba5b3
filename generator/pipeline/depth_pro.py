"""Depth Pro (`DepthProForDepthEstimation` with its field-of-view head): metric depth and the camera's
horizontal field of view from one image.

Its image processor exists only for torchvision (no PIL fallback), so its pre- and post-processing are
replayed here with the same torch operations, from the numbers of its `preprocessor_config.json`:
- before: rescale and normalise (fused, float32), *then* resize to the configured square, bilinear
  without antialiasing (the order and the flags of `DepthProImageProcessor._preprocess`);
- after (`post_process_depth_estimation`): the raw output is canonical inverse depth; times width / focal
  length, the focal length in pixels of the target width from the predicted field of view, it is inverse
  metric depth, resized to the target size with the processor's resample and inverted (clamped to
  [1e-4, 1e4] first). Done in float32 whatever the model's dtype.

The model sees what it is given: the build gives it the stored background square (pipeline/depth.py), so
its field of view is that of the stored square (the square is a crop: the photo's own is wider).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UserError
from .geometry import SANE_HFOV_DEGREES, Intrinsics
from .torchvision_replay import torchvision_rescale_normalise

# PIL resampling codes as torch interpolation modes (transformers' pil_torch_interpolation_mapping).
RESAMPLE_MODES = {0: "nearest-exact", 2: "bilinear", 3: "bicubic"}
# DepthProImageProcessor's defaults, for keys a preprocessor_config.json leaves out.
DEFAULTS = {"do_resize": True, "size": {"height": 1536, "width": 1536}, "resample": 2, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
# Its weights' licence, which the dataset card names: not an open licence (see the model card).
LICENSE = "Apple Machine Learning Research Model license (`apple-amlr`)"
PROCESSOR_FILE = "preprocessor_config.json"


@dataclass(frozen=True)
class DepthProPreprocessing:
    """DepthProImageProcessor's numbers, replayed on uint8 (N, 3, H, W) batches."""

    height: int | None  # None: no resize
    width: int | None
    mode: str  # torch interpolation mode of the processor's resample
    rescale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    backend: str = "depth_pro"  # the manifest's `preprocessing`: this replay

    @classmethod
    def from_config(cls, config: dict[str, Any], model_name: str) -> DepthProPreprocessing:
        """From the processor's saved configuration (its preprocessor_config.json)."""
        config = {**DEFAULTS, **config}
        resample = int(config["resample"])
        if resample not in RESAMPLE_MODES:
            raise UserError(f"depth model '{model_name}': resample={resample} is not supported")
        size = config["size"] if config["do_resize"] else {}
        normalise = config["do_normalize"]
        return cls(
            height=size.get("height"), width=size.get("width"), mode=RESAMPLE_MODES[resample],
            rescale=float(config["rescale_factor"]) if config["do_rescale"] else None,
            mean=tuple(float(v) for v in config["image_mean"]) if normalise else None,
            std=tuple(float(v) for v in config["image_std"]) if normalise else None,
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) -> float32 pixel values: normalised first, then resized (values may be
        negative by then, hence torch's interpolation and not PIL's)."""
        x = torchvision_rescale_normalise(images, self.rescale, self.mean, self.std)
        if self.height is None or (self.height, self.width) == tuple(x.shape[-2:]):
            return x
        return F.interpolate(x, size=(self.height, self.width), mode=self.mode, antialias=False,
                             **({} if self.mode == "nearest-exact" else {"align_corners": False}))


def metric_depth(inverse: torch.Tensor, fov_degrees: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(N, h, w) canonical inverse depth and (N,) horizontal fields of view -> (N, H, W) metres at `size`,
    as post_process_depth_estimation computes them for target size `size`."""
    inverse, fov = inverse.float(), fov_degrees.float()
    width = size[1]
    focal = 0.5 * width / torch.tan(0.5 * torch.deg2rad(fov))
    scaled = inverse * (width / focal)[:, None, None]
    resized = F.interpolate(scaled[:, None], size=size, mode=mode).squeeze(1)
    return 1.0 / torch.clamp(resized, min=1e-4, max=1e4)


def model_intrinsics(width: int, height: int, hfov_degrees: float) -> Intrinsics | None:
    """Intrinsics of the image a model saw, `width` x `height`, from its prediction of the horizontal field
    of view; None when that is outside the range of real lenses (as a broken EXIF tag is refused)."""
    if not (math.isfinite(hfov_degrees) and SANE_HFOV_DEGREES[0] <= hfov_degrees <= SANE_HFOV_DEGREES[1]):
        return None
    return Intrinsics.from_fov(width, height, hfov_degrees)


def read_processor_config(model: str, common: dict) -> dict[str, Any]:
    """The model's preprocessor_config.json (a local folder's, or the Hub's through its cache), as saved."""
    from transformers.utils import cached_file

    kwargs = {key: common[key] for key in ("local_files_only",) if key in common}
    path = cached_file(model, PROCESSOR_FILE, **kwargs)
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def load_depth_pro(model: str, common: dict, dtype_kwargs: dict) -> tuple[Any, DepthProPreprocessing]:
    """Depth Pro with its field-of-view head, and its replayed pre-processing."""
    from transformers import AutoModelForDepthEstimation

    preprocessing = DepthProPreprocessing.from_config(read_processor_config(model, common), model)
    loaded = AutoModelForDepthEstimation.from_pretrained(model, use_fov_model=True, **common, **dtype_kwargs)
    return loaded, preprocessing
