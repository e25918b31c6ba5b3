"""The depth teacher inside the pipeline: --depth model, --background-depth-model, relabel-depth."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from generator.pipeline.depth import load_teacher, scene_depth
from generator.pipeline.encode import decode_depth
from generator.config import TeacherSettings
from tests.conftest import generate
from tests.test_generate import shard_hashes
from tests.tiny_models import save_tiny_depth_anything, save_tiny_glpn

TINY = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "3", "--bg-size", "64",
        "--shard-size", "8", "--no-progress", "--image-format", "png"]


@pytest.fixture(scope="module")
def relative_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "tiny-depth-anything"
    save_tiny_depth_anything(folder)
    return folder


@pytest.fixture(scope="module")
def metric_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "tiny-glpn"
    save_tiny_glpn(folder)
    return folder


@pytest.fixture(scope="module")
def model_dataset(relative_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "ds"
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(relative_model), "--workers", "1") == 0
    return out


def decoded_depth(row):
    return decode_depth(row["depth"], row["depth_min"], row["depth_max"])


def test_depth_model_labels_every_composite_with_the_teacher(model_dataset, relative_model):
    teacher = load_teacher(TeacherSettings(str(relative_model)))
    rows = list(datasets.load_dataset(str(model_dataset))["train"])
    expected = teacher.predict(np.stack([np.asarray(r["image"]) for r in rows]))
    for row, want in zip(rows, expected):
        span = row["depth_max"] - row["depth_min"]
        assert span > 0
        np.testing.assert_allclose(decoded_depth(row), want, atol=span / 65535 + 1e-6 * span)
    manifest = json.loads((model_dataset / "manifest.json").read_text())
    assert manifest["depth"]["teacher"]["model_type"] == "depth_anything"
    assert "larger is nearer" in manifest["depth"]["meaning"]
    assert "larger is nearer" in (model_dataset / "README.md").read_text()


def test_depth_model_shards_do_not_depend_on_worker_count(model_dataset, relative_model, tmp_path):
    assert generate(tmp_path / "ds", *TINY, "--depth", "model", "--depth-model", str(relative_model), "--workers", "2") == 0
    assert shard_hashes(tmp_path / "ds") == shard_hashes(model_dataset)


def test_backgrounds_config_carries_the_teachers_depth(model_dataset, relative_model):
    teacher = load_teacher(TeacherSettings(str(relative_model)))
    backgrounds = datasets.load_dataset(str(model_dataset), "backgrounds")["train"]
    row = backgrounds[0]
    want = teacher.predict(np.asarray(row["image"])[None])[0]
    np.testing.assert_allclose(decoded_depth(row), want, atol=(row["depth_max"] - row["depth_min"]) / 65535 * 1.01)


def test_background_depth_model_runs_once_per_background_with_the_scene_rule(metric_model, relative_model, tmp_path):
    for model, inverse in ((metric_model, False), (relative_model, True)):
        out = tmp_path / model.name
        assert generate(out, *TINY, "--depth", "scene", "--background-depth-model", str(model)) == 0
        backgrounds = {r["bg_id"]: decoded_depth(r) for r in datasets.load_dataset(str(out), "backgrounds")["train"]}
        for row in list(datasets.load_dataset(str(out))["train"])[:6]:
            background = backgrounds[row["bg_id"]]
            want = scene_depth(background, np.asarray(row["mask"]), inverse)
            span = row["depth_max"] - row["depth_min"]
            np.testing.assert_allclose(decoded_depth(row), want, atol=3 * span / 65535)
        meaning = json.loads((out / "manifest.json").read_text())["depth"]["meaning"]
        assert ("larger is nearer" in meaning) == inverse


def test_unavailable_model_is_one_line_naming_the_ways_out(capsys, tmp_path, hub_offline):
    assert generate(tmp_path / "ds", *TINY, "--depth", "model", "--depth-model", "no-such-org/no-such-model") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--depth scene" in err[0] and "local folder" in err[0]


def test_relabel_depth_rewrites_only_the_depth_columns(model_dataset, metric_model, relative_model, tmp_path):
    import shutil

    from generator.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(model_dataset, copy)
    before = {p: pq.read_table(p) for p in sorted((copy / "data").glob("*.parquet"))}
    assert main(["relabel-depth", str(copy), "--depth-model", str(metric_model), "--no-progress"]) == 0
    teacher = load_teacher(TeacherSettings(str(metric_model)))
    for path, old in before.items():
        new = pq.read_table(path)
        assert new.schema == old.schema
        for name in old.column_names:
            if name not in ("depth", "depth_min", "depth_max"):
                assert new.column(name).equals(old.column(name)), name
        assert not new.column("depth").equals(old.column("depth"))
    rows = list(datasets.load_dataset(str(copy))["test"])
    expected = teacher.predict(np.stack([np.asarray(r["image"]) for r in rows]))
    for row, want in zip(rows, expected):
        np.testing.assert_allclose(decoded_depth(row), want, atol=(row["depth_max"] - row["depth_min"]) / 65535 * 1.01)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["options"]["depth_model"] == metric_model.name and manifest["depth"]["relabelled"]
    assert {s["path"]: s["sha256"] for s in manifest["shards"]} == shard_hashes(copy)
    assert "metric depth in metres" in (copy / "README.md").read_text()
    from generator.dataset.stats import recompute

    assert json.loads((copy / "stats.json").read_text())["kinds"] == recompute(copy).to_json()["kinds"]
    # Relabelling with the original teacher restores the original shards: PNG composites are what it saw.
    assert main(["relabel-depth", str(copy), "--depth-model", str(relative_model), "--no-progress"]) == 0
    assert {k: v for k, v in shard_hashes(copy).items() if k.startswith("data/")} == {
        k: v for k, v in shard_hashes(model_dataset).items() if k.startswith("data/")
    }
