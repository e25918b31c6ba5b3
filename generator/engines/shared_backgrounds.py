"""The backgrounds as the pool's workers see them: read one at a time from a file in /dev/shm.

Pickled into each worker with the build's context, every background (its picture, depth and floor, about
0.45 MB at 224 px) would live in every worker for the whole build, and a worker's memory would grow with
the number of backgrounds (46 MB more at 100 than at 4). Here the main process pickles each background
once into a file in /dev/shm (memory, not disk, counted once for the machine), and a worker reads a
background when its shards meet it and keeps the last RECENT: numbered background-major, a shard meets
its backgrounds one run after another, so a worker holds one or two, whatever the build.

The file is named after its owner (shm.py), so the next build removes that of a build killed whole. Where
there is no /dev/shm, or too little room in it, the workers get the backgrounds themselves, as pickled.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from itertools import accumulate
from typing import Sequence

from ..pipeline.sources import Background
from .shm import SHM_FOLDER, block_name

RECENT = 2


class SharedBackgrounds(Sequence[Background]):
    """`len` and `[bg_id]` as the list of backgrounds they were written from: the last RECENT read are
    kept, any other is read from the file afresh."""

    def __init__(self, path: str, spans: list[tuple[int, int]]):
        self.path, self.spans = path, spans
        self._recent: OrderedDict[int, Background] = OrderedDict()

    @classmethod
    def write(cls, backgrounds: Sequence[Background], folder: str = SHM_FOLDER) -> "SharedBackgrounds | None":
        """The backgrounds pickled into a new file in `folder`; None where that cannot be done."""
        pickled = [pickle.dumps(background, protocol=pickle.HIGHEST_PROTOCOL) for background in backgrounds]
        path = os.path.join(folder, block_name())
        try:
            stats = os.statvfs(folder)
            if sum(map(len, pickled)) > stats.f_bavail * stats.f_frsize // 2:  # room left for the shard blocks
                return None
            with open(path, "xb") as file:
                file.writelines(pickled)
        except OSError:
            _remove(path)  # nothing half-written stays
            return None
        ends = list(accumulate(map(len, pickled)))
        return cls(path, list(zip([0, *ends[:-1]], ends)))

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, bg_id: int) -> Background:  # type: ignore[override]
        if bg_id in self._recent:
            self._recent.move_to_end(bg_id)
            return self._recent[bg_id]
        start, end = self.spans[bg_id]
        with open(self.path, "rb") as file:
            background = pickle.loads(os.pread(file.fileno(), end - start, start))
        self._recent[bg_id] = background
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        return background

    def remove(self) -> None:
        _remove(self.path)

    def __getstate__(self) -> dict:
        return {"path": self.path, "spans": self.spans, "_recent": OrderedDict()}


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
