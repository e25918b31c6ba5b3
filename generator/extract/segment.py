"""Stage 2, segment: a mask for each box, from a promptable segmenter (SAM, SAM-HQ) given the box."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .find import cpu_float32


class BoxSegmenter:
    def __init__(self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype

    def __call__(self, photos: list[np.ndarray], boxes: list[list[tuple[float, ...]]]) -> list[list[np.ndarray]]:
        """photos and each one's boxes -> each box's mask (H, W) bool, in the same order. The photos'
        box lists are padded to one length by repeating a box (the model takes a rectangular batch)."""
        asked = [(photo, photo_boxes) for photo, photo_boxes in zip(photos, boxes) if photo_boxes]
        if not asked:
            return [[] for _ in photos]
        longest = max(len(photo_boxes) for _, photo_boxes in asked)
        padded = [[list(box) for box in photo_boxes] + [list(photo_boxes[-1])] * (longest - len(photo_boxes)) for _, photo_boxes in asked]
        inputs = self.processor(images=[photo for photo, _ in asked], input_boxes=padded, return_tensors="pt")
        with torch.inference_mode():
            outputs = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype),
                                 input_boxes=inputs["input_boxes"].to(self.device), multimask_output=False)
        outputs = cpu_float32(outputs)
        masks = self.processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])
        found = iter([m[: len(photo_boxes), 0].numpy().astype(bool) for m, (_, photo_boxes) in zip(masks, asked)])
        return [list(next(found)) if photo_boxes else [] for photo_boxes in boxes]
