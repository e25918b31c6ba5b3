"""The depth "teacher": a pretrained monocular depth model run on batches of uint8 images.

Pre-processing reproduces the checkpoint's own image processor (DPT / Depth Anything, GLPN) with
batched torch ops on the model's device, so that big batches never go through per-image PIL or
NumPy round trips; PIL's resampling is replayed bit-exactly (see pil_resize), so the result
matches `pipeline("depth-estimation")` up to float rounding in the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import BACKGROUND_MODEL_ROLE, TeacherRun, TeacherSettings
from ..errors import UserError
from .device_depth import quantized_batches
from .finite_depth import nth_image, require_finite
from .handover import QuantizedDepth
from .loading import (
    DTYPE_NAMES, ModelRole, backend_kwarg, dtype_kwarg, load_checked, model_identity, resolve_device, resolve_dtype,
)
from .depth_pro import LICENSE as DEPTH_PRO_LICENSE, DepthProPreprocessing, load_depth_pro, metric_depth
from .pil_resize import pil_resize
from .torchvision_replay import torchvision_resize, torchvision_rescale_normalise

from .teacher_family import METRIC_MEANING, RELATIVE_MEANING, DepthMeaning, depth_meaning  # noqa: F401  (re-exported)

# PIL resampling codes -> our modes; torch's "nearest-exact" is the one that matches PIL's NEAREST.
RESAMPLE_MODES = {0: "nearest-exact", 1: "lanczos", 2: "bilinear", 3: "bicubic"}


def teacher_run(settings: TeacherSettings) -> TeacherRun:
    """The settings as they will run here, resolved as DepthTeacher.load resolves them: what the teacher's
    output bits depend on, and so part of the dataset's identity."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    threads = torch.get_num_threads() if device.type == "cpu" else None
    return TeacherRun(device.type, DTYPE_NAMES[dtype], settings.batch_size, threads)


DEPTH_ROLE = ModelRole("depth model", "--depth-model")  # generate and relabel-depth add their flags
BACKGROUND_ROLE = ModelRole(BACKGROUND_MODEL_ROLE, "--background-depth-model")


def load_pretrained(options: TeacherSettings, dtype: torch.dtype, role: ModelRole = DEPTH_ROLE) -> tuple[Any, Any]:
    """Load model and its pre-processing (an image processor, or Depth Pro's replay), turning 'cannot get
    the files' into one UserError line."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation

    def load(common: dict) -> tuple[Any, Any]:
        config = AutoConfig.from_pretrained(options.model, **common)
        if config.model_type == "depth_pro":  # its processor needs torchvision: replayed from its numbers
            return load_depth_pro(options.model, common, dtype_kwarg(dtype))
        processor = AutoImageProcessor.from_pretrained(options.model, **common, **backend_kwarg())
        model = AutoModelForDepthEstimation.from_pretrained(options.model, config=config, **common, **dtype_kwarg(dtype))
        return model, processor

    return load_checked(options.model, role, options.trust_remote_code, load)


def _constrain_to_multiple(value: float, multiple: int) -> int:
    # Same rounding as transformers' DPT processor (Python's round: half to even).
    return int(round(value / multiple) * multiple)


@dataclass(frozen=True)
class Preprocessing:
    """What the checkpoint's image processor does, as plain numbers, replayed with torch ops."""

    resize_rule: str  # "fixed" (DPT: size, keep_aspect_ratio, multiple) | "floor" (GLPN) | "none"
    mode: str  # torch interpolation mode matching the processor's PIL resample
    height: int = 0
    width: int = 0
    keep_aspect_ratio: bool = False
    multiple: int = 1  # DPT: round to this multiple; GLPN: round down to it (size_divisor)
    rescale: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pad_divisor: int | None = None  # DPT do_pad: centre-pad to a multiple of size_divisor
    backend: str = "pil"  # whose operations are replayed: PIL's (pil_resize) or torchvision's

    @classmethod
    def from_processor(cls, processor: Any, model_name: str) -> Preprocessing:
        name = type(processor).__name__
        if getattr(processor, "do_center_crop", False):
            raise UserError(f"depth model '{model_name}': centre-cropping {name} is not supported")
        resample = int(getattr(processor, "resample", 3))
        if resample not in RESAMPLE_MODES:
            raise UserError(f"depth model '{model_name}': resample={resample} is not supported")
        backend = "torchvision" if getattr(processor, "backend", "pil") == "torchvision" else "pil"
        common = dict(
            backend=backend,
            mode=RESAMPLE_MODES[resample],
            rescale=processor.rescale_factor if getattr(processor, "do_rescale", False) else None,
            mean=_triple(processor.image_mean) if getattr(processor, "do_normalize", False) else None,
            std=_triple(processor.image_std) if getattr(processor, "do_normalize", False) else None,
        )
        if name.startswith("DPTImageProcessor"):
            return cls._dpt(processor, common)
        if name.startswith("GLPNImageProcessor"):
            rule = "floor" if getattr(processor, "do_resize", True) else "none"
            return cls(resize_rule=rule, multiple=int(processor.size_divisor), **common)
        raise UserError(
            f"depth model '{model_name}' uses {name}, which this tool cannot pre-process on tensors "
            "(supported: DPT / Depth Anything and GLPN checkpoints)"
        )

    @classmethod
    def _dpt(cls, processor: Any, common: dict[str, Any]) -> Preprocessing:
        size = processor.size
        height = size["height"] if isinstance(size, dict) else size.height
        width = size["width"] if isinstance(size, dict) else size.width
        pad = getattr(processor, "size_divisor", None) if getattr(processor, "do_pad", False) else None
        return cls(
            resize_rule="fixed" if processor.do_resize else "none",
            height=int(height),
            width=int(width),
            keep_aspect_ratio=bool(processor.keep_aspect_ratio),
            multiple=int(processor.ensure_multiple_of or 1),
            pad_divisor=int(pad) if pad else None,
            **common,
        )

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Size the processor resizes an H x W image to (before any padding)."""
        if self.resize_rule == "floor":
            return height // self.multiple * self.multiple, width // self.multiple * self.multiple
        if self.resize_rule == "none":
            return height, width
        scale_h, scale_w = self.height / height, self.width / width
        if self.keep_aspect_ratio:  # scale as little as possible, like DPT
            scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
        return (
            _constrain_to_multiple(scale_h * height, self.multiple),
            _constrain_to_multiple(scale_w * width, self.multiple),
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) on any device -> float32 pixel_values on the same device."""
        if self.backend == "torchvision":
            resized = torchvision_resize(images, self._checked_size(images), self.mode)
            return self._pad(torchvision_rescale_normalise(resized, self.rescale, self.mean, self.std))
        x = self._resize(images.float(), self.output_size(*images.shape[-2:]))
        if self.rescale is not None:
            x = x * self.rescale
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
            x = (x - mean) / std
        return self._pad(x)

    def _checked_size(self, images: torch.Tensor) -> tuple[int, int]:
        size = self.output_size(*images.shape[-2:])
        if min(size) <= 0:
            raise UserError(f"images of {tuple(images.shape[-2:])} pixels are too small for the depth model")
        return size

    def _resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if size == tuple(x.shape[-2:]):
            return x  # PIL returns an unchanged copy too
        if min(size) <= 0:
            raise UserError(f"images of {tuple(x.shape[-2:])} pixels are too small for the depth model")
        if self.mode == "nearest-exact":
            return F.interpolate(x, size=size, mode=self.mode)
        return pil_resize(x, size, self.mode)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pad_divisor:
            return x
        height, width = x.shape[-2:]
        pad_h = math.ceil(height / self.pad_divisor) * self.pad_divisor - height
        pad_w = math.ceil(width / self.pad_divisor) * self.pad_divisor - width
        return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))


def _triple(values: Any) -> tuple[float, ...]:
    values = [values] * 3 if isinstance(values, (int, float)) else list(values)
    return tuple(float(v) for v in values)


def resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) depth -> (N, H, W), bicubic like post_process_depth_estimation; done in fp32."""
    depth = depth.float().unsqueeze(1)
    return F.interpolate(depth, size=size, mode="bicubic", align_corners=False).squeeze(1)


def as_uint8_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Check and wrap an (N, H, W, 3) uint8 batch as a tensor, without copying unless it is read-only
    (arrays that view PIL images are: torch wants writable memory, and the model only reads it)."""
    if isinstance(images, np.ndarray):
        images = np.ascontiguousarray(images)
        images = torch.from_numpy(images if images.flags.writeable else images.copy())
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError("images must be a uint8 numpy array or torch tensor")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {tuple(images.shape)}")
    return images


class DepthTeacher:
    """A depth model plus its replayed pre-processing, on one device and dtype."""

    def __init__(
        self,
        model: Any,
        preprocessing: Preprocessing,
        options: TeacherSettings,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.model = model
        self.preprocessing = preprocessing
        self.options = options
        self.device = device
        self.dtype = dtype

    @classmethod
    def load(cls, options: TeacherSettings, role: ModelRole = DEPTH_ROLE) -> DepthTeacher:
        if options.batch_size < 1:
            raise UserError(f"depth batch size must be at least 1, got {options.batch_size}")
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
        model, processor = load_pretrained(options, dtype, role)
        model = model.to(device=device, dtype=dtype).eval()
        replay = processor if isinstance(processor, DepthProPreprocessing) else Preprocessing.from_processor(processor, options.model)
        return cls(model, replay, options, device, dtype)

    @property
    def predicts_fov(self) -> bool:
        """It predicts each image's horizontal field of view too (Depth Pro's head)."""
        return isinstance(self.preprocessing, DepthProPreprocessing)

    @property
    def meaning(self) -> DepthMeaning:
        return depth_meaning(self.model.config)

    @property
    def metric(self) -> bool:
        """Its depth has a scale in metres."""
        return self.meaning.metric

    @property
    def inverse(self) -> bool:
        """Larger is nearer (disparity)."""
        return self.meaning.inverse

    @property
    def info(self) -> dict:
        config = self.model.config
        return {
            **model_identity(self.options.model),
            "model_type": config.model_type,
            "architecture": (getattr(config, "architectures", None) or [type(self.model).__name__])[0],
            "device": str(self.device),
            "dtype": DTYPE_NAMES[self.dtype],
            "preprocessing": self.preprocessing.backend,  # which image processor backend the depth matches
            "meaning": self.meaning.text,
            "metric": self.metric,
            **({"license": DEPTH_PRO_LICENSE} if config.model_type == "depth_pro" else {}),
        }

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Bare model: pre-processed pixels on the device -> raw predicted_depth (N, h, w)."""
        with torch.inference_mode():
            return self.model(pixel_values=pixel_values.to(self.dtype)).predicted_depth

    def predict_with_fov(self, images: np.ndarray, where: Callable[[int], str] = nth_image) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, H, W, 3) -> depth (N, H, W) float32 as `predict`, and each image's horizontal field of
        view in degrees where the model predicts one (else None)."""
        batch = as_uint8_batch(images)
        depths, fovs = [], []
        for start in range(0, len(batch), self.options.batch_size):
            depth, fov = self._scene_chunk(batch[start : start + self.options.batch_size])
            depths.append(depth.cpu().numpy())
            fovs.append(None if fov is None else fov.float().cpu().numpy())
        result = np.concatenate(depths).astype(np.float32, copy=False)
        self._require_finite(result.min(axis=(1, 2), initial=np.inf), result.max(axis=(1, 2), initial=-np.inf), where)
        return result, (np.concatenate(fovs).astype(np.float64) if self.predicts_fov else None)

    def predict(self, images: np.ndarray | torch.Tensor, where: Callable[[int], str] = nth_image) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, H, W) depth at the input resolution, in batches; a map that is
        not finite is one UserError line naming `where(i)`, its input."""
        batch = as_uint8_batch(images)
        count, height, width, _ = batch.shape
        result = np.empty((count, height, width), dtype=np.float32)
        for start in range(0, count, self.options.batch_size):
            chunk = batch[start : start + self.options.batch_size]
            result[start : start + len(chunk)] = self._predict_chunk(chunk).cpu().numpy()
        self._require_finite(result.min(axis=(1, 2), initial=np.inf), result.max(axis=(1, 2), initial=-np.inf), where)
        return result

    def predict_quantized(
        self, images: np.ndarray | torch.Tensor, into: QuantizedDepth | None = None, where: Callable[[int], str] = nth_image,
    ) -> QuantizedDepth:
        """uint8 (N, H, W, 3) -> each depth map at the input resolution as stored (uint16 and its range,
        encode.quantize_depth's bits), quantised on the device in batches: what the workers are handed.
        `into`: arrays of that shape to write them to (and return), such as memory the workers share. A map
        that is not finite is one UserError line naming `where(i)`, its input."""
        batch = as_uint8_batch(images)
        count, height, width, _ = batch.shape
        size = self.options.batch_size
        chunks = (batch[start : start + size] for start in range(0, count, size))
        with torch.inference_mode():
            depths = quantized_batches(chunks, self._predict_chunk, (count, height, width), self.device, into)
        self._require_finite(depths.mins, depths.maxs, where)
        return depths

    def _require_finite(self, mins: np.ndarray, maxs: np.ndarray, where: Callable[[int], str]) -> None:
        require_finite(mins, maxs, self.options.model, DTYPE_NAMES[self.dtype], where)

    def _predict_chunk(self, chunk: torch.Tensor) -> torch.Tensor:
        return self._scene_chunk(chunk)[0]

    def _scene_chunk(self, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 (n, H, W, 3) -> depth (n, H, W) on the device, and Depth Pro's fields of view (n,)."""
        # Move uint8 (4x smaller than float) to the device, then do everything there.
        chunk = chunk.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        size = tuple(chunk.shape[-2:])
        with torch.inference_mode():
            pixel_values = self.preprocessing(chunk).to(self.dtype)
            if self.predicts_fov:
                outputs = self.model(pixel_values=pixel_values)
                return metric_depth(outputs.predicted_depth, outputs.field_of_view, size, self.preprocessing.mode), outputs.field_of_view
            return resize_depth(self.forward(pixel_values), size), None
