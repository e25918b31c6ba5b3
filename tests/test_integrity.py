"""A dataset's integrity across commands: per-shard statistics in the manifest, damaged shards and paths
leading out of OUT refused by every command, the manifest marked complete last, the gallery swapped in
whole, inputs known by content."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.cli import main
from generator.dataset import stats as stats_module
from generator.dataset.stats import shard_stats
from generator.output.model import stats_from_record, stats_record
from generator.pipeline.moments import DatasetStats
from tests.conftest import SMALL, SMALL_DATASET, generate, input_args

DEMO = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "3", "--bg-size", "64",
        "--shard-size", "8", "--no-progress"]


def files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "ds"
    assert generate(out, *DEMO, "--workers", "2") == 0
    return out


@pytest.fixture
def copy(demo, tmp_path) -> Path:
    shutil.copytree(demo, tmp_path / "ds")
    return tmp_path / "ds"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


# --- 1. per-shard statistics -----------------------------------------------------------------------------


def test_every_shard_records_its_exact_statistics(demo):
    manifest = manifest_of(demo)
    merged = DatasetStats()
    for shard in manifest["shards"]:
        recorded = shard["stats"]
        assert recorded == stats_record(shard_stats(demo, shard["path"], shard["config"])), shard["path"]
        assert all(isinstance(v, int) for kind in recorded["kinds"].values() for v in kind["sums"] + kind["squares"])
        merged.merge(stats_from_record(recorded))
    assert json.loads((demo / "stats.json").read_text()) == json.loads(json.dumps(merged.to_json()))


def test_recorded_statistics_do_not_depend_on_worker_count(demo, tmp_path):
    assert generate(tmp_path / "one", *DEMO, "--workers", "1") == 0
    assert [s["stats"] for s in manifest_of(tmp_path / "one")["shards"]] == [s["stats"] for s in manifest_of(demo)["shards"]]
    assert (tmp_path / "one" / "stats.json").read_bytes() == (demo / "stats.json").read_bytes()


def test_stats_merges_the_records_and_recompute_agrees(copy, monkeypatch, capsys):
    expected = (copy / "stats.json").read_bytes()
    (copy / "stats.json").unlink()
    with monkeypatch.context() as patched:
        patched.setattr(stats_module, "shard_stats", lambda *a: pytest.fail("stats decoded a shard"))
        assert main(["stats", str(copy), "--no-progress"]) == 0
    assert (copy / "stats.json").read_bytes() == expected
    before = (copy / "manifest.json").read_bytes()
    assert main(["stats", str(copy), "--recompute", "--no-progress"]) == 0
    assert "0 differed" in capsys.readouterr().out
    assert (copy / "stats.json").read_bytes() == expected and (copy / "manifest.json").read_bytes() == before


def test_stats_records_what_an_older_manifest_lacks(copy, capsys):
    manifest = manifest_of(copy)
    recorded = [shard.pop("stats") for shard in manifest["shards"]]
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert main(["stats", str(copy), "--no-progress"]) == 0
    assert [s["stats"] for s in manifest_of(copy)["shards"]] == recorded


def test_resumed_build_does_not_decode_kept_shards(copy, monkeypatch, capsys):
    from generator import build as build_module

    reference = files(copy)
    manifest = manifest_of(copy)
    manifest["complete"] = False
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (copy / manifest["shards"][0]["path"]).unlink()
    monkeypatch.setattr(build_module, "shard_stats", lambda *a: pytest.fail("a kept shard was decoded"))
    capsys.readouterr()
    assert generate(copy, *DEMO, "--workers", "1") == 0
    assert "kept" in capsys.readouterr().out
    assert files(copy) == reference


# --- 2. damaged shards are refused by the commands that rewrite a dataset ------------------------------


REWRITERS = [
    ["stats"], ["gallery"], ["card"], ["relabel-depth", "--depth-model", "unused-model"],
    ["push", "--repo-id", "org/name", "--dry-run"],
]


@pytest.mark.parametrize("command", REWRITERS, ids=lambda c: c[0])
def test_a_damaged_dataset_is_refused_in_one_line(copy, command, capsys):
    shard = copy / manifest_of(copy)["shards"][1]["path"]
    data = bytearray(shard.read_bytes())
    data[-20] ^= 1  # same size, one bit off
    shard.write_bytes(bytes(data))
    (copy / manifest_of(copy)["shards"][2]["path"]).unlink()
    before = files(copy)
    assert main([command[0], str(copy), *command[1:]]) == 2
    line = one_error_line(capsys)
    for shard_entry in manifest_of(copy)["shards"][1:3]:
        assert shard_entry["path"] in line
    assert "validate" in line and "generate" in line
    assert files(copy) == before


# --- 4. shard paths from the manifest stay inside OUT ----------------------------------------------------


def _point_first_shard_at(out: Path, path: str) -> None:
    manifest = manifest_of(out)
    manifest["shards"][0]["path"] = path
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize("command", [*REWRITERS, ["validate"]], ids=lambda c: c[0])
@pytest.mark.parametrize("how", ["parent", "absolute", "symlink"])
def test_shard_paths_outside_out_are_refused(copy, tmp_path, command, how, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.parquet").write_bytes(b"not yours")
    if how == "parent":
        _point_first_shard_at(copy, "../victim/important.parquet")
    elif how == "absolute":
        _point_first_shard_at(copy, str(victim / "important.parquet"))
    else:
        (copy / "data" / "link").symlink_to(victim, target_is_directory=True)
        _point_first_shard_at(copy, "data/link/important.parquet")
    assert main([command[0], str(copy), *command[1:]]) == 2
    assert "outside the dataset folder" in one_error_line(capsys)
    assert (victim / "important.parquet").read_bytes() == b"not yours"


def test_generate_resume_refuses_a_shard_path_outside_out(copy, tmp_path, capsys):
    manifest = manifest_of(copy)
    manifest["complete"] = False
    manifest["shards"][0]["path"] = "../victim/important.parquet"
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert generate(copy, *DEMO, "--workers", "1") == 2
    assert "outside the dataset folder" in one_error_line(capsys)


# --- 5. complete last; the gallery swapped in whole ------------------------------------------------------


def test_manifest_is_complete_only_after_stats_gallery_and_card(tmp_path, monkeypatch, capsys):
    import generator.build as build_module

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module, "write_card", fail)
    out = tmp_path / "ds"
    assert generate(out, *DEMO, "--workers", "1") == 1
    assert manifest_of(out)["complete"] is False
    assert (out / "stats.json").is_file() and list((out / "gallery").glob("*.png"))
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["validate", str(out)]) == 2 and "unfinished build" in one_error_line(capsys)
    assert generate(out, *DEMO, "--workers", "1") == 0
    assert manifest_of(out)["complete"] is True and (out / "README.md").is_file()


@pytest.mark.parametrize("state", ["filling new", "old moved aside", "new in, old left", "old aside, no new"])
def test_an_interrupted_gallery_swap_is_repaired_by_the_next_command(copy, state):
    gallery, new, old = copy / "gallery", copy / ".gallery.new", copy / ".gallery.old"
    pictures = sorted(p.name for p in gallery.iterdir())
    shutil.copytree(gallery, new)
    if state == "filling new":
        (new / "01-backgrounds.png").unlink()  # half drawn; the old gallery stays
    elif state == "old moved aside":
        gallery.rename(old)
    elif state == "new in, old left":
        shutil.copytree(gallery, old)
        shutil.rmtree(new)
    else:
        gallery.rename(old)
        shutil.rmtree(new)
    assert main(["validate", str(copy), "--no-progress"]) == 0
    assert sorted(p.name for p in gallery.iterdir()) == pictures
    assert not new.exists() and not old.exists()


def test_gallery_command_replaces_the_folder_whole(copy):
    (copy / "gallery" / "stale.png").write_bytes(b"from another build")
    assert main(["gallery", str(copy), "--no-progress"]) == 0
    assert not (copy / "gallery" / "stale.png").exists()
    assert not list(copy.glob(".gallery*"))


# --- 6. inputs known by content --------------------------------------------------------------------------


def test_changed_background_pixels_under_the_same_name_rebuild_its_shards(inputs, tmp_path, capsys):
    source = tmp_path / "inputs"
    for name in ("backgrounds", "foregrounds", "depths"):
        shutil.copytree(inputs[name], source / name)
    args = ["--backgrounds", str(source / "backgrounds"), "--foregrounds", str(source / "foregrounds"),
            "--background-depths", str(source / "depths"), *SMALL, "--image-format", "png", "--workers", "1"]
    out = tmp_path / "ds"
    assert generate(out, *args) == 0
    first = sorted((source / "backgrounds").iterdir())[0]
    pixels = np.asarray(Image.open(first).convert("RGB")).copy()
    pixels[:8, :8] = 255 - pixels[:8, :8]
    Image.fromarray(pixels).save(first)
    assert generate(out, *args) == 0
    assert "kept" not in capsys.readouterr().out
    assert generate(tmp_path / "fresh", *args) == 0
    parquet = lambda root: {k: v for k, v in files(root).items() if k.endswith(".parquet")}  # noqa: E731
    assert parquet(out) == parquet(tmp_path / "fresh")
    assert manifest_of(out)["inputs"]["background_sha256"][0][0] == hashlib.sha256(first.read_bytes()).hexdigest()


def test_unchanged_inputs_keep_their_shards(small_dataset, inputs, tmp_path, capsys):
    shutil.copytree(small_dataset, tmp_path / "ds")
    manifest = manifest_of(tmp_path / "ds")
    manifest["complete"] = False
    (tmp_path / "ds" / "manifest.json").write_text(json.dumps(manifest, indent=2))
    capsys.readouterr()
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, *SMALL_DATASET) == 0
    assert "kept" in capsys.readouterr().out
