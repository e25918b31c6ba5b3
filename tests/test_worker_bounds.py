"""What a worker keeps between shards stays within its documented bound, however long the build: the
placed cut-outs' cache by its byte limit, every memo of the worker's code by its size."""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import pkgutil

import numpy as np
import pyarrow as pa

import generator.engines
import generator.pipeline
from generator.pipeline.scene import compose, several
from benchmarks.common import context_from_flags
from generator.config import BuildOptions
from generator.engines.shared_backgrounds import RECENT, SharedBackgrounds
from generator.pipeline.depth import SPLICEABLE_KEPT, ObjectDepth
from generator.pipeline.cutouts import CUTOUTS, DEFAULT_LIMIT, CutoutCache
from generator.pipeline.plan import Grid, ShardQueues, plan_shards, submission_order, worker_stretches
from tests.conftest import generate

# Floor placement sizes each cut-out by the depth it stands at: this build places about 100 cut-outs of
# about a KB each packed, so a 24 KB cache must drop entries many times over.
LIMIT = 24 << 10
DEMO = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "4", "--bg-size", "64", "--placements", "6",
        "--workers", "1", "--no-progress", "--no-gallery"]

# Memos with no size limit, and what bounds them instead.
UNSIZED_MEMOS = {"generator.pipeline.encode._jpeg_settings": "one entry a JPEG quality (1-100)"}


class RecordingCache(CutoutCache):
    """The worker's cache, remembering its largest size after any request."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.peak = 0

    def get(self, *args, **kwargs):
        cutout = super().get(*args, **kwargs)
        self.peak = max(self.peak, self.bytes)
        return cutout


def test_the_cutout_cache_of_a_worker_never_holds_more_than_its_limit(tmp_path, monkeypatch):
    cache = RecordingCache(LIMIT)
    for module in (compose, several):  # --workers 1 builds its shards in this process
        monkeypatch.setattr(module, "CUTOUTS", cache)
    assert generate(tmp_path / "ds", *DEMO) == 0
    assert cache.misses > 2 * len(cache)  # the working set did not fit: entries were dropped
    assert cache.peak <= LIMIT


def test_the_cache_counts_all_the_memory_its_entries_hold():
    """Its entries' pixels live in pyarrow's pool, in buffers of their packed size: what the pool holds for
    them is within what the limit counts (the codec's own buffer would be the unpacked size)."""
    rgba = np.zeros((90, 60, 4), np.uint8)
    rgba[10:80, 5:55] = (200, 120, 40, 255)  # a flat cut-out: packed, a small part of its pixels
    cache, before = CutoutCache(1 << 30), pa.total_allocated_bytes()
    cutouts = [cache.get(rgba, flipped, (w, w * 3 // 2), False) for flipped in (False, True) for w in (20, 37, 58)]
    held = pa.total_allocated_bytes() - before
    assert len(cache) == 6 and 0 < held <= cache.bytes < sum(c.rgba.nbytes for c in cutouts) // 4


def test_the_worker_cache_has_a_default_limit_independent_of_the_build():
    assert isinstance(compose.CUTOUTS, CutoutCache) and compose.CUTOUTS is CUTOUTS is several.CUTOUTS
    # The bound benchmarks/README.md sizes a worker's memory with: a fixed number of bytes, whatever the
    # number of foregrounds or samples, small next to the worker's own arrays.
    assert CUTOUTS.limit == DEFAULT_LIMIT and 0 < DEFAULT_LIMIT <= 48 << 20


def test_shards_are_built_a_run_of_foregrounds_at_a_time():
    # The 400,000-sample demo: 4 shards a background, each a quarter of the foregrounds.
    grid = Grid(backgrounds=100, foregrounds=100, flips=2, placements=20)
    shards = plan_shards(grid, BuildOptions())
    order = submission_order(grid, shards)
    assert sorted(order) == list(range(len(shards)))
    rows = [shards[i].rows for i in order]
    assert rows == sorted(rows, reverse=True)  # longest first: the short shards fill the end

    def foregrounds_met(positions):  # what 8 shards built one after another meet: the cache's working set
        return max(len(set(grid.decompose(np.concatenate([shards[i].samples for i in positions[j : j + 8]]))[1]))
                   for j in range(len(positions) - 8))

    assert foregrounds_met(list(range(len(shards)))) == 100  # in plan order, every foreground
    assert foregrounds_met(order) <= 50


def test_each_worker_builds_its_own_stretch_of_foregrounds():
    grid = Grid(backgrounds=100, foregrounds=100, flips=2, placements=20)
    shards = plan_shards(grid, BuildOptions())
    order = submission_order(grid, shards)
    assert worker_stretches(grid, shards, 1) == [order]
    for lanes in (2, 3, 16):
        stretches = worker_stretches(grid, shards, lanes)
        assert sum(stretches, []) == order  # consecutive stretches of the submission order
        rows = [sum(shards[i].rows for i in stretch) for stretch in stretches]
        assert max(rows) - min(rows) <= BuildOptions().shard_size

        def foregrounds(positions):
            return set(grid.decompose(np.concatenate([shards[i].samples for i in positions]))[1].tolist())

        # A worker building its stretch meets at most two runs of a quarter of the foregrounds; taking the
        # shards in turn, it would meet every foreground.
        assert max(len(foregrounds(stretch)) for stretch in stretches) <= 50
        assert len(foregrounds(order[::lanes])) == 100


def test_a_worker_takes_its_own_shards_then_the_last_of_the_longest_queue():
    queues = ShardQueues([[0, 1, 2], [3], []])
    assert [queues.take(1), queues.take(1), queues.take(2), queues.take(0), len(queues)] == [3, 2, 1, 0, 0]
    one = ShardQueues([[5, 6, 7]])  # one queue (a teacher labels in its order): every worker takes it in order
    assert [one.take(0), one.take(3), one.take(1)] == [5, 6, 7]


def test_the_loop_gives_each_worker_its_own_stretch(tmp_path):
    """Two lanes that finish their shards at different rates: each builds its own stretch until it is
    done, then takes the other's last shards; every shard once, results in shard order."""
    from generator.engines.loop import run_shards

    grid = Grid(backgrounds=8, foregrounds=8, flips=2, placements=5)
    shards = plan_shards(grid, BuildOptions(shard_size=40))
    stretches = worker_stretches(grid, shards, 2)

    class TwoLanes:
        name, lanes, capacity = "test", 2, 4

        def __init__(self):
            self.held, self.built, self.clock = [[], []], [[], []], 0

        @property
        def in_flight(self):
            return sum(map(len, self.held))

        def free_lane(self):
            return min(range(2), key=lambda lane: len(self.held[lane]))

        def submit(self, position, spec, depths, lane=0):
            self.held[lane].append(position)

        def wait(self):
            self.clock += 1
            lane = 0 if self.clock % 3 else 1  # lane 0 finishes twice as many shards
            lane = lane if self.held[lane] else 1 - lane
            position = self.held[lane].pop(0)
            self.built[lane].append(position)
            return [(position, position)]

        def depth_buffer(self, *size):
            return None

        def close(self, cancel):
            pass

    engine = TwoLanes()
    context = type("Context", (), {"grid": grid})()
    assert run_shards(engine, context, shards, progress=False) == list(range(len(shards)))
    fast, slow = engine.built
    assert fast[: len(stretches[0])] == stretches[0]  # its own stretch first, in order
    assert slow == stretches[1][: len(slow)]  # the slow lane builds only its own, in order
    assert set(fast[len(stretches[0]) :]) == set(stretches[1][len(slow) :])  # the rest taken from its end


def _demo_context(backgrounds: int):
    return context_from_flags([*DEMO, "--num-backgrounds", str(backgrounds)])


def test_workers_read_the_backgrounds_one_at_a_time_from_shared_memory(tmp_path):
    context = _demo_context(5)
    backgrounds = context.sources.backgrounds
    shared = SharedBackgrounds.write(backgrounds, folder=str(tmp_path))
    assert len(shared) == len(backgrounds) and len(list(tmp_path.iterdir())) == 1
    in_worker = pickle.loads(pickle.dumps(context.with_backgrounds(shared)))
    for bg_id in [0, 1, 0, 4, 2, 3, 3]:
        read, original = in_worker.sources.backgrounds[bg_id], backgrounds[bg_id]
        for name in ("rgb", "depth"):
            assert np.array_equal(getattr(read, name), getattr(original, name))
        assert np.array_equal(read.floor.plane, original.floor.plane) and read.intrinsics == original.intrinsics
        assert len(in_worker.sources.backgrounds._recent) <= RECENT
    assert in_worker.depth.backgrounds is in_worker.sources.backgrounds  # the scene's depth reads them too
    shared.remove()
    assert list(tmp_path.iterdir()) == []


def test_what_a_worker_is_given_does_not_grow_with_the_backgrounds(tmp_path):
    given = {}
    for count in (2, 6):
        context = _demo_context(count)
        shared = SharedBackgrounds.write(context.sources.backgrounds, folder=str(tmp_path))
        given[count] = len(pickle.dumps(context.with_backgrounds(shared)))
        shared.remove()
    assert given[6] - given[2] < 200  # their file's spans, not their pixels (about 20 KB each here)


def test_a_worker_keeps_the_spliceable_depth_of_its_last_backgrounds_only():
    context = _demo_context(5)
    stage = context.depth
    standing = ObjectDepth(0, 0, np.ones((2, 2), np.float32))
    mask = np.zeros((64, 64), np.uint8)
    for bg_id in range(5):
        stage(None, [mask], [bg_id], slice(0, 1), [standing])
        assert len(stage._spliceable) == min(bg_id + 1, SPLICEABLE_KEPT)


def test_a_pool_build_leaves_no_backgrounds_file(tmp_path):
    from generator.engines.shm import owner_prefix

    assert generate(tmp_path / "ds", *DEMO[:-4], "--workers", "2", "--shard-size", "12", "--no-progress", "--no-gallery") == 0
    assert not [name for name in os.listdir("/dev/shm") if name.startswith(owner_prefix())]


def _worker_modules():
    for package in (generator.pipeline, generator.engines):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith(".ray"):  # imports ray; its workers run the same pipeline code
                continue
            yield importlib.import_module(info.name)


def _memos():
    for module in _worker_modules():
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", None) == module.__name__:
                yield f"{module.__name__}.{name}", value
            if inspect.isclass(value) and value.__module__ == module.__name__:
                for attr, member in vars(value).items():
                    if hasattr(member, "cache_info"):
                        yield f"{module.__name__}.{name}.{attr}", member


def test_every_memo_of_the_worker_code_has_a_size_limit():
    memos = dict(_memos())
    assert "generator.pipeline.blend._sine_basis" in memos  # the search finds them
    unsized = {name for name, memo in memos.items() if memo.cache_parameters()["maxsize"] is None}
    assert unsized <= set(UNSIZED_MEMOS), f"memos with no size limit: {sorted(unsized - set(UNSIZED_MEMOS))}"


def test_build_memory_samples_every_process_of_a_build(tmp_path):
    from benchmarks.build_memory import measure

    build = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "4", "--bg-size", "64", "--placements", "6",
             "--shard-size", "12", "--workers", "2", "--no-progress", "--no-gallery", "--out", str(tmp_path / "ds")]
    result = measure(build, interval=0.05)
    assert result["returncode"] == 0
    roles = [p["role"] for p in result["processes"]]
    assert roles.count("main") == 1 and roles.count("fork server") == 1 and roles.count("worker") == 2
    peaks = [p["peak_bytes"] for p in result["processes"]]
    assert max(peaks) <= result["peak_total_bytes"] <= sum(peaks)
    assert result["cpu_s"] > 0
