"""How the teacher's depth maps reach the shard builder: already quantised to the stored 16 bits, with
each map's range, so that what crosses from the teacher's process to a worker is the smallest exact form
(2 bytes a pixel instead of 4) and the worker encodes it as it is. NumPy only: workers never import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .depth_splice import PlainDepth, SplicedDepth
from .encode import quantize_depth


@dataclass(frozen=True)
class QuantizedDepth:
    """A shard's depth maps as stored: uint16 maps spanning 0..65535 per map, with the float32 range each
    one maps back to (encode.quantize_depth's result for every map, computed in one batch)."""

    maps: np.ndarray  # (N, H, W) uint16
    mins: np.ndarray  # (N,) float32
    maxs: np.ndarray  # (N,) float32

    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, rows: slice) -> "QuantizedDepth":
        return QuantizedDepth(self.maps[rows], self.mins[rows], self.maxs[rows])

    def row(self, i: int) -> tuple[np.ndarray, float, float]:
        """Row `i` as quantize_depth returns it."""
        return self.maps[i], float(self.mins[i]), float(self.maxs[i])

    @classmethod
    def of(cls, depths: np.ndarray) -> "QuantizedDepth":
        """Quantise float maps on the host, map by map: the plain way, which the batched one equals."""
        rows = [quantize_depth(depth) for depth in depths]
        maps = np.stack([r[0] for r in rows]) if rows else np.zeros((0, *depths.shape[1:]), np.uint16)
        return cls(maps, np.array([r[1] for r in rows], np.float32), np.array([r[2] for r in rows], np.float32))


def stored_depth(depths: "np.ndarray | QuantizedDepth | list[PlainDepth | SplicedDepth]", i: int) -> "PlainDepth | SplicedDepth":
    """Row `i` of a depth stage's output as stored: quantised here from float maps, taken as they are from
    maps the teacher quantised or rows already stored."""
    if isinstance(depths, QuantizedDepth):
        return PlainDepth(*depths.row(i))
    if isinstance(depths, list):
        return depths[i]
    return PlainDepth.of(depths[i])
