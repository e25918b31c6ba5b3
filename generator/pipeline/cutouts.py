"""Placed cut-outs, cached per worker process.

Floor placement gives a cut-out its own size at every placement, and resizing it from the source is the
costliest step of a composite. The sizes repeat, though: objects meet the same depths on every background,
so a worker places each cut-out at about a hundred distinct sizes, and the whole working set of a full
build fits in the default limit. It must: once the cache starts dropping entries, every stage of a
worker's shards slows, far beyond what the extra resizes cost (the sizes and timings are in
benchmarks/README.md).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .composite import Cutout


class CutoutCache:
    """Cut-outs as placed (Cutout.placed), the least recently used dropped beyond `limit`
    bytes."""

    def __init__(self, limit: int = 1 << 30):
        self.limit, self.bytes = limit, 0
        self.misses = 0  # cut-outs prepared, not found: a build's working set is its first misses
        self._items: OrderedDict[tuple, tuple[np.ndarray, Cutout]] = OrderedDict()

    def get(self, rgba: np.ndarray, flipped: bool, size: tuple[int, int], soft_mask: bool) -> Cutout:
        """Cutout.placed(rgba, flipped, size, soft_mask), read-only: entries are shared."""
        key = (id(rgba), flipped, size, soft_mask)
        found = self._items.get(key)
        if found is not None and found[0] is rgba:  # the id of a freed array may be reused
            self._items.move_to_end(key)
            return found[1]
        self.misses += 1
        cutout = Cutout.placed(rgba, flipped, size, soft_mask)
        for array in (cutout.rgba, cutout.alpha, cutout.solid, cutout.mask):
            array.flags.writeable = False
        self._items[key] = (rgba, cutout)  # holding `rgba` keeps its id from being reused
        self.bytes += cutout.nbytes
        while self.bytes > self.limit and len(self._items) > 1:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped.nbytes
        return cutout

    def __len__(self) -> int:
        return len(self._items)


CUTOUTS = CutoutCache()
