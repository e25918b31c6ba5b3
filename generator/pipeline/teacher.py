"""The depth "teacher": a pretrained monocular depth model run on batches of uint8 images.

Pre-processing reproduces the checkpoint's own image processor (DPT / Depth Anything, GLPN) with
batched torch ops on the model's device, so that big batches never go through per-image PIL or
NumPy round trips; PIL's resampling is replayed bit-exactly (see pil_resize), so the result
matches `pipeline("depth-estimation")` up to float rounding in the model.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TeacherRun, TeacherSettings
from ..errors import UserError
from .device_depth import quantized_batches
from .handover import QuantizedDepth
from ..hub import cached_only
from .pil_resize import pil_resize
from .torchvision_replay import torchvision_resize, torchvision_rescale_normalise

RELATIVE_MEANING = "relative inverse depth (disparity): larger is nearer"
METRIC_MEANING = "metric depth in metres: smaller is nearer"
# Model types whose heads always regress metric depth; Depth Anything says so in its config instead.
METRIC_MODEL_TYPES = frozenset({"glpn", "zoedepth", "depth_pro"})

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {value: key for key, value in DTYPES.items()}
# PIL resampling codes -> our modes; torch's "nearest-exact" is the one that matches PIL's NEAREST.
RESAMPLE_MODES = {0: "nearest-exact", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
LOAD_HINT = "pass a local folder to --depth-model, or use --depth scene / --depth none"


def resolve_device(name: str) -> torch.device:
    """Turn a --device choice into a torch device, refusing ones this machine does not have."""
    mps_ok = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps_ok}
    if name not in available:
        raise UserError(f"unknown device '{name}': use auto, cpu, cuda or mps")
    if not available[name]:
        raise UserError(f"device '{name}' is not available on this machine: use --device auto or cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Pick the compute dtype; half precision only pays off (and is only well supported) on CUDA."""
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPES:
        raise UserError(f"unknown dtype '{name}': use auto, fp32, fp16 or bf16")
    return DTYPES[name]


def teacher_run(settings: TeacherSettings) -> TeacherRun:
    """The settings as they will run here, resolved as DepthTeacher.load resolves them: what the teacher's
    output bits depend on, and so part of the dataset's identity."""
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    threads = torch.get_num_threads() if device.type == "cpu" else None
    return TeacherRun(device.type, DTYPE_NAMES[dtype], settings.batch_size, threads)


def is_metric(config: Any) -> bool:
    """Whether the model predicts metric depth (smaller is nearer) rather than relative disparity."""
    if config.model_type in METRIC_MODEL_TYPES:
        return True
    return getattr(config, "depth_estimation_type", "relative") == "metric"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def _load_error_types() -> tuple[type[BaseException], ...]:
    # Hub errors are mostly OSError subclasses (HTTP, offline, local entry missing); the remote
    # "entry not found" one is not, and bad repo ids raise HFValidationError, a ValueError.
    from huggingface_hub.errors import EntryNotFoundError

    return (OSError, ValueError, EntryNotFoundError)


def _dtype_kwarg(dtype: torch.dtype) -> dict[str, torch.dtype]:
    # transformers renamed `torch_dtype` to `dtype` in 4.56; older releases only know the former.
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: dtype}


def _weights_error_types() -> tuple[type[BaseException], ...]:
    # A damaged or truncated weights file: safetensors' own error, torch's zip reader (RuntimeError).
    from safetensors import SafetensorError

    return (SafetensorError, RuntimeError, EOFError)


def preprocessing_backend() -> str:
    """The image processor backend `pipeline("depth-estimation")` gets: torchvision where it imports, else
    PIL (transformers 5's own default), chosen here explicitly so that what is replayed is what was loaded."""
    from transformers.utils import is_torchvision_available

    return "torchvision" if is_torchvision_available() else "pil"


def _backend_kwarg() -> dict[str, str]:
    # transformers 5 has two backends per image processor; earlier releases had only the PIL one here.
    import transformers
    from packaging.version import Version

    return {"backend": preprocessing_backend()} if Version(transformers.__version__) >= Version("5.0") else {}


def load_pretrained(options: TeacherSettings, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load model and image processor, turning 'cannot get the files' into one UserError line."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    remote = options.trust_remote_code
    cached = cached_only(options.model)
    try:
        processor = AutoImageProcessor.from_pretrained(options.model, trust_remote_code=remote, **cached, **_backend_kwarg())
        model = AutoModelForDepthEstimation.from_pretrained(
            options.model, trust_remote_code=remote, **cached, **_dtype_kwarg(dtype)
        )
    except _load_error_types() as error:
        if "custom code" in str(error) or "trust_remote_code" in str(error):
            raise UserError(
                f"depth model '{options.model}' needs its own code to run: pass --trust-remote-code only if "
                "you trust that code, or choose another --depth-model"
            ) from None
        raise UserError(
            f"cannot load depth model '{options.model}' ({_first_line(error)}): {LOAD_HINT}"
        ) from None
    except pickle.UnpicklingError:  # torch.load(weights_only=True) refused a pickle holding more than tensors
        raise UserError(
            f"depth model '{options.model}': its weights file is a pickle that holds more than tensors, refused "
            "because unpickling it could run code; use the model saved as model.safetensors"
        ) from None
    except _weights_error_types() as error:
        raise UserError(
            f"cannot read the weights of depth model '{options.model}' ({_first_line(error)}): the file is "
            "damaged, truncated, or a pickle that may hold code; download the model again as model.safetensors"
        ) from None
    return model, processor


def model_identity(model: str) -> dict:
    """How the manifest and card name a teacher: a Hub id as it is; a local folder by its name and the
    sha256 of its config and weights, never by its absolute path (which says nothing to a reader of the
    card and tells where the builder's files were)."""
    import hashlib
    from pathlib import Path

    folder = Path(model)
    if not folder.is_dir():
        return {"model": model}
    hashes = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and (path.suffix in (".json", ".safetensors", ".bin") or path.name.endswith(".safetensors.index.json")):
            digest = hashlib.sha256()
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            hashes[path.name] = digest.hexdigest()
    return {"model": folder.resolve().name, "local_folder": True, "sha256": hashes}


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
    def load(cls, options: TeacherSettings) -> DepthTeacher:
        if options.batch_size < 1:
            raise UserError(f"depth batch size must be at least 1, got {options.batch_size}")
        device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, device)
        model, processor = load_pretrained(options, dtype)
        model = model.to(device=device, dtype=dtype).eval()
        return cls(model, Preprocessing.from_processor(processor, options.model), options, device, dtype)

    @property
    def near_is_large(self) -> bool:
        return not is_metric(self.model.config)

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
            "meaning": RELATIVE_MEANING if self.near_is_large else METRIC_MEANING,
        }

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Bare model: pre-processed pixels on the device -> raw predicted_depth (N, h, w)."""
        with torch.inference_mode():
            return self.model(pixel_values=pixel_values.to(self.dtype)).predicted_depth

    def predict(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, H, W) depth at the input resolution, in batches."""
        batch = as_uint8_batch(images)
        count, height, width, _ = batch.shape
        result = np.empty((count, height, width), dtype=np.float32)
        for start in range(0, count, self.options.batch_size):
            chunk = batch[start : start + self.options.batch_size]
            result[start : start + len(chunk)] = self._predict_chunk(chunk).cpu().numpy()
        return result

    def predict_quantized(self, images: np.ndarray | torch.Tensor, into: QuantizedDepth | None = None) -> QuantizedDepth:
        """uint8 (N, H, W, 3) -> each depth map at the input resolution as stored (uint16 and its range,
        encode.quantize_depth's bits), quantised on the device in batches: what the workers are handed.
        `into`: arrays of that shape to write them to (and return), such as memory the workers share."""
        batch = as_uint8_batch(images)
        count, height, width, _ = batch.shape
        size = self.options.batch_size
        chunks = (batch[start : start + size] for start in range(0, count, size))
        with torch.inference_mode():
            return quantized_batches(chunks, self._predict_chunk, (count, height, width), self.device, into)

    def _predict_chunk(self, chunk: torch.Tensor) -> torch.Tensor:
        # Move uint8 (4x smaller than float) to the device, then do everything there.
        chunk = chunk.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        with torch.inference_mode():
            depth = self.forward(self.preprocessing(chunk))
            return resize_depth(depth, tuple(chunk.shape[-2:]))
