"""A teacher whose output is not finite (NaN or infinity, as an fp16 overflow gives) stops generate and
relabel-depth with one line before the shard that would hold it is written; what was written stays valid
and the rerun finishes the dataset."""

from __future__ import annotations

import json
import warnings
import shutil

import numpy as np
import pytest
import torch

from generator.cli import main
from generator.pipeline.finite_depth import finite_ranges
from generator.pipeline.teacher import DepthTeacher
from tests.conftest import generate
from tests.test_generate import shard_hashes
from tests.tiny_models import save_tiny_depth_anything

TINY = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "3", "--bg-size", "64",
        "--shard-size", "8", "--no-progress", "--image-format", "png", "--workers", "1", "--batch-size", "8"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("models") / "tiny-depth-anything")


@pytest.fixture(scope="module")
def clean(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "ds"
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(model)) == 0
    return out


def nan_after(monkeypatch, good_calls: int, row: int = 1) -> None:
    """The model's raw output gets a NaN in one row of every forward call after the first `good_calls`."""
    forward = DepthTeacher.forward
    calls = []

    def overflowing(self, pixel_values):
        depth = forward(self, pixel_values)
        calls.append(1)
        if len(calls) > good_calls:
            depth = depth.clone()
            depth[min(row, len(depth) - 1), 0, 0] = torch.nan
        return depth

    monkeypatch.setattr(DepthTeacher, "forward", overflowing)


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


def test_finite_ranges_refuse_nan_infinity_and_a_span_beyond_float32():
    mins = np.array([0.0, np.nan, 0.0, -np.inf, -3e38, 1e20], np.float32)
    maxs = np.array([1.0, 1.0, np.inf, 0.0, 3e38, 1e20], np.float32)
    assert finite_ranges(mins, maxs).tolist() == [True, False, False, False, False, True]


def test_nan_from_the_teacher_stops_generate_before_its_shard_and_the_rerun_resumes(model, clean, tmp_path, monkeypatch, capsys):
    out = tmp_path / "ds"
    nan_after(monkeypatch, good_calls=2)  # the backgrounds, then the first shard
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(model)) == 2
    line = error_line(capsys)
    assert "not finite" in line and model.name in line and "row 1 of" in line and "shard" in line
    assert "use another depth model" in line  # fp32 already: half precision is not the cause
    written = shard_hashes(out)
    assert written and all(clean_hash == written[path] for path, clean_hash in shard_hashes(clean).items() if path in written)
    assert len([p for p in written if p.startswith("data/")]) == 1
    assert not list(out.rglob("*.parquet.tmp*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest.get("complete")
    assert not any(np.isnan(s.get("stats", {}).get("depth_min", 0)) for s in manifest.get("shards", []))
    monkeypatch.undo()
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(model)) == 0
    assert shard_hashes(out) == shard_hashes(clean)


def test_half_precision_overflow_suggests_fp32(model, tmp_path, monkeypatch, capsys):
    nan_after(monkeypatch, good_calls=0, row=2)
    assert generate(tmp_path / "ds", *TINY, "--depth", "scene", "--background-depth-model", str(model), "--dtype", "bf16") == 2
    line = error_line(capsys)
    assert "background room_2" in line and "--dtype fp32" in line
    assert not list((tmp_path / "ds").rglob("*.parquet"))


def test_nan_stops_relabel_depth_and_a_rerun_in_fp32_relabels_every_shard_again(model, clean, tmp_path, monkeypatch, capsys):
    reference, copy = tmp_path / "reference", tmp_path / "copy"
    shutil.copytree(clean, reference)
    shutil.copytree(clean, copy)
    assert main(["relabel-depth", str(reference), "--depth-model", str(model), "--dtype", "fp32", "--no-progress"]) == 0
    nan_after(monkeypatch, good_calls=2)  # two shards relabelled in bf16, then NaN
    relabel_bf16 = ["relabel-depth", str(copy), "--depth-model", str(model), "--dtype", "bf16", "--no-progress"]
    assert main(relabel_bf16) == 2
    line = error_line(capsys)
    assert "not finite" in line and "row 1 of data/" in line and "--dtype fp32" in line
    assert len(json.loads((copy / "manifest.json").read_text())["relabel"]["done"]) == 2
    monkeypatch.undo()
    assert main(["relabel-depth", str(copy), "--depth-model", str(model), "--dtype", "fp32", "--no-progress"]) == 0
    assert shard_hashes(copy) == shard_hashes(reference)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["complete"] and manifest["depth"]["teacher"]["dtype"] == "fp32"
    assert main(["validate", str(copy), "--no-progress"]) == 0


# --- extreme but finite depth: every reader copes ------------------------------------------------------


def extreme_rows(depth: torch.Tensor) -> torch.Tensor:
    """Each row of a batch its own extreme: flat at 1e20, 0 to 1e20, flat at 0, -1e30 to 1e30, 1e20 plus
    one representable step, and the model's own output."""
    ramp = torch.linspace(0, 1, depth[0].numel()).view_as(depth[0])
    kinds = [torch.full_like(ramp, 1e20), ramp * 1e20, torch.zeros_like(ramp), (ramp * 2 - 1) * 1e30,
             torch.where(ramp > 0.5, torch.nextafter(torch.tensor(1e20), torch.tensor(1e21)), torch.tensor(1e20))]
    return torch.stack([kinds[i] if i < len(kinds) else row for i, row in enumerate(depth.float())])


@pytest.mark.parametrize("make", [lambda depth: torch.full_like(depth, 1e20, dtype=torch.float32), extreme_rows],
                         ids=["every map flat at 1e20", "one extreme per row"])
def test_extreme_but_finite_depth_is_stored_and_every_reader_copes(model, tmp_path, monkeypatch, make):
    forward = DepthTeacher.forward
    monkeypatch.setattr(DepthTeacher, "forward", lambda self, pixel_values: make(forward(self, pixel_values)))
    out = tmp_path / "ds"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero in a histogram is a picture of NaN
        assert generate(out, *TINY, "--depth", "model", "--depth-model", str(model)) == 0
        for command in ("stats", "gallery", "card", "validate"):
            assert main([command, str(out)]) == 0, command
    # Every picture drawn: the depth ones among them (the demo's objects stand on its floor, so the
    # geometry and edges sheets are drawn too).
    drawn = {p.name for p in (out / "gallery").glob("*.png")}
    assert {"05-depth.png", "08-depth-distribution.png", "06b-geometry.png"} <= drawn and len(drawn) == 10


def test_histogram_bins_and_tick_labels_at_any_magnitude():
    from generator.dataset.drawing import nice_ticks, tick_text
    from generator.dataset.gallery import _bins

    f32 = np.float32
    for low, high in ((1e20, 1e20), (0.0, 0.0), (1e20, float(np.nextafter(1e20, 1e21))), (-1e30, 1e30), (0.0, 1e-30),
                      (f32(1e20), f32(1e20)), (f32(1e20), np.nextafter(f32(1e20), f32(1e21))), (f32(-3e38), f32(3e38))):
        edges = _bins(low, high)
        assert len(edges) == 61 and (np.diff(edges) > 0).all() and edges[0] == low
    assert _bins(1.0, 7.0).tolist() == np.linspace(1.0, 7.0, 61).tolist()  # ordinary ranges as they were
    assert _bins(f32(1.5), f32(7.25)).dtype == np.float32
    labels = [tick_text(value, step) for low, high in ((0, 1e20), (-1e30, 1e30), (0, 1e-30), (1e20, 1e20))
              for values, step in [nice_ticks(low, high, 5)] for value in values]
    assert all(len(label) <= 11 for label in labels), labels
    assert tick_text(2.5, 0.5) == "2.5" and tick_text(12_000, 2_000) == "12,000" and tick_text(1e20, 1e19) == "1.0e+20"
