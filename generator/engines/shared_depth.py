"""The teacher's quantised depth maps handed to worker processes through shared memory. Pickled, a shard's
maps (100 MB at 1,000 rows of 224 px) are copied into a pickle, piped in 64 KiB writes, read and copied
again between the two processes, on pages taken fresh for every shard. Here the teacher writes them into a block that the workers map (`lend`; maps made elsewhere are
copied into one, `handed`), and a block is reused once the shard that read it is published, so after the
first shards neither side takes new pages.

Blocks are named after their owner, so that the next build removes those of a build killed whole (shm.py).
Where /dev/shm is too small for the blocks (a container's 64 MB default), the maps are pickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from ..pipeline.handover import QuantizedDepth
from .shm import SHM_FOLDER, block_name


@dataclass(frozen=True)
class SharedDepth:
    """Where a shard's maps lie: what crosses to the worker instead of the maps. In the block, the uint16
    maps, then the float32 minimums, then the maximums."""

    block: str
    count: int
    height: int
    width: int

    @property
    def nbytes(self) -> int:
        return self.count * (self.height * self.width * 2 + 8)

    def view(self, buffer: memoryview) -> QuantizedDepth:
        maps_end = self.count * self.height * self.width * 2
        return QuantizedDepth(
            np.ndarray((self.count, self.height, self.width), np.uint16, buffer, 0),
            np.ndarray((self.count,), np.float32, buffer, maps_end),
            np.ndarray((self.count,), np.float32, buffer, maps_end + 4 * self.count),
        )

    def open(self) -> QuantizedDepth:
        """In a worker: the maps, read in place."""
        return self.view(_attached(self.block).buf)


# A worker's mappings, kept open: a reused block is then not mapped (and its pages faulted in) again.
_ATTACHED: dict[str, shared_memory.SharedMemory] = {}


def _attached(name: str) -> shared_memory.SharedMemory:
    if name not in _ATTACHED:
        _ATTACHED[name] = shared_memory.SharedMemory(name)
    return _ATTACHED[name]


class SharedDepthBlocks:
    """The teacher's side: at most `blocks` shards' maps in shared memory at once (one per shard in
    flight), each block reused once its shard is published; all unlinked at `close`."""

    def __init__(self, blocks: int, folder: str = SHM_FOLDER):
        self.blocks, self.folder = blocks, folder
        self._free: list[shared_memory.SharedMemory] = []
        self._lent: dict[str, shared_memory.SharedMemory] = {}
        self._views: dict[int, tuple[SharedDepth, QuantizedDepth]] = {}  # lent, not yet handed over

    def lend(self, count: int, height: int, width: int) -> QuantizedDepth | None:
        """Arrays in a free block for `count` maps, for the teacher to write into; None where no block
        can take them."""
        block = self._block(SharedDepth("", count, height, width).nbytes)
        if block is None:
            return None
        where = SharedDepth(block.name, count, height, width)
        view = where.view(block.buf)
        self._lent[block.name] = block
        self._views[id(view)] = where, view
        return view

    def handed(self, depths: QuantizedDepth) -> SharedDepth | QuantizedDepth:
        """What crosses to the worker for `depths`: the block it was written in when lent from here, else
        a copy in a free block, else `depths` itself."""
        where, view = self._views.pop(id(depths), (None, None))
        if view is depths:
            return where
        copy = self.lend(*depths.maps.shape)
        if copy is None:
            return depths
        np.copyto(copy.maps, depths.maps)
        np.copyto(copy.mins, depths.mins)
        np.copyto(copy.maxs, depths.maxs)
        return self._views.pop(id(copy))[0]

    def release(self, depths: SharedDepth | QuantizedDepth | None) -> None:
        """The shard that read `depths` is published: its block can take the next shard's maps."""
        if isinstance(depths, SharedDepth):
            self._free.append(self._lent.pop(depths.block))

    def close(self) -> None:
        self._views = {}
        for block in [*self._free, *self._lent.values()]:
            try:
                block.close()
            except BufferError:  # a view still held (a cancelled build): the mapping goes with the process
                pass
            block.unlink()
        self._free, self._lent = [], {}

    def _block(self, size: int) -> shared_memory.SharedMemory | None:
        fitting = [b for b in self._free if b.size >= size]
        if fitting:
            self._free.remove(fitting[0])
            return fitting[0]
        if len(self._free) + len(self._lent) >= self.blocks or not self._room_for(size):
            return None
        return shared_memory.SharedMemory(block_name(), create=True, size=size)

    def _room_for(self, size: int) -> bool:
        """Whether all the blocks could be this large with half of /dev/shm still free: a full tmpfs
        would kill the process writing a block (SIGBUS) instead of failing the write."""
        try:
            stats = os.statvfs(self.folder)
        except OSError:
            return False
        free = stats.f_bavail * stats.f_frsize
        return self.blocks * size <= free // 2
