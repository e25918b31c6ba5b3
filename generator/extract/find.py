"""Stage 1, find: the objects of each photo, as boxes with a score and a label. From a text prompt with a
zero-shot detector (Grounding DINO, OWLv2), or from class names with a closed-set instance segmenter
(Mask2Former), which gives each object's mask as well."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UserError

GROUNDING_TYPES = ("grounding-dino", "mm-grounding-dino")  # text as "a dog. a cat.", token-level scores
# Detectors whose processor pads each photo to a square (bottom and right) before resizing: their boxes are
# relative to that square.
SQUARE_PADDED_TYPES = ("owlv2",)


@dataclass(frozen=True)
class Found:
    """One object found in a photo: its box (x0, y0, x1, y1 in photo pixels), score and label, and its
    mask (H, W) bool where the finder segments too."""

    box: tuple[float, float, float, float]
    score: float
    label: str
    mask: np.ndarray | None = None


def prompt_phrases(prompt: str) -> list[str]:
    """The phrases of a prompt: "a dog. a cat" -> ["a dog", "a cat"] (lower case, as detectors are trained)."""
    return [phrase.strip().lower() for phrase in prompt.split(".") if phrase.strip()]


class TextFinder:
    """A zero-shot object detector asked for the prompt's phrases in every photo."""

    def __init__(self, model: Any, processor: Any, prompt: str, threshold: float, device: torch.device, dtype: torch.dtype):
        self.model, self.processor = model, processor
        self.phrases = prompt_phrases(prompt)
        self.threshold, self.device, self.dtype = threshold, device, dtype
        self.grounding = model.config.model_type in GROUNDING_TYPES
        self.square = model.config.model_type in SQUARE_PADDED_TYPES

    def __call__(self, photos: list[np.ndarray]) -> list[list[Found]]:
        text = ". ".join(self.phrases) + "." if self.grounding else self.phrases
        inputs = self.processor(images=photos, text=[text] * len(photos), return_tensors="pt")
        inputs = {k: v.to(self.device, dtype=self.dtype if v.is_floating_point() else v.dtype) for k, v in inputs.items()}
        with torch.inference_mode():
            outputs = self.model(**inputs)
        outputs = cpu_float32(outputs)
        post_process = self.processor.post_process_grounded_object_detection
        kwargs = threshold_kwargs(post_process, self.threshold, len(photos) * [self.phrases])
        if self.grounding:
            kwargs["text_threshold"] = self.threshold
            results = post_process(outputs, inputs["input_ids"].cpu(), target_sizes=target_sizes(photos, self.square), **kwargs)
        else:
            results = post_process(outputs, target_sizes=target_sizes(photos, self.square), **kwargs)
        return [_founds(result, self.phrases) for result in results]


def threshold_kwargs(post_process: Any, threshold: float, text_labels: list[list[str]]) -> dict:
    """The post-processing's keyword arguments by the names it takes: `threshold` was `box_threshold` for
    Grounding DINO before transformers 4.51, which also added `text_labels` (before it, labels were the
    phrases' text for Grounding DINO and their index for OWL)."""
    names = inspect.signature(post_process).parameters
    kwargs = {"threshold" if "threshold" in names else "box_threshold": threshold}
    if "text_labels" in names and "input_ids" not in names:  # OWL: the queries' text, to label the boxes with
        kwargs["text_labels"] = text_labels
    return kwargs


def target_sizes(photos: list[np.ndarray], square: bool) -> list[tuple[int, int]]:
    """The sizes the detector's relative boxes scale to: each photo's, or the square it was padded to."""
    return [(max(p.shape[:2]),) * 2 if square else tuple(p.shape[:2]) for p in photos]


def cpu_float32(outputs: Any) -> Any:
    """The model's outputs in float32 on the CPU: post-processing compares and scales them there."""
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            outputs[key] = value.float().cpu()
    return outputs


def _founds(result: dict, phrases: list[str]) -> list[Found]:
    if "text_labels" in result:
        labels = result["text_labels"]
    else:
        labels = [phrases[int(label)] if _is_index(label) else str(label) for label in result["labels"]]
    return [
        Found(tuple(float(v) for v in box), float(score), _phrase_of(label, phrases))
        for box, score, label in zip(result["boxes"].tolist(), result["scores"].tolist(), labels)
    ]


def _is_index(label: Any) -> bool:
    return isinstance(label, int) or (isinstance(label, torch.Tensor) and not label.is_floating_point())


def _phrase_of(label: str, phrases: list[str]) -> str:
    """The prompt phrase a detector's label comes from (Grounding DINO's label is the tokens above the
    threshold, which may be a part of a phrase or run into the next); the label itself if none matches."""
    label = label.replace("[SEP]", "").replace("[CLS]", "").strip(" .")
    for phrase in phrases:
        if label and (label in phrase or phrase in label):
            return phrase
    return label or phrases[0]


class ClassFinder:
    """A closed-set instance segmenter; only the objects of the asked classes (its own label names) count."""

    def __init__(self, model: Any, processor: Any, classes: list[str], threshold: float, device: torch.device, dtype: torch.dtype):
        self.model, self.processor = model, processor
        self.threshold, self.device, self.dtype = threshold, device, dtype
        names = {name.lower(): int(index) for index, name in model.config.id2label.items()}
        unknown = [name for name in classes if name not in names]
        if unknown:
            known = ", ".join(sorted(names)[:12])
            raise UserError(f"--classes {', '.join(unknown)}: not a label of the detector (its labels include {known}, ...)")
        self.wanted = {names[name]: name for name in classes}

    def __call__(self, photos: list[np.ndarray]) -> list[list[Found]]:
        inputs = self.processor(images=photos, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            outputs = cpu_float32(self.model(pixel_values=pixels))
        sizes = [photo.shape[:2] for photo in photos]
        results = self.processor.post_process_instance_segmentation(
            outputs, threshold=self.threshold, target_sizes=sizes, return_binary_maps=True)
        return [self._founds(result) for result in results]

    def _founds(self, result: dict) -> list[Found]:
        found = []
        for index, segment in enumerate(result["segments_info"]):
            label = self.wanted.get(int(segment["label_id"]))
            mask = result["segmentation"][index].cpu().numpy().astype(bool) if label else None
            if label is None or not mask.any():
                continue
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
            found.append(Found(box, float(segment["score"]), label, mask))
        return found
