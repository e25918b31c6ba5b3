"""SIGKILL of a build's whole process group (the resource tracker included, which would otherwise unlink
them) leaves its depth hand-over blocks and the pool's semaphores in /dev/shm; they carry their owner's pid,
and the next build removes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.engines.shm import SHM_FOLDER, _namespace
from tests.conftest import generate
from tests.test_depth_model import TINY
from tests.tiny_models import save_tiny_depth_anything

pytestmark = pytest.mark.skipif(not os.path.isdir(SHM_FOLDER), reason="no /dev/shm")


def owned_by(pid: int) -> list[str]:
    prefix = f"mdm-{_namespace()}-{pid}-"
    return sorted(name for name in os.listdir(SHM_FOLDER) if name.removeprefix("sem.").startswith(prefix))


def running_after(session: int, seconds: float) -> list[str]:
    """The pids of the session's processes still running (not zombies) after at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[3]) == session:
                running.append(entry)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def test_what_a_build_killed_whole_leaves_in_dev_shm_goes_with_the_next_build(tmp_path):
    teacher = save_tiny_depth_anything(tmp_path / "tiny")
    out = tmp_path / "killed"
    build = subprocess.Popen([sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", "6",
                              "--num-foregrounds", "6", "--bg-size", "64", "--shard-size", "8", "--no-progress",
                              "--no-gallery", "--depth", "model", "--depth-model", str(teacher), "--workers", "2",
                              "--out", str(out)], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(6000):  # until two shards are written: the teacher hands its maps over (ten minutes at most)
            if len(list((out / "data").glob("*.parquet"))) >= 2 or build.poll() is not None:
                break
            time.sleep(0.1)
        assert build.poll() is None, build.stderr.read()
    finally:
        os.killpg(build.pid, signal.SIGKILL)  # the main process, the fork server, its workers, the resource tracker
    try:
        # Until it is reaped, the killed main process is a zombie whose pid is still taken: a build running
        # meanwhile (another test, another user) keeps its names. Look once the rest of its group is gone.
        assert not running_after(build.pid, 30)
        left = owned_by(build.pid)
    finally:
        build.wait()
    assert any(name.startswith("sem.") for name in left) and any(not name.startswith("sem.") for name in left), left

    assert generate(tmp_path / "next", *TINY, "--workers", "2", "--no-gallery") == 0
    assert owned_by(build.pid) == []
