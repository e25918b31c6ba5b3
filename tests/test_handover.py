"""The compact hand-over of the teacher's depth: quantised on the device with exactly quantize_depth's
bits, and shards built from it hold exactly the bytes they held when the workers quantised float maps."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from generator.config import BuildOptions, DepthPlan, TeacherSettings
from generator.engines.job import shard_table
from generator.pipeline.device_depth import quantize_on_device
from generator.pipeline.encode import quantize_depth
from generator.pipeline.handover import QuantizedDepth, stored_depth
from generator.pipeline.plan import plan_shards
from generator.pipeline.shard import make_context, shard_composites
from tests.conftest import generate
from tests.test_depth_model import TINY
from tests.test_generate import shard_hashes
from tests.tiny_models import save_tiny_depth_anything


def adversarial_maps() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (9, 13)
    halves = (np.arange(117, dtype=np.float32).reshape(shape) + np.float32(0.5))  # 65535/span = 1: ties
    halves[0, 0], halves[-1, -1] = 0.0, 65535.0
    near_ties = halves.copy()
    near_ties[1:-1] = np.nextafter(near_ties[1:-1], np.float32(np.inf))
    return [
        rng.normal(3.0, 2.0, shape).astype(np.float32),
        rng.uniform(-1e-30, 1e-30, shape).astype(np.float32),  # a tiny range
        rng.uniform(-1e38, 1e38, shape).astype(np.float32),  # a huge range, still finite after subtraction
        rng.uniform(1e6, 1e6 + 1, shape).astype(np.float32),  # a small range far from zero
        np.full(shape, 7.25, np.float32),  # constant
        np.zeros(shape, np.float32),
        np.where(rng.random(shape) < 0.5, np.float32(-2.0), np.float32(5.0)),  # two levels
        halves,
        near_ties,
        np.nextafter(halves, np.float32(-np.inf)),
        (rng.integers(0, 65536, shape) / np.float32(65535) * np.float32(3.7) + np.float32(0.1)).astype(np.float32),
    ]


@pytest.mark.parametrize("index", range(len(adversarial_maps())))
def test_quantize_on_device_equals_quantize_depth(index: int) -> None:
    depth = adversarial_maps()[index]
    maps, mins, maxs = quantize_on_device(torch.from_numpy(depth)[None])
    want, low, high = quantize_depth(depth)
    assert maps.dtype == torch.uint16 and mins.dtype == maxs.dtype == torch.float32
    np.testing.assert_array_equal(maps[0].numpy(), want)
    assert (float(mins[0]), float(maxs[0])) == (low, high)


def test_quantize_on_device_equals_quantize_depth_on_random_batches() -> None:
    rng = np.random.default_rng(1)
    for scale in (1e-6, 1.0, 80.0, 1e12):
        depth = (rng.standard_normal((16, 31, 29)) * scale + scale).astype(np.float32)
        quantized = QuantizedDepth(*(t.numpy() for t in quantize_on_device(torch.from_numpy(depth))))
        plain = QuantizedDepth.of(depth)
        np.testing.assert_array_equal(quantized.maps, plain.maps)
        np.testing.assert_array_equal(quantized.mins, plain.mins)
        np.testing.assert_array_equal(quantized.maxs, plain.maxs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_quantize_on_cuda_equals_quantize_depth() -> None:
    for depth in adversarial_maps():
        maps, mins, maxs = quantize_on_device(torch.from_numpy(depth)[None].cuda())
        want, low, high = quantize_depth(depth)
        np.testing.assert_array_equal(maps[0].cpu().numpy(), want)
        assert (float(mins[0]), float(maxs[0])) == (low, high)


def test_stored_depth_takes_quantised_rows_as_they_are() -> None:
    depth = np.stack(adversarial_maps()[:4])
    quantized = QuantizedDepth.of(depth)
    for i in range(len(depth)):
        stored = stored_depth(quantized, i)
        want = quantize_depth(depth[i])
        np.testing.assert_array_equal(stored.quantized, want[0])
        assert (stored.low, stored.high) == want[1:]
        from_floats = stored_depth(depth, i)  # float maps are quantised on the spot, to the same
        np.testing.assert_array_equal(from_floats.quantized, stored.quantized)
        assert (from_floats.low, from_floats.high) == (stored.low, stored.high)
    big = np.random.default_rng(3).random((4, 64, 64), dtype=np.float32)
    assert len(pickle.dumps(QuantizedDepth.of(big))) < big.nbytes * 0.51  # half the bytes of float32 maps


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("models") / "tiny")


def test_predict_quantized_equals_predict_quantised_map_by_map(teacher_folder) -> None:
    from generator.pipeline.teacher import DepthTeacher

    teacher = DepthTeacher.load(TeacherSettings(str(teacher_folder), device="cpu", batch_size=3))
    images = np.random.default_rng(2).integers(0, 256, (7, 40, 48, 3), dtype=np.uint8)
    plain = QuantizedDepth.of(teacher.predict(images))
    into = QuantizedDepth(np.zeros((7, 40, 48), np.uint16), np.zeros(7, np.float32), np.zeros(7, np.float32))
    for quantized in [teacher.predict_quantized(images), teacher.predict_quantized(images, into=into)]:
        np.testing.assert_array_equal(quantized.maps, plain.maps)
        np.testing.assert_array_equal(quantized.mins, plain.mins)
        np.testing.assert_array_equal(quantized.maxs, plain.maxs)
    assert quantized is into


def test_shards_from_quantised_maps_equal_shards_from_float_maps(teacher_folder) -> None:
    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=2, placements=2, bg_size=64, shard_size=8,
                           depth="model", depth_model=str(teacher_folder))
    context, teacher = make_context(options, DepthPlan.of(options, TeacherSettings(device="cpu")))
    for spec in plan_shards(context.grid, options)[:3]:
        composites = shard_composites(context, spec)
        floats = shard_table(context, spec, teacher.predict(composites))
        compact = shard_table(context, spec, teacher.predict_quantized(composites))
        assert compact.equals(floats)


def test_a_build_with_the_float_hand_over_has_the_same_bytes(teacher_folder, tmp_path, monkeypatch) -> None:
    args = [*TINY, "--depth", "model", "--depth-model", str(teacher_folder), "--workers", "2"]
    assert generate(tmp_path / "compact", *args) == 0
    from generator.pipeline.teacher import DepthTeacher

    # The float maps, as before.
    monkeypatch.setattr(DepthTeacher, "predict_quantized", lambda teacher, images, into=None, where=None: teacher.predict(images))
    assert generate(tmp_path / "float", *args) == 0
    assert shard_hashes(tmp_path / "compact") == shard_hashes(tmp_path / "float")
    for path in sorted((tmp_path / "compact" / "data").glob("*.parquet")):
        assert pq.read_table(path).column("depth").null_count == 0


def _opened_in_another_process(where):
    return where.open()


def _maps(count: int, seed: int) -> QuantizedDepth:
    rng = np.random.default_rng(seed)
    return QuantizedDepth(rng.integers(0, 65536, (count, 6, 5), dtype=np.uint16),
                          rng.random(count, dtype=np.float32), rng.random(count, dtype=np.float32) + 1)


def test_shared_blocks_hand_the_maps_over_exactly_and_are_reused() -> None:
    import multiprocessing
    from pathlib import Path

    from generator.engines.shared_depth import SharedDepth, SharedDepthBlocks

    blocks = SharedDepthBlocks(2)
    try:
        first, second = _maps(4, 0), _maps(3, 1)
        where = [blocks.handed(first), blocks.handed(second)]
        assert all(isinstance(w, SharedDepth) for w in where)
        third = _maps(2, 2)
        assert blocks.handed(third) is third  # both blocks are lent: handed over as they are
        with multiprocessing.get_context("forkserver").Pool(1) as pool:
            for sent, got in zip([first, second], pool.map(_opened_in_another_process, where)):
                for a, b in [(sent.maps, got.maps), (sent.mins, got.mins), (sent.maxs, got.maxs)]:
                    np.testing.assert_array_equal(a, b)
        blocks.release(where[0])
        again = blocks.handed(_maps(3, 3))  # fits the 4-row block just released
        assert isinstance(again, SharedDepth) and again.block == where[0].block
        np.testing.assert_array_equal(again.open().maps, _maps(3, 3).maps)
        blocks.release(where[1])
        lent = blocks.lend(2, 6, 5)  # written in place by the teacher, handed over without a copy
        lent.maps[:], lent.mins[:], lent.maxs[:] = _maps(2, 4).maps, 1.5, 2.5
        in_place = blocks.handed(lent)
        assert in_place.block == where[1].block
        np.testing.assert_array_equal(in_place.open().maps, _maps(2, 4).maps)
        lent.maps[0, 0, 0] = 12345  # the same memory: what the teacher writes is what the worker reads
        assert in_place.open().maps[0, 0, 0] == 12345
    finally:
        blocks.close()
    assert not [w for w in where if Path("/dev/shm", w.block).exists()]


def test_without_room_in_shared_memory_the_maps_are_handed_as_they_are(monkeypatch) -> None:
    import os

    from generator.engines.shared_depth import SharedDepthBlocks

    class Small:
        f_bavail, f_frsize = 100, 4096  # 400 KiB free: not twice what 4 blocks of 4 maps need

    monkeypatch.setattr(os, "statvfs", lambda folder: Small)
    maps = QuantizedDepth(np.zeros((4, 128, 128), np.uint16), np.zeros(4, np.float32), np.ones(4, np.float32))
    blocks = SharedDepthBlocks(4)
    assert blocks.handed(maps) is maps and blocks.lend(4, 128, 128) is None
    blocks.close()


def test_composites_written_over_an_earlier_shards_equal_fresh_ones() -> None:
    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=2, placements=3, bg_size=64, shard_size=10)
    context, _ = make_context(options, DepthPlan.of(options, None))
    specs = plan_shards(context.grid, options)
    earlier = shard_composites(context, specs[0])
    for spec in specs[1:]:
        fresh = shard_composites(context, spec)
        reused = shard_composites(context, spec, earlier)
        np.testing.assert_array_equal(reused, fresh)
        assert np.shares_memory(reused, earlier) == (len(fresh) <= len(earlier))


def test_the_teachers_process_keeps_freed_memory_for_the_next_shard() -> None:
    """A shard's arrays, held together and freed together shard after shard, take no fresh pages once
    freed memory is kept (by default glibc hands the freed top of its heap back every time)."""
    import subprocess
    import sys

    probe = """
import resource, sys, numpy as np
from generator.engines.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def shard():
    arrays = [np.ones(3 << 20, np.uint8) for _ in range(20)]  # 60 MB of group arrays
    del arrays
for _ in range(2):
    shard()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    shard()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    faults = {how: int(subprocess.run([sys.executable, "-c", probe, how], capture_output=True, text=True, check=True).stdout)
              for how in ("keep", "default")}
    assert faults["default"] > 100_000  # 10 x 60 MB in fresh 4 KiB pages: 153,600
    assert faults["keep"] < 10_000


def test_with_workers_the_teacher_writes_every_shard_into_shared_memory(teacher_folder, tmp_path, monkeypatch) -> None:
    """No shard's maps are made elsewhere and copied in: a block is free for the shard being labelled
    even while the engine holds as many shards as it can."""
    from generator.engines.shared_depth import SharedDepthBlocks

    handed, written_in_place = SharedDepthBlocks.handed, []

    def recording(self, depths):
        written_in_place.append(self._views.get(id(depths), (None, None))[1] is depths)
        return handed(self, depths)

    monkeypatch.setattr(SharedDepthBlocks, "handed", recording)
    assert generate(tmp_path / "ds", *TINY, "--depth", "model", "--depth-model", str(teacher_folder), "--workers", "2") == 0
    shards = len(list((tmp_path / "ds" / "data").glob("*.parquet")))
    assert shards > 2 * 2 and written_in_place == [True] * shards  # more shards than the 2 workers hold at once
