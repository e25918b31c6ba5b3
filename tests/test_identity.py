"""One dataset, one recipe: everything that changes an output byte is compared on resume (the options, the
teacher's resolved run settings, the code's format version); one typed manifest, checked field by field;
one integrity check for every command; no file under the dataset's folders that the manifest does not
list is kept silently; the `datasets` builder's cache keyed by its inputs' content."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator.cli import main
from generator.output import reader
from generator.output.model import FORMAT, FORMAT_VERSION
from tests.conftest import generate
from tests.tiny_models import save_tiny_depth_anything

DEMO = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "3", "--bg-size", "64",
        "--shard-size", "8", "--no-progress", "--image-format", "png", "--workers", "1", "--no-gallery"]


def files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def write_manifest(out: Path, manifest: dict) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("identity") / "ds"
    assert generate(out, *DEMO) == 0
    return out


@pytest.fixture
def copy(demo, tmp_path) -> Path:
    shutil.copytree(demo, tmp_path / "ds")
    return tmp_path / "ds"


# --- the teacher's resolved settings are part of the dataset ----------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_depth_anything(tmp_path_factory.mktemp("model") / "tiny")


TEACHER = ["--depth", "model", "--device", "cpu", "--dtype", "fp32", "--batch-size", "4"]


@pytest.fixture(scope="module")
def labelled(model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("labelled") / "ds"
    assert generate(out, *DEMO, *TEACHER, "--depth-model", str(model)) == 0
    return out


def _interrupted(labelled: Path, tmp_path: Path) -> Path:
    """A copy of the teacher's dataset as a killed build leaves it: unfinished, one shard not yet written."""
    out = tmp_path / "ds"
    shutil.copytree(labelled, out)
    manifest = manifest_of(out)
    manifest["complete"] = False
    last = manifest["shards"].pop(0)
    (out / last["path"]).unlink()
    write_manifest(out, manifest)
    return out


def test_the_manifest_records_the_teachers_resolved_run(labelled):
    run = manifest_of(labelled)["teacher_run"]
    assert run == {"device": "cpu", "dtype": "fp32", "batch_size": 4, "torch_threads": torch.get_num_threads()}


@pytest.mark.parametrize("change, named", [(["--dtype", "bf16"], "dtype"), (["--batch-size", "3"], "batch_size")])
def test_resuming_with_another_teacher_setting_is_another_dataset(labelled, model, tmp_path, change, named, capsys):
    out = _interrupted(labelled, tmp_path)
    before = files(out)
    args = [*DEMO, *TEACHER, "--depth-model", str(model), *change]
    assert generate(out, *args) == 2
    line = one_error_line(capsys)
    assert named in line and "--overwrite" in line
    assert files(out) == before
    assert generate(out, *args, "--overwrite") == 0
    assert "kept" not in capsys.readouterr().out
    assert manifest_of(out)["teacher_run"][named] == ("bf16" if named == "dtype" else 3)
    assert main(["validate", str(out), "--no-progress"]) == 0


def test_another_torch_thread_count_on_cpu_is_another_dataset(labelled, model, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(labelled, out)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert generate(out, *DEMO, *TEACHER, "--depth-model", str(model)) == 2
    finally:
        torch.set_num_threads(threads)
    assert "torch_threads" in one_error_line(capsys)
    assert generate(out, *DEMO, *TEACHER, "--depth-model", str(model)) == 0
    assert capsys.readouterr().out.startswith("nothing to do")


def test_relabel_records_its_run_and_restarts_on_other_settings(labelled, model, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(labelled, out)
    assert main(["relabel-depth", str(out), "--depth-model", str(model), "--batch-size", "5", "--no-progress"]) == 0
    manifest = manifest_of(out)
    assert manifest["teacher_run"]["batch_size"] == 5
    # An interrupted relabel with batches of 5 rerun with batches of 3 relabels every shard again with 3:
    # no dataset mixes shards of two settings.
    target = {"model": str(model), "teacher": manifest["depth"]["teacher"], "teacher_run": manifest["teacher_run"]}
    done = {s["path"]: {k: s[k] for k in ("bytes", "sha256")} for s in manifest["shards"][:1]}
    manifest.update(complete=False, relabel={"target": target, "done": done})
    write_manifest(out, manifest)
    assert main(["relabel-depth", str(out), "--depth-model", str(model), "--batch-size", "3", "--no-progress"]) == 0
    manifest = manifest_of(out)
    assert manifest["complete"] and manifest["teacher_run"]["batch_size"] == 3 and "relabel" not in manifest
    assert main(["validate", str(out), "--no-progress"]) == 0


# --- the code's format version ------------------------------------------------------------------------------


def test_the_format_is_recorded(demo):
    assert manifest_of(demo)["format"] == FORMAT == f"mono-depth-mask/{FORMAT_VERSION}"


def test_a_dataset_of_another_format_is_rebuilt_only_with_overwrite(copy, capsys):
    manifest = manifest_of(copy)
    manifest["format"] = f"mono-depth-mask/{FORMAT_VERSION - 1}"
    write_manifest(copy, manifest)
    before = files(copy)
    assert generate(copy, *DEMO) == 2
    line = one_error_line(capsys)
    assert f"format {FORMAT_VERSION - 1}" in line and "--overwrite" in line
    assert main(["stats", str(copy)]) == 2
    assert f"format {FORMAT_VERSION - 1}" in one_error_line(capsys)
    assert files(copy) == before
    assert generate(copy, *DEMO, "--overwrite") == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert manifest_of(copy)["format"] == FORMAT
    assert main(["validate", str(copy), "--no-progress"]) == 0


# --- one typed manifest: a wrong field is one line naming it, and --overwrite repairs it ------------------


def _set(manifest: dict, path: list, value) -> None:
    *parents, last = path
    for key in parents:
        manifest = manifest[key]
    if value is _DELETE:
        del manifest[last]
    else:
        manifest[last] = value


_DELETE = object()
CORRUPTIONS = [
    (["shards", 3, "bytes"], "12", "shards[3].bytes must be an integer"),
    (["shards", 0, "sha256"], 5, "shards[0].sha256 must be a string"),
    (["shards", 1, "sha256"], "abc", "shards[1].sha256 must be 64 hexadecimal digits"),
    (["shards", 0, "rows"], _DELETE, "shards[0].rows must be an integer"),
    (["shards", 2, "rows"], True, "shards[2].rows must be an integer"),
    (["shards", 2, "config"], "other", "shards[2].config must be one of"),
    (["shards", 1, "stats"], {"kinds": 3}, "shards[1].stats is not a statistics record"),
    (["shards", 1], [], "shards[1] must be an object"),
    (["shards"], {}, "shards must be a list"),
    (["options"], [], "options must be an object"),
    (["options", "seed"], "0", "options.seed must be an integer"),
    (["options", "flip"], 1, "options.flip must be true or false"),
    (["options", "seed"], -1, "options are not valid (--seed must be between"),
    (["options"], {}, "options.demo must be true or false"),
    (["shards"], [], "splits.train must be the rows of its data/ shards (0)"),
    (["splits", "train"], 7, "splits.train must be the rows of its data/ shards"),
    (["depth", "mode"], "deep", "depth.mode must be one of none, scene, model"),
    (["geometry", "intrinsics"], "exif", "geometry.intrinsics must be an object"),
    (["packages"], None, "packages must be an object"),
    (["card"], {"license": 3}, "card must map settings to strings"),
    (["inputs", "backgrounds"], "bg", "inputs.backgrounds must be a list"),
    (["splits", "train"], "many", "splits.train must be an integer"),
    (["depth"], None, "depth must be an object"),
    (["complete"], "yes", "complete must be true or false"),
    (["relabel"], {"target": 1}, "relabel.target must be an object"),
]


@pytest.mark.parametrize("path, value, named", CORRUPTIONS, ids=[c[2] for c in CORRUPTIONS])
def test_a_wrong_manifest_field_is_one_line_and_overwrite_repairs_it(copy, path, value, named, capsys):
    manifest = manifest_of(copy)
    _set(manifest, path, value)
    write_manifest(copy, manifest)
    for command in (["validate", str(copy), "--no-progress"], ["gallery", str(copy), "--no-progress"],
                    ["generate", "--out", str(copy), *DEMO]):
        assert main(command) == 2
        line = one_error_line(capsys)
        assert named in line and "damaged" in line, line
    assert generate(copy, *DEMO, "--overwrite") == 0
    assert main(["validate", str(copy), "--no-progress"]) == 0


# --- one integrity check for every command ------------------------------------------------------------------


COMMANDS = [["stats"], ["gallery"], ["card"], ["push", "--repo-id", "org/name", "--dry-run"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_checks_shards_with_the_one_check(copy, command, monkeypatch, capsys):
    """A shard the one check (output.reader) finds different is refused by every command that reads the
    dataset, so no command keeps a check of its own."""
    damaged = manifest_of(copy)["shards"][1]["path"]
    real = reader.sha256_file
    monkeypatch.setattr(reader, "sha256_file", lambda path: "0" * 64 if Path(path).as_posix().endswith(damaged) else real(path))
    assert main([command[0], str(copy), *command[1:]]) == 2
    assert f"{damaged} (sha256 differs)" in one_error_line(capsys)


def test_validate_and_resume_use_the_one_check(copy, monkeypatch, capsys):
    damaged = manifest_of(copy)["shards"][1]["path"]
    real = reader.sha256_file
    monkeypatch.setattr(reader, "sha256_file", lambda path: "0" * 64 if Path(path).as_posix().endswith(damaged) else real(path))
    assert main(["validate", str(copy), "--no-progress"]) == 1
    assert f"{damaged}: sha256: sha256 differs" in capsys.readouterr().out
    assert generate(copy, *DEMO) == 0
    assert "built 1" in capsys.readouterr().out


# --- files the manifest does not list ---------------------------------------------------------------------


STRAYS = ["data/train-00099-of-00100.parquet", "backgrounds/test-00001-of-00002.parquet", "data/notes.csv", "data/extra/train-0.parquet"]


@pytest.mark.parametrize("stray", STRAYS)
def test_a_file_the_manifest_does_not_list_is_never_kept_silently(copy, stray, capsys):
    target = copy / stray
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(copy / manifest_of(copy)["shards"][0]["path"], target)
    assert main(["validate", str(copy), "--no-progress"]) == 1
    assert f"{stray}: unlisted" in capsys.readouterr().out
    before = files(copy)
    assert generate(copy, *DEMO) == 2
    line = one_error_line(capsys)
    assert stray in line and "--overwrite" in line
    assert files(copy) == before
    assert generate(copy, *DEMO, "--overwrite") == 0
    assert stray in capsys.readouterr().err
    assert not target.exists()
    assert main(["validate", str(copy), "--no-progress"]) == 0


def test_a_shard_written_just_before_a_kill_is_not_a_stray(copy, capsys):
    """A worker renames its shard into place before the main process lists it: killed in between, the
    rerun rebuilds it instead of refusing it."""
    manifest = manifest_of(copy)
    manifest["complete"] = False
    manifest["shards"].pop(0)
    write_manifest(copy, manifest)
    assert generate(copy, *DEMO) == 0
    assert "built 1" in capsys.readouterr().out
    assert main(["validate", str(copy), "--no-progress"]) == 0


# --- the `datasets` builder keys its cache by the inputs' content -----------------------------------------


def test_the_builder_rebuilds_when_a_background_changes_or_is_added(inputs, tmp_path):
    from mono_depth_mask import MonoDepthMask

    data_dir = tmp_path / "inputs"
    shutil.copytree(inputs["backgrounds"], data_dir / "backgrounds")
    shutil.copytree(inputs["foregrounds"], data_dir / "foregrounds")

    def composites() -> list[np.ndarray]:
        builder = MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
        builder.download_and_prepare()
        built = builder.as_dataset()
        return [np.asarray(row["image"]) for split in ("train", "test") for row in built[split]]

    first = composites()
    background = sorted((data_dir / "backgrounds").iterdir())[0]
    pixels = 255 - np.asarray(Image.open(background).convert("RGB"))
    Image.fromarray(pixels).save(background)
    replaced = composites()
    assert len(replaced) == len(first) and any(not np.array_equal(a, b) for a, b in zip(first, replaced))
    shutil.copy(background, data_dir / "backgrounds" / f"zz_added{background.suffix}")
    assert len(composites()) > len(replaced)
