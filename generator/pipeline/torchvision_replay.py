"""transformers' torchvision-backed image processors (DPTImageProcessor, GLPNImageProcessor in transformers
5), replayed in plain torch so that they run batched on the model's device without torchvision.

What they do to a uint8 image, as torchvision.transforms.v2.functional does it:
- resize: `torch.nn.functional.interpolate(..., antialias=True, align_corners=False)`. On CPU, uint8 goes
  in as it is for bicubic (and bilinear where the CPU has AVX2): torch's own uint8 kernel, which resamples
  width then height, rounding to uint8 after each pass. Otherwise float32, clamped (bicubic), rounded, back
  to uint8. NEAREST is `nearest-exact` on uint8, without antialiasing;
- rescale and normalise fused: `(x - mean / rescale) / (std / rescale)` in float32;
- centre padding with zeros.
`pipeline("depth-estimation")` runs the processor on CPU, so on any other device the uint8 kernel is
emulated by the same two passes, each in float32 and rounded: within 2 levels of it (tested), where one
float pass is up to 20 levels away.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def native_uint8_on_cpu(mode: str) -> bool:
    """Whether torchvision hands uint8 straight to torch's kernel on CPU (its _do_native_uint8_resize_on_cpu)."""
    if mode == "bilinear":
        return "AVX2" in torch.backends.cpu.get_cpu_capability()  # torchvision's test: an AVX512 CPU fails it
    return mode == "bicubic"


def torchvision_resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, *size), as transformers' torchvision processors resize on CPU."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if mode == "lanczos":  # transformers' own fallback off CPU or below torchvision 0.27
        mode = "bicubic"
    if mode == "nearest-exact":
        return F.interpolate(images, size=size, mode=mode)
    if native_uint8_on_cpu(mode):
        if images.device.type == "cpu":
            return F.interpolate(images, size=size, mode=mode, align_corners=False, antialias=True)
        return _two_rounded_passes(images, size, mode)
    return _float_resize(images, size, mode)


def _float_resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    x = F.interpolate(images.float(), size=size, mode=mode, align_corners=False, antialias=True)
    if mode == "bicubic":
        x = x.clamp_(min=0, max=255)
    return x.round_().to(torch.uint8)


def _two_rounded_passes(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """torch's CPU uint8 kernel on any device: width first, then height, each rounded to uint8."""
    x = images
    if size[1] != x.shape[-1]:
        x = _float_resize(x, (x.shape[-2], size[1]), mode)
    if size[0] != x.shape[-2]:
        x = _float_resize(x, (size[0], x.shape[-1]), mode)
    return x


def torchvision_rescale_normalise(x: torch.Tensor, rescale: float | None, mean, std) -> torch.Tensor:
    """uint8 -> float32 pixel values, as TorchvisionBackend.rescale_and_normalize computes them."""
    if mean is not None and std is not None:
        if rescale is not None:  # fused: mean and std in the image's 0..255 units
            mean = torch.tensor(mean, device=x.device) * (1.0 / rescale)
            std = torch.tensor(std, device=x.device) * (1.0 / rescale)
        else:
            mean, std = torch.tensor(mean, device=x.device), torch.tensor(std, device=x.device)
        return x.to(torch.float32).sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))
    if rescale is not None:
        return x * rescale
    return x.to(torch.float32)
