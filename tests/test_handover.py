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
        maps, low, high = stored_depth(quantized, i)
        want = quantize_depth(depth[i])
        np.testing.assert_array_equal(maps, want[0])
        assert (low, high) == want[1:]
    big = np.random.default_rng(3).random((4, 64, 64), dtype=np.float32)
    assert len(pickle.dumps(QuantizedDepth.of(big))) < big.nbytes * 0.51  # half the bytes of float32 maps


@pytest.fixture(scope="module")
def teacher_folder(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("models") / "tiny")


def test_predict_quantized_equals_predict_quantised_map_by_map(teacher_folder) -> None:
    from generator.pipeline.teacher import DepthTeacher

    teacher = DepthTeacher.load(TeacherSettings(str(teacher_folder), device="cpu", batch_size=3))
    images = np.random.default_rng(2).integers(0, 256, (7, 40, 48, 3), dtype=np.uint8)
    quantized = teacher.predict_quantized(images)
    plain = QuantizedDepth.of(teacher.predict(images))
    np.testing.assert_array_equal(quantized.maps, plain.maps)
    np.testing.assert_array_equal(quantized.mins, plain.mins)
    np.testing.assert_array_equal(quantized.maxs, plain.maxs)


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

    monkeypatch.setattr(DepthTeacher, "predict_quantized", DepthTeacher.predict)  # the float maps, as before
    assert generate(tmp_path / "float", *args) == 0
    assert shard_hashes(tmp_path / "compact") == shard_hashes(tmp_path / "float")
    for path in sorted((tmp_path / "compact" / "data").glob("*.parquet")):
        assert pq.read_table(path).column("depth").null_count == 0
