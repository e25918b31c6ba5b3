"""Placed cut-outs, cached per worker process, packed, within a fixed byte limit.

Floor placement gives a cut-out its own size at every placement, and resizing it from the source is the
costliest step of a composite. The sizes repeat across backgrounds, so a cache saves most resizes, but a
worker's working set grows with the foregrounds (about 22,000 placed cut-outs, 760 MB as arrays, at
100 foregrounds), so no limit holds it all whatever the build. The cache is held to DEFAULT_LIMIT bytes
instead, and made to hold more within it and to cost less when it misses:
- a placed cut-out is kept as its RGBA (and soft mask) packed with LZ4, about 2.7 times smaller, with its
  boxes and mask PNG; its alpha and mask are derived again on each lookup (well under 0.1 ms, against
  about 0.7 ms a resize);
- the last source is kept premultiplied by its alpha, as PIL's resize of an RGBA image converts it first,
  so the misses of a group (one source and flip) after its first cost the resize alone (a third less).
Shards are built a run of foregrounds at a time (plan.submission_order), so the working set at any moment
is a quarter of the foregrounds', and each worker builds its own stretch of that order (plan.worker_stretches),
so that two workers do not both resize the same cut-outs. Replaying the 400,000-sample demo's lookups
through this cache (`python -m benchmarks.cutout_lookups`), a worker misses 81 of a shard's 830 lookups at
48 MB with each worker its stretch, 121 with the workers taking the shards in turn (112 of them each
cut-out's first sight in a worker, which no cache avoids) and 301 in plan order. The measurements behind
the limit are in benchmarks/README.md.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from PIL import Image

from .composite import Cutout, prepare_cutout, soft_alpha

DEFAULT_LIMIT = 48 << 20
_CODEC = pa.Codec("lz4")  # pyarrow's raw LZ4 block format: no new dependency, unpacks at GB/s
_OVERHEAD = 300  # bytes of Python objects an entry costs besides its packed pixels


@dataclass(frozen=True)
class _Packed:
    """A placed cut-out's pixels, compressed: RGBA (h, w, 4) and, with --soft-mask, its soft mask (h, w);
    with what is derived from them once: its boxes and its mask's PNG (every unhidden placement's amodal)."""

    source: np.ndarray  # the cut-out it was resized from, held so that its id is not reused while cached
    shape: tuple[int, int]  # (h, w)
    rgba: pa.Buffer
    soft: pa.Buffer | None
    bbox: tuple[int, int, int, int]
    reach: tuple[int, int, int, int]
    mask_png: bytes

    @classmethod
    def of(cls, source: np.ndarray, cutout: Cutout) -> "_Packed":
        soft = None if cutout.mask is cutout.solid else _packed(np.ascontiguousarray(cutout.mask))
        return cls(source, cutout.shape, _packed(cutout.rgba), soft, cutout.bbox, cutout.reach, cutout.mask_png)

    @property
    def nbytes(self) -> int:
        return self.rgba.size + (self.soft.size if self.soft is not None else 0) + len(self.mask_png) + _OVERHEAD

    def cutout(self) -> Cutout:
        height, width = self.shape
        rgba = _unpacked(self.rgba, (height, width, 4))
        soft = None if self.soft is None else _unpacked(self.soft, (height, width))
        return _read_only(Cutout.known(rgba, soft, self.bbox, self.reach, self.mask_png))


@dataclass(frozen=True)
class _Premultiplied:
    """A source cut-out flipped and premultiplied by its alpha ("RGBa"), as PIL's resize of an RGBA image
    converts it first, once for all the sizes it is resized to."""

    source: np.ndarray
    flipped: bool
    image: Image.Image

    @classmethod
    def of(cls, source: np.ndarray, flipped: bool) -> "_Premultiplied":
        rgba = np.ascontiguousarray(source[:, ::-1] if flipped else source)
        return cls(source, flipped, Image.fromarray(rgba, "RGBA").convert("RGBa"))

    def resized(self, size: tuple[int, int]) -> np.ndarray:
        """prepare_cutout's resize: Image.resize(size, LANCZOS) of the RGBA cut-out is this image resized,
        converted back to RGBA (tests/test_fast_paths.py checks the bytes)."""
        return np.asarray(self.image.resize(size, Image.Resampling.LANCZOS).convert("RGBA"))


def _packed(pixels: np.ndarray) -> pa.Buffer:
    """`pixels` compressed, in a buffer of its exact size from pyarrow's pool. Entries live for many shards
    and are dropped in another order than they came: kept in the C heap, among each shard's short-lived
    arrays, their holes grew the heap by about 30 MB over a 200-shard build (benchmarks/README.md). The
    codec's own buffer is its worst-case size, about the pixels' own, so the bytes are copied out of it."""
    compressed = _CODEC.compress(pixels, asbytes=True)
    buffer = pa.allocate_buffer(len(compressed))
    memoryview(buffer).cast("B")[:] = compressed
    return buffer


def _unpacked(packed: pa.Buffer, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    return np.frombuffer(_CODEC.decompress(packed, decompressed_size=size, asbytes=True), np.uint8).reshape(shape)


def _read_only(cutout: Cutout) -> Cutout:
    for array in (cutout.rgba, cutout.alpha, cutout.solid, cutout.mask):
        array.flags.writeable = False
    return cutout


class CutoutCache:
    """Cut-outs as placed (Cutout.placed), packed, the least recently used dropped beyond `limit` bytes
    (`bytes`: what the entries hold); besides them, the last source's premultiplied image."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit, self.bytes = limit, 0
        self.misses = 0  # cut-outs resized, not found
        self._items: OrderedDict[tuple, _Packed] = OrderedDict()
        self._premultiplied: _Premultiplied | None = None

    def get(self, rgba: np.ndarray, flipped: bool, size: tuple[int, int], soft_mask: bool) -> Cutout:
        """Cutout.placed(rgba, flipped, size, soft_mask), its arrays read-only; each call gives a new one
        (callers share one per size among a group's placements)."""
        key = (id(rgba), flipped, size, soft_mask)
        found = self._items.get(key)
        if found is not None and found.source is rgba:  # the id of a freed array may be reused
            self._items.move_to_end(key)
            return found.cutout()
        self.misses += 1
        placed = self._resized(rgba, flipped, size)
        cutout = Cutout.of(placed, soft_alpha(rgba, flipped, size) if soft_mask else None)
        self._add(key, _Packed.of(rgba, cutout))
        return _read_only(cutout)

    def _resized(self, rgba: np.ndarray, flipped: bool, size: tuple[int, int]) -> np.ndarray:
        """prepare_cutout(rgba, flipped, size), from the source's premultiplied image. Only the last
        source's is kept, outside the limit: lookups come a group (one source and flip) at a time, so it
        serves a group's misses after its first, and the limit's bytes go to placed cut-outs."""
        if size == (rgba.shape[1], rgba.shape[0]):
            return prepare_cutout(rgba, flipped, size)  # not resampled: the source's own pixels
        last = self._premultiplied
        if last is None or last.source is not rgba or last.flipped != flipped:
            last = self._premultiplied = _Premultiplied.of(rgba, flipped)
        return last.resized(size)

    def _add(self, key: tuple, entry: _Packed) -> None:
        """Keep `entry` under `key` as the most recent, dropping the least recent beyond the limit (an entry
        larger than the limit by itself is not kept)."""
        if key in self._items:  # a stale entry under a reused id
            self.bytes -= self._items.pop(key).nbytes
        if entry.nbytes > self.limit:
            return
        self._items[key] = entry
        self.bytes += entry.nbytes
        while self.bytes > self.limit:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= dropped.nbytes

    def __len__(self) -> int:
        return len(self._items)


CUTOUTS = CutoutCache()
