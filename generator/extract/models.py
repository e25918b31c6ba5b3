"""The cut-out stages' models: each a Hub id or a local folder loaded through its transformers Auto class,
with the depth teacher's loading rules (pipeline/loading.py): device and dtype flags, no remote code
unless asked, and one line in seconds when the Hub cannot be reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..pipeline.loading import ModelRole, backend_kwarg, dtype_kwarg, load_checked


OFFLINE_WAYS = ("with the models already downloaded set HF_HUB_OFFLINE=1",
                "pass local folders to --detector, --segmenter and --matting-model")
DETECTOR = ModelRole("detector", "--detector", ("pass a local folder to --detector",), OFFLINE_WAYS)
SEGMENTER = ModelRole("segmenter", "--segmenter", ("pass a local folder to --segmenter",), OFFLINE_WAYS)
MATTING = ModelRole("matting model", "--matting-model", ("pass a local folder to --matting-model", "use --no-matting"), OFFLINE_WAYS)


@dataclass(frozen=True)
class Loaded:
    name: str  # the id or folder it was loaded from
    model: Any
    processor: Any


def _load(name: str, role: ModelRole, classes: Callable[[], tuple[Any, Any]], remote: bool, device: torch.device, dtype: torch.dtype) -> Loaded:
    """`classes()` gives the model's and the processor's classes: it imports transformers, which takes
    seconds, so it runs after the Hub was found reachable (offline, the one line comes first)."""

    def load(common: dict) -> tuple[Any, Any]:
        model_class, processor_class = classes()
        processor = processor_class.from_pretrained(name, **common, **backend_kwarg())
        model = model_class.from_pretrained(name, **common, **dtype_kwarg(dtype))
        return model, processor

    model, processor = load_checked(name, role, remote, load)
    return Loaded(name, model.to(device=device, dtype=dtype).eval(), processor)


def load_text_detector(name: str, remote: bool, device: torch.device, dtype: torch.dtype) -> Loaded:
    def classes():
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        return AutoModelForZeroShotObjectDetection, AutoProcessor

    return _load(name, DETECTOR, classes, remote, device, dtype)


def load_class_detector(name: str, remote: bool, device: torch.device, dtype: torch.dtype) -> Loaded:
    def classes():
        from transformers import AutoImageProcessor, AutoModelForUniversalSegmentation

        return AutoModelForUniversalSegmentation, AutoImageProcessor

    return _load(name, DETECTOR, classes, remote, device, dtype)


def load_segmenter(name: str, remote: bool, device: torch.device, dtype: torch.dtype) -> Loaded:
    def classes():
        from transformers import AutoModelForMaskGeneration, AutoProcessor

        return AutoModelForMaskGeneration, AutoProcessor

    return _load(name, SEGMENTER, classes, remote, device, dtype)


def load_matting(name: str, remote: bool, device: torch.device, dtype: torch.dtype) -> Loaded:
    def classes():
        import transformers

        # The Auto class for matting is recent; before it, ViTMatte's own class is the way in.
        model_class = getattr(transformers, "AutoModelForImageMatting", None) or transformers.VitMatteForImageMatting
        return model_class, transformers.AutoImageProcessor

    return _load(name, MATTING, classes, remote, device, dtype)
