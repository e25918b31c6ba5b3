"""The reference network: a four-level U-Net, 6 input channels (background ++ composite), 2 outputs (the
mask's logit and the depth in the labels' space: log metres for metric labels, disparity for relative ones)."""

from __future__ import annotations

import torch
from torch import nn

from .settings import DEFAULT_WIDTH

IN_CHANNELS = 6
OUT_CHANNELS = 2  # mask logit, depth


def _block(inputs: int, outputs: int) -> nn.Sequential:
    # GroupNorm rather than BatchNorm: the same layer in training and evaluation, whatever the batch size
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.GroupNorm(8, outputs), nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False), nn.GroupNorm(8, outputs), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Widths w, 2w, 4w, 8w; the input side must be a multiple of 8 (three halvings)."""

    def __init__(self, width: int = DEFAULT_WIDTH):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.down = nn.ModuleList([_block(IN_CHANNELS, widths[0])] + [_block(a, b) for a, b in zip(widths, widths[1:])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths, widths[1:])])
        self.merge = nn.ModuleList([_block(2 * a, a) for a in widths[:-1]])
        self.head = nn.Conv2d(widths[0], OUT_CHANNELS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for i in reversed(range(len(self.up))):
            x = self.merge[i](torch.cat([skips[i], self.up[i](x)], dim=1))
        return self.head(x)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
