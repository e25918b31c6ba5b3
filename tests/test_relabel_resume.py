"""relabel-depth is atomic as a whole and resumable: killed after any number of shards, the dataset is
marked unfinished (every command refuses it, naming the command that finishes it), and rerunning the same
relabel ends byte-identical to an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.cli import main
from tests.conftest import generate
from tests.tiny_models import save_tiny_depth_anything, save_tiny_glpn

REPO = Path(__file__).resolve().parent.parent
TINY = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "3", "--bg-size", "64",
        "--shard-size", "4", "--no-progress", "--image-format", "png", "--workers", "1"]


def relabel_process(out: Path, model: Path) -> subprocess.Popen:
    # One torch thread in every run: a CPU model's last bits depend on the thread count.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "generator", "relabel-depth", str(out), "--depth-model", str(model), "--no-progress"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def relabel(out: Path, model: Path) -> None:
    """An uninterrupted relabel, in this process (a fresh interpreter costs seconds of imports) with one torch
    thread, as `relabel_process` has: the shards of both kinds of run end in the same files."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["relabel-depth", str(out), "--depth-model", str(model), "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)


def files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}


def relabel_done(out: Path) -> int:
    try:
        return len(json.loads((out / "manifest.json").read_text()).get("relabel", {}).get("done", {}))
    except (FileNotFoundError, ValueError):
        return 0


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_tiny_depth_anything(root / "relative")
    save_tiny_glpn(root / "metric")
    return root / "relative", root / "metric"


@pytest.fixture(scope="module")
def dataset(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("relabel") / "ds"
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(models[0])) == 0
    return out


@pytest.fixture(scope="module")
def relabelled(dataset, models, tmp_path_factory):
    """An uninterrupted relabel to the metric model."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    shutil.copytree(dataset, out)
    relabel(out, models[1])
    return out


def test_relabel_records_new_statistics_and_leaves_no_progress_section(relabelled, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(relabelled, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and "relabel" not in manifest
    assert main(["stats", str(out), "--recompute", "--no-progress"]) == 0  # recorded == decoded
    assert json.loads((out / "manifest.json").read_text()) == manifest


@pytest.mark.parametrize("after", [1, 2, -1], ids=["after 1 shard", "after 2 shards", "after n-1 shards"])
def test_killed_relabel_is_refused_until_rerun_then_equals_an_uninterrupted_one(dataset, models, relabelled, after, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(dataset, out)
    shards = [s for s in json.loads((out / "manifest.json").read_text())["shards"] if s["config"] in ("fg_bg", "backgrounds")]
    target = after if after > 0 else len(shards) + after
    process = relabel_process(out, models[1])
    deadline = time.monotonic() + 120
    while relabel_done(out) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and target <= len(manifest["relabel"]["done"]) < len(shards)
    assert manifest["options"]["depth_model"] == models[0].name  # the options change only at the end

    for command in (["validate"], ["stats"], ["gallery"], ["card"]):
        assert main([command[0], str(out), "--no-progress"] if command[0] != "card" else ["card", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"relabel-depth {out} --depth-model {models[1]}" in err[0], err
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(models[0])) == 2
    assert "unfinished relabel-depth" in capsys.readouterr().err
    assert main(["relabel-depth", str(out), "--depth-model", str(models[0]), "--no-progress"]) == 2
    assert f"--depth-model {models[1]}" in capsys.readouterr().err

    relabel(out, models[1])
    assert files(out) == files(relabelled)


def test_generate_overwrite_rebuilds_over_an_interrupted_relabel(dataset, models, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(dataset, out)
    process = relabel_process(out, models[1])
    deadline = time.monotonic() + 120
    while relabel_done(out) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert generate(out, *TINY, "--depth", "model", "--depth-model", str(models[0]), "--overwrite") == 0
    assert {k: v for k, v in files(out).items() if k.endswith(".parquet")} == {
        k: v for k, v in files(dataset).items() if k.endswith(".parquet")
    }
