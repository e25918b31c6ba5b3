"""Pixel statistics of every kind of image in the dataset, accumulated while the shards are built.

Each kind keeps, per channel, the exact integer pixel count, sum and sum of squares of its stored values.
They merge by addition, so shards and workers merge in any order to the same integers, and the pooled mean
and standard deviation over ALL pixels come from exact integer arithmetic (no float cancellation, no
per-image averaging): stats.json is byte-identical whatever --workers is,
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

from ..schema import BACKGROUNDS

# Kinds, in the order stats.json and the card list them.
BACKGROUND, FOREGROUND, IMAGE, MASK, DEPTH = "background", "foreground", "image", "mask", "depth"
KINDS = (BACKGROUND, FOREGROUND, IMAGE, MASK, DEPTH)
CHANNELS = {BACKGROUND: "RGB", FOREGROUND: "RGB", IMAGE: "RGB", MASK: "L", DEPTH: "L"}
BITS = {DEPTH: 16}

# Mask coverage (fraction of the image inside the mask) is histogrammed over [0, 1] in this many bins.
COVERAGE_BINS = 100


@dataclass
class KindStats:
    """Exact per-channel pixel count, sum and sum of squares of the stored integer values (Python ints),
    image count, stored bytes and sizes of one kind."""

    channels: int
    scale: int  # 255, or 65535 for 16-bit depth
    count: int = 0
    bytes: int = 0
    sizes: set[tuple[int, int]] = field(default_factory=set)  # (width, height) seen
    pixels: int = 0
    sums: list[int] = field(default_factory=list)
    squares: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sums = self.sums or [0] * self.channels
        self.squares = self.squares or [0] * self.channels

    def add(self, pixels: np.ndarray, size: tuple[int, int], nbytes: int) -> None:
        """pixels: (..., channels) or (...) unsigned integers, already restricted to the counted ones."""
        flat = pixels.reshape(-1, self.channels)
        self.add_moments(flat.shape[0], *exact_moments(flat), size, nbytes)

    def add_histogram(self, histogram: list[int], size: tuple[int, int], nbytes: int) -> None:
        """An 8-bit image by its histogram (PIL's Image.histogram(): 256 counts per channel)."""
        if len(histogram) != 256 * self.channels:
            raise ValueError(f"a histogram of {len(histogram) // 256} channels for a kind of {self.channels}")
        sums, squares = histogram_moments(histogram)
        self.add_moments(sum(histogram[:256]), [int(v) for v in sums], [int(v) for v in squares], size, nbytes)

    def add_moments(self, pixels: int, sums: list[int], squares: list[int], size: tuple[int, int], nbytes: int) -> None:
        """One image by its pixel count and per-channel integer sums and sums of squares."""
        self.sums = [a + b for a, b in zip(self.sums, sums)]
        self.squares = [a + b for a, b in zip(self.squares, squares)]
        self.pixels += pixels
        self.count += 1
        self.bytes += nbytes
        self.sizes.add(size)

    def merge(self, other: "KindStats") -> None:
        self.sums = [a + b for a, b in zip(self.sums, other.sums)]
        self.squares = [a + b for a, b in zip(self.squares, other.squares)]
        self.pixels += other.pixels
        self.count += other.count
        self.bytes += other.bytes
        self.sizes |= other.sizes

    def summary(self) -> dict:
        n, scale = self.pixels, self.scale
        means, stds = [], []
        for total, squares in zip(self.sums, self.squares):
            if n == 0:
                means.append(0.0)
                stds.append(0.0)
                continue
            means.append(float(Fraction(total, n * scale)))
            # Population variance from exact integers, (n*Q - S^2) / (n^2 * scale^2): no cancellation.
            stds.append(math.sqrt(Fraction(n * squares - total * total, n * n * scale * scale)))
        return {
            "count": self.count,
            "bytes": self.bytes,
            "dimensions": dimensions_text(self.sizes),
            "pixels": n,
            "mean": means,
            "std": stds,
        }


_LEVELS = np.arange(256, dtype=np.int64)
_LEVELS_SQUARED = _LEVELS * _LEVELS


def histogram_moments(histogram: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel sums and sums of squares (int64 arrays) of an 8-bit image from PIL's
    Image.histogram() (256 counts per channel): one C pass over the pixels, faster than any numpy
    reduction of them. int64 is exact: a count of at most 2**31 pixels times 255**2 stays below 2**63."""
    counts = np.asarray(histogram, dtype=np.int64).reshape(-1, 256)
    return counts @ _LEVELS, counts @ _LEVELS_SQUARED


def exact_moments(flat: np.ndarray) -> tuple[list[int], list[int]]:
    """Exact integer sum and sum of squares per channel of (pixels, channels) unsigned integers.

    float64 is exact here: every value, square and partial sum is an integer below 2**53 (an image of
    fewer than 2**21 pixels of at most 65535**2 stays below it). One contiguous float plane per channel
    is faster than a histogram per channel; einsum, not @, because a BLAS call could spin threads that
    the worker processes need."""
    planes = np.ascontiguousarray(flat.T, dtype=np.float64)
    sums = planes.sum(axis=1)
    squares = np.einsum("ij,ij->i", planes, planes)
    return [int(v) for v in sums], [int(v) for v in squares]


@dataclass(frozen=True)
class MaskMoments:
    """Exact sum and sum of squares of a mask's values, and its area (non-zero pixels)."""

    sums: list[int]
    squares: list[int]
    area: int

    @classmethod
    def of(cls, mask: np.ndarray) -> "MaskMoments":
        sums, squares = exact_moments(mask.reshape(-1, 1))
        return cls(sums, squares, int(np.count_nonzero(mask)))


def dimensions_text(sizes: set[tuple[int, int]]) -> str:
    if not sizes:
        return ""
    if len(sizes) == 1:
        (w, h), = sizes
        return f"{w}x{h}"
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return f"{min(widths)}-{max(widths)} x {min(heights)}-{max(heights)}"


def new_kind(kind: str) -> KindStats:
    return KindStats(len(CHANNELS[kind]), (1 << BITS.get(kind, 8)) - 1)


@dataclass
class DatasetStats:
    """All kinds plus the mask-coverage histogram; what a shard returns and build.py merges. Also the
    labelled objects hidden entirely, left out of every label: a count of the build, not of the stored
    pixels, so the shard's manifest entry carries it (ShardRecord) rather than its statistics."""

    kinds: dict[str, KindStats] = field(default_factory=dict)
    coverage: np.ndarray = field(default_factory=lambda: np.zeros(COVERAGE_BINS, dtype=np.int64))
    hidden_objects: int = 0

    def kind(self, kind: str) -> KindStats:
        if kind not in self.kinds:
            self.kinds[kind] = new_kind(kind)
        return self.kinds[kind]

    # --- what the generator (and the recomputation) feeds in ---------------------------------------

    def add_rgb(self, kind: str, rgb: np.ndarray, nbytes: int) -> None:
        # PIL's histogram is one C pass over the pixels, faster than any numpy reduction of them.
        self.kind(kind).add_histogram(Image.fromarray(rgb, "RGB").histogram(), (rgb.shape[1], rgb.shape[0]), nbytes)

    def add_jpeg(self, kind: str, data: bytes, size: tuple[int, int]) -> None:
        """An RGB JPEG as a user decodes it, without keeping the pixels: the decoder fills a PIL image
        whose histogram is all the statistics need (and Image.frombytes skips Image.open's Python header
        parsing: libjpeg reads the header itself, and decodes the same pixels)."""
        image = Image.frombytes("RGB", size, data, "jpeg", "RGB", "")
        self.kind(kind).add_histogram(image.histogram(), size, len(data))

    def add_image_moments(self, kind: str, sums, squares, size: tuple[int, int], nbytes: int, pixels: int | None = None) -> None:
        """An image of `kind` by its exact per-channel integer sums and sums of squares (a composite's
        jpeg_splice.Moments, a stored depth map's depth_splice moments) over its `pixels` counted (all
        of them unless given: a depth map's holes are not counted, and their level 0 adds nothing)."""
        width, height = size
        count = width * height if pixels is None else pixels
        self.kind(kind).add_moments(count, [int(v) for v in sums], [int(v) for v in squares], size, nbytes)

    def add_foreground(self, rgba: np.ndarray, nbytes: int) -> None:
        self.kind(FOREGROUND).add(rgba[..., :3][rgba[..., 3] > 0], (rgba.shape[1], rgba.shape[0]), nbytes)

    def add_mask(self, mask: np.ndarray, nbytes: int, size: tuple[int, int] | None = None) -> None:
        """mask: the whole mask, or only a part outside which it is zero, with `size` the whole mask's
        (width, height): zeros add nothing to the sums, only to the pixel count."""
        self.add_mask_moments(MaskMoments.of(mask), nbytes, size or (mask.shape[1], mask.shape[0]))

    def add_mask_moments(self, moments: "MaskMoments", nbytes: int, size: tuple[int, int]) -> None:
        """A mask by its moments: a cut-out's mask is the same in each of its placements, so its moments
        are taken once (MaskMoments.of) and added for each."""
        width, height = size
        self.kind(MASK).add_moments(width * height, moments.sums, moments.squares, size, nbytes)
        # Integer binning of the exact area, so the streaming and recomputed histograms agree bit for bit.
        self.coverage[min(moments.area * COVERAGE_BINS // (width * height), COVERAGE_BINS - 1)] += 1

    def add_depth(self, depth_png: np.ndarray, nbytes: int, known: np.ndarray | None = None) -> None:
        """A stored depth map; `known`: its `depth_known` mask, whose holes are not counted."""
        pixels = depth_png if known is None else depth_png[known > 0]
        self.kind(DEPTH).add(pixels, (depth_png.shape[1], depth_png.shape[0]), nbytes)

    def merge(self, other: "DatasetStats") -> "DatasetStats":
        for name, stats in other.kinds.items():
            self.kind(name).merge(stats)
        self.coverage += other.coverage
        self.hidden_objects += other.hidden_objects
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


# --- from a just-encoded input config table -------------------------------------------------------


def input_table_stats(config: str, table) -> DatasetStats:
    """Statistics of a backgrounds or foregrounds table from its stored (just encoded) bytes."""
    stats = DatasetStats()
    for cell in table.column("image").to_pylist():
        pixels = decode(cell["bytes"])
        if config == BACKGROUNDS:
            stats.add_rgb(BACKGROUND, pixels, len(cell["bytes"]))
        else:
            stats.add_foreground(pixels, len(cell["bytes"]))
    return stats
