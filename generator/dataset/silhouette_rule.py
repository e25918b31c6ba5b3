"""The rule that reproduces a row's `amodal_mask` from the foregrounds config, as the README states it:
the row's cut-out (by `fg_id`), flipped left-right when `flipped`, resized to (`w`, `h`) with LANCZOS, 255
where its alpha is at least 128 (with --soft-mask: its alpha resized with BILINEAR), placed with its
top-left at (`x`, `y`). `validate` checks every row against it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..output.reader import read_shard
from ..pipeline.composite import Cutout
from ..schema import FOREGROUNDS


@dataclass
class SilhouetteRule:
    cutouts: dict[int, np.ndarray]  # fg_id -> RGBA as stored in the foregrounds config
    soft: bool

    def __post_init__(self):
        # Rows repeat a cut-out at the same size across backgrounds: each size is resized once.
        self.placed = lru_cache(maxsize=4096)(self._placed)

    @classmethod
    def read(cls, out: Path, manifest: dict, readable: set[str]) -> "SilhouetteRule":
        """The cut-outs of the foregrounds config's `readable` shards; a damaged one is left out (the
        file and row checks name it) and its rows are not checked here."""
        cutouts = {}
        for shard in manifest["shards"]:
            if shard["config"] != FOREGROUNDS or shard["path"] not in readable:
                continue
            try:
                for r in read_shard(out, shard["path"], ["fg_id", "image"]).to_pylist():
                    with Image.open(io.BytesIO(r["image"]["bytes"])) as image:
                        cutouts[r["fg_id"]] = np.asarray(image.convert("RGBA"))
            except Exception:  # pyarrow and PIL raise many kinds on damaged bytes
                continue
        return cls(cutouts, bool(manifest["options"].get("soft_mask")))

    def _placed(self, fg_id: int, flipped: bool, w: int, h: int) -> np.ndarray:
        return Cutout.placed(self.cutouts[fg_id], flipped, (w, h), self.soft).mask

    def expected(self, r: dict, shape: tuple[int, int]) -> np.ndarray | None:
        """The row's whole silhouette by the rule, `shape` uint8; None when its cut-out is not at hand."""
        if r["fg_id"] not in self.cutouts or r["w"] < 1 or r["h"] < 1:
            return None
        x, y, w, h = r["x"], r["y"], r["w"], r["h"]
        # Drawn on a canvas with a margin of the box's size, so a box partly outside the image is cut, not refused.
        canvas = np.zeros((shape[0] + 2 * h, shape[1] + 2 * w), np.uint8)
        if -h <= y <= shape[0] and -w <= x <= shape[1]:
            canvas[y + h : y + 2 * h, x + w : x + 2 * w] = self.placed(r["fg_id"], bool(r["flipped"]), w, h)
        return canvas[h : h + shape[0], w : w + shape[1]]

    def differences(self, r: dict, amodal: np.ndarray, several: bool = False) -> int:
        """How many pixels of the stored `amodal_mask` differ from the rule's (0 when it cannot be drawn).
        `several`: the mask is the union of several objects' silhouettes, so it need only hold the row's own."""
        expected = self.expected(r, amodal.shape)
        if expected is None:
            return 0
        return int(np.count_nonzero(expected > amodal if several else expected != amodal))
