"""A build whose --out is moved or removed while it writes fails with one line, instead of writing the rest
of its shards into a folder it recreates and calling that dataset complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("how", ["moved", "removed"])
def test_out_moved_or_removed_during_a_build_fails_with_one_line(tmp_path, how):
    out, aside = tmp_path / "ds", tmp_path / "elsewhere"
    build = subprocess.Popen(
        [sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", "4", "--num-foregrounds", "4",
         "--shard-size", "10", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(6000):  # until its first shard is written (at most ten minutes)
            if any((out / "data").glob("*.parquet")) or build.poll() is not None:
                break
            time.sleep(0.05)
        out.rename(aside)
        if how == "removed":
            shutil.rmtree(aside, ignore_errors=True)
        stdout, stderr = build.communicate(timeout=300)
    finally:
        build.kill()
    assert build.returncode == 1, (stdout, stderr)
    assert stderr.startswith("error:") and stderr.count("\n") == 1 and "was removed or moved" in stderr, stderr
    for folder in (out, aside):  # no manifest anywhere says a dataset is complete
        manifest = folder / "manifest.json"
        assert not manifest.exists() or not json.loads(manifest.read_text())["complete"]


def test_a_write_that_meets_the_moved_folder_is_explained_as_the_move(tmp_path):
    """The race the build above can lose: OUT moves between the build's check and its next write, and that
    write fails with "No such file or directory"; the build still says what happened."""
    from generator.build import _folder_loss_explained
    from generator.errors import OutputError
    from generator.output.folder import build_lock

    out = tmp_path / "ds"
    out.mkdir()
    with build_lock(out) as lock:
        with pytest.raises(OutputError, match="was removed or moved"):
            with _folder_loss_explained(lock):
                out.rename(tmp_path / "elsewhere")
                (out / "manifest.json").write_text("{}")  # the write the move breaks
        with pytest.raises(FileNotFoundError):  # the folder is where it was: the error is the write's own
            (tmp_path / "elsewhere").rename(out)
            with _folder_loss_explained(lock):
                (out / "missing" / "file").write_text("")
