"""Evaluation of a trained model on a set of batches: the metrics, and a few predictions for the gallery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from .data import on_device
from .losses import NO_DEPTH, valid_depth
from .metrics import Averages, predicted_depth


@dataclass
class Shown:
    """One evaluated sample as the prediction sheet shows it."""
    composite: np.ndarray  # (H, W, 3) float: the normalised input, which the sheet de-normalises
    mask: np.ndarray  # (H, W) float in [0, 1]
    predicted_mask: np.ndarray  # (H, W) float in [0, 1]
    depth: np.ndarray  # (H, W) float, the target's units; NaN where unknown
    predicted_depth: np.ndarray  # (H, W) float, the target's units


@dataclass
class Evaluation:
    metrics: dict[str, float | None]
    samples: int
    shown: list[Shown] = field(default_factory=list)


def evaluate(model: torch.nn.Module, batches: Iterable[dict], model_kind: str, target_kind: str,
             device: torch.device, show: int = 4) -> Evaluation:
    model.eval()
    averages, samples, shown = Averages(), 0, []
    with torch.inference_mode():
        for batch in batches:
            batch = on_device(batch, device)
            output = model(batch["input"])
            valid = valid_depth(batch["depth"], batch["depth_valid"], target_kind, batch.get("depth_known"))
            if model_kind == NO_DEPTH:  # a model trained without depth labels: its depth channel means nothing
                valid = torch.zeros_like(valid)
            averages.add_batch(output, batch["mask"], batch["depth"], valid, model_kind, target_kind)
            samples += len(output)
            if len(shown) < show:  # the first sample of each batch: more varied than one batch's run of rows
                shown += _shown(batch, output[:1], valid[:1], model_kind, target_kind)
    return Evaluation(averages.means(), samples, shown)


def _shown(batch: dict, output: torch.Tensor, valid: torch.Tensor, model_kind: str, target_kind: str) -> list[Shown]:
    """The batch's first len(output) samples as the sheet shows them."""
    batch = {key: value[:len(output)] for key, value in batch.items()}
    depth = predicted_depth(output[:, 1:], batch["depth"], valid, model_kind, target_kind)
    truth = torch.where(valid, batch["depth"], torch.full_like(batch["depth"], float("nan")))
    return [Shown(batch["input"][i, 3:].permute(1, 2, 0).cpu().numpy(), batch["mask"][i, 0].cpu().numpy(),
                  torch.sigmoid(output[i, 0]).cpu().numpy(), truth[i, 0].cpu().numpy(), depth[i, 0].cpu().numpy())
            for i in range(len(output))]
