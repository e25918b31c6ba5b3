"""The field's metrics, per image and averaged over images: mask IoU and boundary F-score (boundaries
matched within a tolerance of max(1, round(0.008 * image diagonal)) px, as DAVIS does); depth AbsRel, RMSE
and delta < 1.25 on valid pixels, over the whole image and over the object's pixels (`*_object`).

Predictions are compared in the target's units: a metric model's exp(log depth); a relative model's output
aligned to the labels by least-squares scale and shift per image (on all the image's valid pixels), or,
against metric ground truth, aligned to its inverse (disparity) and inverted back to metres, as MiDaS
evaluates."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .losses import METRIC, RELATIVE, aligned
from .names import DEPTH_KEYS, KEYS
_MIN_DISPARITY = 1e-3  # floor of an aligned disparity before inverting it: no negative or infinite depth


def mask_iou(logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) IoU of (logit > 0) with (mask > 0.5); 1 where both are empty."""
    predicted, truth = logit > 0, mask > 0.5
    intersection = (predicted & truth).sum(dim=(1, 2, 3)).float()
    union = (predicted | truth).sum(dim=(1, 2, 3)).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def boundary(mask: torch.Tensor) -> torch.Tensor:
    """Pixels of a bool (B, 1, H, W) mask with a 4- or 8-neighbour outside it (the image's edge is not one)."""
    eroded = -F.max_pool2d(-mask.float(), 3, stride=1, padding=1)
    return mask & (eroded < 0.5)


def boundary_tolerance(height: int, width: int) -> int:
    return max(1, round(0.008 * math.hypot(height, width)))


def boundary_f(logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) F-score of the predicted boundary against the true one within the tolerance; 1 where both are
    empty, 0 where only one is."""
    predicted, truth = boundary(logit > 0), boundary(mask > 0.5)
    radius = boundary_tolerance(*mask.shape[-2:])

    def near(b: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(b.float(), 2 * radius + 1, stride=1, padding=radius) > 0.5

    p_count, t_count = predicted.sum(dim=(1, 2, 3)).float(), truth.sum(dim=(1, 2, 3)).float()
    precision = (predicted & near(truth)).sum(dim=(1, 2, 3)) / p_count.clamp(min=1)
    recall = (truth & near(predicted)).sum(dim=(1, 2, 3)) / t_count.clamp(min=1)
    f = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    both_empty, one_empty = (p_count == 0) & (t_count == 0), (p_count == 0) ^ (t_count == 0)
    return torch.where(both_empty, torch.ones_like(f), torch.where(one_empty, torch.zeros_like(f), f))


def predicted_depth(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, model_kind: str,
                    target_kind: str) -> torch.Tensor:
    """The depth channel in the target's units (see the module doc)."""
    if model_kind == METRIC:
        return torch.exp(prediction)
    if target_kind == RELATIVE:
        return aligned(prediction, target, valid)
    disparity = 1 / torch.where(valid, target, torch.ones_like(target))
    return 1 / aligned(prediction, disparity, valid).clamp(min=_MIN_DISPARITY)


def depth_errors(predicted: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image AbsRel, RMSE and delta < 1.25 over the `valid` pixels with a positive target, with the
    count of those pixels (images without any are left out of the means)."""
    valid = valid & (target > 0) & (predicted > 0)
    count = valid.sum(dim=(1, 2, 3)).float()
    safe_target = torch.where(valid, target, torch.ones_like(target))
    safe_predicted = torch.where(valid, predicted, torch.ones_like(predicted))
    difference = (safe_predicted - safe_target) * valid
    ratio = torch.maximum(safe_predicted / safe_target, safe_target / safe_predicted)
    per = count.clamp(min=1)
    return {
        "abs_rel": (difference.abs() / safe_target).sum(dim=(1, 2, 3)) / per,
        "rmse": torch.sqrt((difference * difference).sum(dim=(1, 2, 3)) / per),
        "delta1": ((ratio < 1.25) & valid).sum(dim=(1, 2, 3)) / per,
        "count": count,
    }


class Averages:
    """Per-image metric values summed over batches; `means()` averages each over the images it covers."""

    def __init__(self):
        self.sums = {key: 0.0 for key in KEYS}
        self.counts = {key: 0 for key in KEYS}

    def add(self, key: str, values: torch.Tensor, present: torch.Tensor | None = None) -> None:
        values = values.double() if present is None else values[present].double()
        self.sums[key] += float(values.sum())
        self.counts[key] += int(values.numel())

    def add_batch(self, output: torch.Tensor, mask: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor,
                  model_kind: str, target_kind: str) -> None:
        logit = output[:, :1]
        self.add("mask_iou", mask_iou(logit, mask))
        self.add("boundary_f", boundary_f(logit, mask))
        if not bool(valid.any()):
            return
        predicted = predicted_depth(output[:, 1:], depth, valid, model_kind, target_kind)
        for suffix, where in (("", valid), ("_object", valid & (mask > 0.5))):
            errors = depth_errors(predicted, depth, where)
            for key in DEPTH_KEYS:
                self.add(key + suffix, errors[key], errors["count"] > 0)

    def means(self) -> dict[str, float | None]:
        return {key: (self.sums[key] / self.counts[key] if self.counts[key] else None) for key in KEYS}
