"""The teacher's depth maps made ready for the workers on the model's device: quantised to the stored 16
bits there, in one batch, with exactly encode.quantize_depth's arithmetic (so the bits do not depend on
where it ran), and copied to the host in that compact form. On CUDA the copies go through pinned memory on
a stream of their own, so they overlap the next batch instead of stalling it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..schema import DEPTH_PNG_MAX
from .handover import QuantizedDepth


def quantize_on_device(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 (N, H, W) -> (uint16 maps, float32 mins, float32 maxs), bit for bit what quantize_depth
    gives for each map, on any device. Its steps, batched: the range in float64 (Python floats there);
    depth - min in float32; times the float32 rounding of 65535 / range; round half to even; a constant
    map is all zeros. Each step is one IEEE-exact elementwise kernel (no fused multiply-add can form
    across two eager torch calls), so CPU and CUDA round alike."""
    depth = depth.float()
    flat = depth.flatten(1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)
    span = high.double() - low.double()
    factor = torch.where(span == 0, torch.zeros_like(span), DEPTH_PNG_MAX / span).float()
    scaled = depth - low.view(-1, 1, 1)
    # In place from here: the same kernels on a buffer already paged in (on a CPU teacher, fresh
    # allocations of every step cost more than the arithmetic).
    scaled.mul_(factor.view(-1, 1, 1)).round_()
    return scaled.to(torch.uint16), low, high


def empty_quantized(count: int, height: int, width: int, pinned: bool) -> tuple[QuantizedDepth, tuple[torch.Tensor, ...]]:
    """Host buffers for `count` quantised maps, as torch tensors (the copy targets; pinned on CUDA, so the
    copies run asynchronously) and as the NumPy arrays that share their memory."""
    tensors = (
        torch.empty((count, height, width), dtype=torch.uint16, pin_memory=pinned),
        torch.empty(count, dtype=torch.float32, pin_memory=pinned),
        torch.empty(count, dtype=torch.float32, pin_memory=pinned),
    )
    return QuantizedDepth(*(t.numpy() for t in tensors)), tensors


def quantized_batches(
    chunks: Iterator[torch.Tensor], depth_of: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, int, int],
    device: torch.device, into: QuantizedDepth | None = None,
) -> QuantizedDepth:
    """Run `depth_of` (uint8 (n, H, W, 3) host chunk -> float32 (n, H, W) depth on the device) on every
    chunk and gather the quantised maps on the host: in `into` when given (the memory the workers read),
    else in new arrays."""
    if device.type == "cuda":
        gathered = _gather_cuda(chunks, depth_of, shape, device)
        if into is None:
            return gathered
        for target, part in zip(_arrays(into), _arrays(gathered)):
            np.copyto(target, part)
        return into
    if into is None:
        result, targets = empty_quantized(*shape, pinned=False)
    else:
        result, targets = into, tuple(torch.from_numpy(array) for array in _arrays(into))
    start = 0
    for chunk in chunks:
        quantized = quantize_on_device(depth_of(chunk))
        for target, part in zip(targets, quantized):
            target[start : start + len(chunk)].copy_(part)
        start += len(chunk)
    return result


def _arrays(depths: QuantizedDepth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return depths.maps, depths.mins, depths.maxs


def _gather_cuda(chunks: Iterator[torch.Tensor], depth_of: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, int, int],
                 device: torch.device) -> QuantizedDepth:
    """The CUDA way: each chunk goes up from pinned memory without blocking the host, and its quantised
    maps come down on a copy stream that waits only for that chunk, so the host queues the next chunk's
    work while the previous one's maps travel."""
    result, targets = empty_quantized(*shape, pinned=True)
    compute = torch.cuda.current_stream(device)
    copies = torch.cuda.Stream(device)
    start = 0
    for chunk in chunks:
        staged = chunk.pin_memory()  # pageable uploads would wait for all queued work first
        quantized = quantize_on_device(depth_of(staged))
        ready = torch.cuda.Event()
        ready.record(compute)
        with torch.cuda.stream(copies):
            copies.wait_event(ready)
            for target, part in zip(targets, quantized):
                part.record_stream(copies)  # keep the caching allocator off it until the copy is done
                target[start : start + len(chunk)].copy_(part, non_blocking=True)
        start += len(chunk)
    copies.synchronize()
    return result
