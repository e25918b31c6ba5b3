"""Training losses that fit the labels: binary cross-entropy plus Dice for the mask; for the depth an L1 on
log depth (metric labels) or, for a teacher's relative inverse depth, the scale-and-shift-invariant loss
MiDaS trains with (the prediction aligned to the label by least squares per image, then the mean squared
residual). Pixels whose depth is unknown carry no loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..rules import DepthMode

METRIC, RELATIVE, NO_DEPTH = "metric", "relative", "none"


@dataclass(frozen=True)
class DepthLabels:
    """What a dataset's depth values are, read once from its manifest's depth section."""
    kind: str  # METRIC (metres, smaller is nearer), RELATIVE (inverse depth up to scale and shift) or NO_DEPTH
    meaning: str

    @classmethod
    def from_manifest(cls, depth: dict) -> "DepthLabels":
        meaning = depth.get("meaning") or ""
        if DepthMode(depth.get("mode", DepthMode.NONE)) == DepthMode.NONE:
            return cls(NO_DEPTH, "no depth")
        return cls(RELATIVE if meaning.startswith("relative") else METRIC, meaning)


def valid_depth(depth: torch.Tensor, depth_valid: torch.Tensor, kind: str, known: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 1, H, W) bool: the row has depth, the pixel's depth is `known` (not a hole of the background's
    depth), the value is finite and, for metric labels, positive (0 m is a sensor's "unknown", not a distance)."""
    valid = depth_valid.view(-1, 1, 1, 1) & torch.isfinite(depth)
    if known is not None:
        valid &= known
    return valid & (depth > 0) if kind == METRIC else valid


def mask_loss(logit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logit, mask)
    probability = torch.sigmoid(logit)
    overlap = (probability * mask).sum(dim=(1, 2, 3))
    dice = 1 - (2 * overlap + 1) / (probability.sum(dim=(1, 2, 3)) + mask.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def scale_and_shift(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the (s, t) minimising sum over valid pixels of (s * prediction + t - target)^2, each (B,);
    s = 0 and t = 0 for an image with fewer than two distinct valid predictions."""
    w = valid.float()
    n = w.sum(dim=(1, 2, 3))
    p, y = prediction * w, target * w
    sp, sy, spp, spy = p.sum(dim=(1, 2, 3)), y.sum(dim=(1, 2, 3)), (p * p).sum(dim=(1, 2, 3)), (p * y).sum(dim=(1, 2, 3))
    determinant = n * spp - sp * sp
    solvable = determinant.abs() > 1e-12 * torch.clamp(n * spp, min=1e-30)
    safe = torch.where(solvable, determinant, torch.ones_like(determinant))
    scale = torch.where(solvable, (n * spy - sp * sy) / safe, torch.zeros_like(determinant))
    shift = torch.where(solvable, (spp * sy - sp * spy) / safe, torch.zeros_like(determinant))
    return scale, shift


def aligned(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    scale, shift = scale_and_shift(prediction, target, valid)
    return prediction * scale.view(-1, 1, 1, 1) + shift.view(-1, 1, 1, 1)


def depth_loss(prediction: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, kind: str) -> torch.Tensor:
    """`prediction`: the network's depth channel (log metres for METRIC, free scale for RELATIVE)."""
    if kind == NO_DEPTH or not bool(valid.any()):
        return prediction.sum() * 0  # keeps the graph (and the optimiser's state) the same shape
    if kind == METRIC:
        residual = prediction - torch.log(torch.where(valid, depth, torch.ones_like(depth)))
        return residual.abs()[valid].mean()
    # The labels' scale and shift differ per image: normalise them so the loss is comparable across images.
    target = _normalised(depth, valid)
    residual = aligned(prediction, target, valid) - target
    return (residual * residual)[valid].mean()


def _normalised(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Each image's valid labels shifted to median 0 and scaled to mean absolute deviation 1 (MiDaS)."""
    out = torch.zeros_like(depth)
    for i in range(depth.shape[0]):
        values = depth[i][valid[i]]
        if values.numel() == 0:
            continue
        median = values.median()
        spread = (values - median).abs().mean().clamp(min=1e-6)
        out[i] = (depth[i] - median) / spread
    return out


def total_loss(output: torch.Tensor, batch: dict, kind: str) -> tuple[torch.Tensor, dict[str, float]]:
    """The training objective on a batch of the data module's format, and its parts for the learning curves."""
    logit, depth_out = output[:, :1], output[:, 1:]
    valid = valid_depth(batch["depth"], batch["depth_valid"], kind, batch.get("depth_known"))
    mask_part = mask_loss(logit, batch["mask"])
    depth_part = depth_loss(depth_out, batch["depth"], valid, kind)
    return mask_part + depth_part, {"mask": float(mask_part.detach()), "depth": float(depth_part.detach())}
