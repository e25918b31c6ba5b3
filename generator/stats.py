"""Pixel statistics of every kind of image in the dataset, accumulated while the shards are built.

Each kind keeps an exact histogram of its stored pixel values per channel (256 bins for 8-bit images,
65536 for 16-bit depth). Histograms merge by addition, so shards and workers merge in any order to the
same integers, and the pooled mean and standard deviation over ALL pixels are computed from exact integer
sums (no float cancellation, no per-image averaging): stats.json is byte-identical whatever --workers is,
and a recomputation from the decoded shards (`mono-depth-mask stats`) gives the same file.

Values are scaled to [0, 1]: 8-bit / 255, depth PNG / 65535 (the per-image normalised depth, see
encode.py). Composites and backgrounds are counted as a user decodes them (JPEG decoded back), masks and
depth are lossless so the arrays are the stored values. Foreground colour is counted over the cut-out's
pixels with alpha > 0 only (the transparent ones carry no colour).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from PIL import Image

# Kinds, in the order stats.json and the card list them.
BACKGROUND, FOREGROUND, IMAGE, MASK, DEPTH = "background", "foreground", "image", "mask", "depth"
KINDS = (BACKGROUND, FOREGROUND, IMAGE, MASK, DEPTH)
CHANNELS = {BACKGROUND: "RGB", FOREGROUND: "RGB", IMAGE: "RGB", MASK: "L", DEPTH: "L"}
BITS = {DEPTH: 16}

# Mask coverage (fraction of the image inside the mask) is histogrammed over [0, 1] in this many bins.
COVERAGE_BINS = 100


@dataclass
class KindStats:
    """Exact per-channel value histogram, image count, stored bytes and size range of one kind."""

    channels: int
    levels: int
    count: int = 0
    bytes: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)  # (width, height) seen
    histogram: np.ndarray | None = None  # (channels, levels) int64

    def __post_init__(self) -> None:
        if self.histogram is None:
            self.histogram = np.zeros((self.channels, self.levels), dtype=np.int64)

    def add(self, pixels: np.ndarray, size: tuple[int, int], nbytes: int) -> None:
        """pixels: (..., channels) or (...) unsigned integers, already restricted to the counted ones."""
        flat = pixels.reshape(-1, self.channels)
        # One bincount over channel-offset values: a single pass, however many channels.
        index = flat.astype(np.intp) + np.arange(self.channels, dtype=np.intp) * self.levels
        self.histogram += np.bincount(index.ravel(), minlength=self.channels * self.levels).reshape(self.channels, self.levels)
        self.count += 1
        self.bytes += nbytes
        self.sizes.add(size)

    def merge(self, other: "KindStats") -> None:
        self.histogram += other.histogram
        self.count += other.count
        self.bytes += other.bytes
        self.sizes |= other.sizes

    def summary(self) -> dict:
        scale = self.levels - 1
        values = np.arange(self.levels, dtype=object)  # Python ints: sums of squares overflow int64 at scale
        means, stds, pixels = [], [], []
        for counts in self.histogram.astype(object):
            n = int(counts.sum())
            total = int(np.dot(counts, values))
            squares = int(np.dot(counts, values * values))
            pixels.append(n)
            if n == 0:
                means.append(0.0)
                stds.append(0.0)
                continue
            means.append(float(Fraction(total, n * scale)))
            # Population variance from exact integers: (n*Q - S^2) / (n^2 * scale^2).
            stds.append(math.sqrt(Fraction(n * squares - total * total, n * n * scale * scale)))
        return {
            "count": self.count,
            "bytes": self.bytes,
            "dimensions": dimensions_text(self.sizes),
            "pixels": pixels,
            "mean": means,
            "std": stds,
        }


def dimensions_text(sizes: set[tuple[int, int]]) -> str:
    if not sizes:
        return ""
    if len(sizes) == 1:
        (w, h), = sizes
        return f"{w}x{h}"
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return f"{min(widths)}-{max(widths)} x {min(heights)}-{max(heights)}"


def new_kind(kind: str) -> KindStats:
    return KindStats(len(CHANNELS[kind]), 1 << BITS.get(kind, 8))


@dataclass
class DatasetStats:
    """All kinds plus the mask-coverage histogram; what a shard returns and build.py merges."""

    kinds: dict[str, KindStats] = field(default_factory=dict)
    coverage: np.ndarray = field(default_factory=lambda: np.zeros(COVERAGE_BINS, dtype=np.int64))

    def kind(self, kind: str) -> KindStats:
        if kind not in self.kinds:
            self.kinds[kind] = new_kind(kind)
        return self.kinds[kind]

    # --- what the generator (and the recomputation) feeds in ---------------------------------------

    def add_rgb(self, kind: str, rgb: np.ndarray, nbytes: int) -> None:
        self.kind(kind).add(rgb, (rgb.shape[1], rgb.shape[0]), nbytes)

    def add_foreground(self, rgba: np.ndarray, nbytes: int) -> None:
        self.kind(FOREGROUND).add(rgba[..., :3][rgba[..., 3] > 0], (rgba.shape[1], rgba.shape[0]), nbytes)

    def add_mask(self, mask: np.ndarray, nbytes: int) -> None:
        self.kind(MASK).add(mask, (mask.shape[1], mask.shape[0]), nbytes)
        # Integer binning of the exact area, so the streaming and recomputed histograms agree bit for bit.
        area = int(np.count_nonzero(mask))
        self.coverage[min(area * COVERAGE_BINS // mask.size, COVERAGE_BINS - 1)] += 1

    def add_depth(self, depth_png: np.ndarray, nbytes: int) -> None:
        self.kind(DEPTH).add(depth_png, (depth_png.shape[1], depth_png.shape[0]), nbytes)

    def merge(self, other: "DatasetStats") -> "DatasetStats":
        for name, stats in other.kinds.items():
            self.kind(name).merge(stats)
        self.coverage += other.coverage
        return self

    def to_json(self) -> dict:
        kinds = {}
        for name in KINDS:
            if name in self.kinds:
                kinds[name] = {"channels": CHANNELS[name], **self.kinds[name].summary()}
        return {
            "kinds": kinds,
            "mask_coverage": {"bins": COVERAGE_BINS, "range": [0.0, 1.0], "counts": self.coverage.tolist()},
            "notes": {
                "scale": "8-bit values / 255; depth: the stored 16-bit PNG / 65535 (normalised per image)",
                "pooling": "mean and std over all pixels of all images of a kind (population std)",
                "image": "composites as decoded from the stored bytes (JPEG decoded back)",
                "background": "the backgrounds config's images (one per row of each split)",
                "foreground": "RGB of the cut-outs' pixels with alpha > 0 only",
                "mask_coverage": "fraction of each composite's pixels inside the mask, all rows",
            },
        }


def decode(data: bytes) -> np.ndarray:
    """Stored image bytes -> the array a user gets (uint8, or uint16 for 16-bit PNG)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode in ("I;16", "I;16B", "I"):
            return np.asarray(image).astype(np.uint16)
        return np.asarray(image)


# --- from stored tables: the input configs while generating, and every config for `stats` -------------


def input_table_stats(config: str, table) -> DatasetStats:
    """Statistics of a backgrounds or foregrounds table from its stored (just encoded) bytes."""
    from .schema import BACKGROUNDS

    stats = DatasetStats()
    for cell in table.column("image").to_pylist():
        pixels = decode(cell["bytes"])
        if config == BACKGROUNDS:
            stats.add_rgb(BACKGROUND, pixels, len(cell["bytes"]))
        else:
            stats.add_foreground(pixels, len(cell["bytes"]))
    return stats


def fg_bg_table_stats(table) -> DatasetStats:
    """Statistics of an fg_bg shard recomputed from its stored bytes (the `stats` command)."""
    stats = DatasetStats()
    images, masks = table.column("image").to_pylist(), table.column("mask").to_pylist()
    depths = table.column("depth").to_pylist()
    for image, mask, depth in zip(images, masks, depths):
        stats.add_rgb(IMAGE, decode(image["bytes"]), len(image["bytes"]))
        stats.add_mask(decode(mask["bytes"]), len(mask["bytes"]))
        if depth is not None:
            stats.add_depth(decode(depth["bytes"]), len(depth["bytes"]))
    return stats


def recompute(out, progress: bool = False) -> DatasetStats:
    """The statistics of a built dataset from its shards alone (after a relabel, or a dataset built
    elsewhere); equal to the ones accumulated while generating."""
    from pathlib import Path

    import pyarrow.parquet as pq
    from tqdm import tqdm

    from .manifest import load_manifest
    from .schema import FG_BG

    out = Path(out)
    stats = DatasetStats()
    shards = load_manifest(out)["shards"]
    for shard in tqdm(shards, desc="stats", unit="shard", disable=not progress, dynamic_ncols=True):
        table = pq.read_table(out / shard["path"])
        stats.merge(fg_bg_table_stats(table) if shard["config"] == FG_BG else input_table_stats(shard["config"], table))
    return stats
