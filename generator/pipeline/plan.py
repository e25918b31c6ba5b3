"""Stage 2, placement plan: which samples exist, which split and shard each lands in, and where each
foreground goes under the uniform and ground rules (placement.py: on the floor of the scene).

Samples are numbered in one global order, background-major: index = ((bg * F + fg) * flips + flip) * K + k.
Everything here is a pure function of the options and those ids, so any shard can be rebuilt alone, by any
worker, in any order, and comes out byte-identical.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..config import BuildOptions
from ..rules import PlacementRule

# Fixed salts keep the random streams of different decisions independent of each other.
_SALT_SPLIT = 1
_SALT_PLACEMENT = 2

# With --placement ground the foreground's bottom edge lands in the lower part of the image, below this
# fraction of its height, so people stand on the floor instead of flying.
GROUND_TOP = 0.55


@dataclass(frozen=True)
class Grid:
    """The sizes of the sample space."""

    backgrounds: int
    foregrounds: int
    flips: int
    placements: int

    @property
    def total(self) -> int:
        return self.backgrounds * self.foregrounds * self.flips * self.placements

    def decompose(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Global sample index -> (bg_id, fg_id, flip, k) with k in 0..K-1."""
        k = index % self.placements
        rest = index // self.placements
        flip = rest % self.flips
        rest = rest // self.flips
        return rest // self.foregrounds, rest % self.foregrounds, flip, k


@dataclass(frozen=True)
class ShardSpec:
    """One output file: a contiguous run of its split's samples, in global order."""

    split: str
    index: int
    count: int
    samples: np.ndarray  # sorted global sample indices

    @property
    def rows(self) -> int:
        return len(self.samples)

    def row_name(self, row: int) -> str:
        """How a message names one of its rows."""
        return f"row {row} of {self.split} shard {self.index}"


@dataclass(frozen=True)
class Placement:
    """Where a cut-out's whole silhouette goes: the stored cut-out, flipped if so, resized to (w, h) with
    its top-left at (x, y). `contact`: the camera-frame point (metres) it stands on, for floor placements."""

    x: int  # left edge of the silhouette in the background
    y: int  # top edge
    scale: float  # max(w, h) / --fg-size
    w: int
    h: int
    contact: tuple[float, float, float] | None = None


def split_members(grid: Grid, options: BuildOptions) -> dict[str, np.ndarray]:
    """Sorted global sample indices per split; splits with no samples are left out."""
    rng = np.random.default_rng([options.seed, _SALT_SPLIT])
    everything = np.arange(grid.total, dtype=np.int64)
    bg, fg, _, _ = grid.decompose(everything)
    if options.split_by == "background":
        is_test = np.isin(bg, _test_ids(grid.backgrounds, options.test_fraction, rng))
    elif options.split_by == "foreground":
        is_test = np.isin(fg, _test_ids(grid.foregrounds, options.test_fraction, rng))
    else:
        is_test = np.isin(everything, _test_ids(grid.total, options.test_fraction, rng))
    members = {"train": everything[~is_test], "test": everything[is_test]}
    return {split: ids for split, ids in members.items() if ids.size}


def split_foregrounds(foregrounds: int, options: BuildOptions, fg_id: int) -> np.ndarray:
    """The foreground ids of `fg_id`'s split: where splits keep foregrounds apart, those on its side of
    the split (the draw split_members makes), else every foreground."""
    everything = np.arange(foregrounds, dtype=np.int64)
    if options.split_by != "foreground":
        return everything
    is_test = np.isin(everything, _test_ids(foregrounds, options.test_fraction, np.random.default_rng([options.seed, _SALT_SPLIT])))
    return everything[is_test == is_test[fg_id]]


def _test_ids(count: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded choice of round(count * fraction) ids, at least one when the fraction is positive, and
    never all of them, so both splits exist whenever they can."""
    if fraction <= 0 or count < 2:
        return np.empty(0, dtype=np.int64)
    n_test = min(max(1, round(count * fraction)), count - 1)
    return np.sort(rng.permutation(count)[:n_test])


def plan_shards(grid: Grid, options: BuildOptions) -> list[ShardSpec]:
    shards = []
    for split, members in split_members(grid, options).items():
        count = -(-members.size // options.shard_size)
        for index in range(count):
            chunk = members[index * options.shard_size : (index + 1) * options.shard_size]
            shards.append(ShardSpec(split, index, count, chunk))
    return shards


def submission_order(grid: Grid, shards: list[ShardSpec]) -> list[int]:
    """The order to build `shards` in (positions in the list): longest first (the short last shard of
    each split then fills the end instead of keeping the other workers waiting), and among them
    by their first foreground, so that the shards built one after another meet the same foregrounds on
    one background after another. Numbered background-major, a shard holds a run of foregrounds of one
    background: built in this order, the cut-outs a worker resizes repeat from shard to shard (the same
    foreground at the same size on another background), within the cut-out cache's bound, where in plan
    order the working set is every foreground's. (Replayed on the lookups of the 400,000-sample demo, the
    48 MB cache misses 121 of a shard's 830 in this order, 301 in plan order: cutouts.py.)"""
    first_fg = [int(grid.decompose(spec.samples[:1])[1][0]) if spec.rows else 0 for spec in shards]
    return sorted(range(len(shards)), key=lambda i: (-shards[i].rows, first_fg[i], i))


def worker_stretches(grid: Grid, shards: list[ShardSpec], lanes: int) -> list[list[int]]:
    """The shards (positions) meant for each of `lanes` workers that keep a cut-out cache each:
    submission_order cut into `lanes` consecutive stretches of about equal rows. A worker that builds its
    own stretch meets only its foregrounds, where workers taking the shards in turn would each meet every
    foreground and resize the same cut-outs (the 400,000-sample demo's replay,
    benchmarks/cutout_lookups.py: 121 misses a shard in turn, 81 by stretches)."""
    order = submission_order(grid, shards)
    total, done, stretches = sum(shards[i].rows for i in order), 0, [[] for _ in range(max(lanes, 1))]
    for position in order:
        stretches[min(done * len(stretches) // max(total, 1), len(stretches) - 1)].append(position)
        done += shards[position].rows
    return stretches


class ShardQueues:
    """The shards not yet submitted, a queue for each worker (worker_stretches'): a worker takes from its
    own, and once that is empty, from the end of the longest other (the shards its owner would reach
    last), so that no worker waits while shards are left."""

    def __init__(self, stretches: list[list[int]]):
        self._queues = [deque(stretch) for stretch in stretches]

    def __len__(self) -> int:
        return sum(map(len, self._queues))

    def take(self, lane: int) -> int:
        own = self._queues[lane % len(self._queues)]
        if own:
            return own.popleft()
        return max(self._queues, key=len).pop()


def placements(
    options: BuildOptions, bg_id: int, fg_id: int, flipped: bool, fg_shape: tuple[int, int]
) -> list[Placement]:
    """The K placements of one (background, foreground, flip) group: distinct positions, the foreground
    fully inside the background. A pure function of (seed, bg_id, fg_id, flipped)."""
    rng = np.random.default_rng([options.seed, _SALT_PLACEMENT, bg_id, fg_id, int(flipped)])
    jitter = options.scale_jitter
    scales = 1.0 + rng.uniform(-jitter, jitter, options.placements) if jitter else np.ones(options.placements)
    chosen: list[Placement] = []
    taken: set[tuple[int, int, float]] = set()
    for scale in scales:
        height, width = scaled_shape(fg_shape, float(scale))
        if not jitter:
            _check_positions(options, height, width)
        for _ in range(1000):
            x, y = draw_position(options, width, height, rng)
            if (x, y, float(scale)) not in taken:
                break
        else:
            raise UserError(f"could not find {options.placements} distinct positions for foreground {fg_id}")
        taken.add((x, y, float(scale)))
        chosen.append(Placement(x, y, float(scale), width, height))
    return chosen


def draw_position(options: BuildOptions, width: int, height: int, rng: np.random.Generator) -> tuple[int, int]:
    """A top-left (x, y) that keeps a (width, height) box inside the background, drawn by the placement
    rule asked for (`ground` keeps the bottom edge low)."""
    x_range, y_range = _position_ranges(options.bg_size, width, height, options.placement)
    return int(rng.integers(x_range)), int(rng.integers(y_range)) + (options.bg_size - height - y_range + 1)


def scaled_shape(fg_shape: tuple[int, int], scale: float) -> tuple[int, int]:
    height, width = fg_shape
    return max(1, round(height * scale)), max(1, round(width * scale))


def check_positions(options: BuildOptions, fg_shapes: list[tuple[int, int]]) -> None:
    """Refuse before any work a foreground with fewer distinct positions than --placements (without
    --scale-jitter, each of its placements has its own size)."""
    if not options.scale_jitter:
        for height, width in fg_shapes:
            _check_positions(options, height, width)


def _check_positions(options: BuildOptions, height: int, width: int) -> None:
    x_range, y_range = _position_ranges(options.bg_size, width, height, options.placement)
    if x_range * y_range < options.placements:
        raise UserError(
            f"only {x_range * y_range} distinct positions fit a {width}x{height} foreground on a {options.bg_size} px "
            f"background, fewer than --placements {options.placements}"
        )


def _position_ranges(size: int, width: int, height: int, rule: PlacementRule) -> tuple[int, int]:
    """How many left edges and top edges keep the box inside; for `ground`, top edges are limited to
    those that put the bottom edge below GROUND_TOP of the image. Top edges count up from the bottom."""
    x_range = size - width + 1
    y_range = size - height + 1
    if rule == PlacementRule.GROUND:
        lowest_bottom = int(np.ceil(GROUND_TOP * size))
        y_range = max(1, min(y_range, size - max(lowest_bottom, height) + 1))
    return x_range, y_range
