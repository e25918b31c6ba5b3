"""No process outlives a build: killed by any signal at any moment (start-up, shard building, finishing),
the main process takes the fork server, the workers and the resource tracker with it; SIGTERM is handled
like Ctrl-C (cleanup, one line, exit 130)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# 4 x 4 x 2 x 6 = 192 samples in 16 shards: about 2-3 s with 2 workers, start-up included.
DEMO = ["--demo", "--num-backgrounds", "4", "--num-foregrounds", "4", "--placements", "6", "--bg-size", "96",
        "--shard-size", "12", "--no-progress", "--workers", "2"]


def start(out: Path, stderr=subprocess.PIPE, args: list[str] = DEMO) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "generator", "generate", "--out", str(out), *args]
    # Its own session: every process of the build (fork server, workers, resource tracker) is in it.
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True, start_new_session=True)


def session_members(session: int) -> list[str]:
    """Live (not zombie) processes of the session, as 'pid cmdline'."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == session:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")[:120]
                members.append(f"{entry} {command.decode(errors='replace')}")
        except (OSError, IndexError):
            continue
    return members


def gone_within(session: int, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_no_process_outlives_a_killed_build(tmp_path):
    rng = random.Random(7)
    lingering = []
    for run in range(20):
        # No pipe: a process left alive holding it would hang the test instead of failing it.
        process = start(tmp_path / f"ds{run}", stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 3.5))  # start-up ~1.5 s, shards ~1.5 s, then statistics, gallery, card
        process.kill()
        process.wait()
        left = gone_within(process.pid, 10)
        for line in left:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        if left:
            lingering.append((run, left))
    assert not lingering


def test_sigterm_cleans_up_and_exits_130_with_one_line(tmp_path):
    out = tmp_path / "ds"
    process = start(out)
    deadline = time.monotonic() + 60
    while not list((out / "data").glob("*.parquet")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted"]
    assert not gone_within(process.pid, 10)
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]


def test_an_interrupt_while_a_temporary_file_is_created_leaves_none(tmp_path, monkeypatch):
    """SIGTERM raises KeyboardInterrupt at whatever bytecode runs: also just after the temporary file
    is created, before the code that writes it has its name."""
    from generator.output import folder

    real_open = os.open

    def open_then_interrupt(*args, **kwargs):
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt), folder.atomic_path(tmp_path / "manifest.json") as temporary:
        temporary.write_text("{}")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_interrupted_build_stops_its_workers_at_once(tmp_path):
    """The shards queued to the workers are not finished after SIGTERM: the build stops (and removes what
    the workers had half-written) instead of publishing them."""
    out = tmp_path / "ds"
    # 8 shards of 80 rows at 224 px: a few tenths of a second each, 4 handed to the 2 workers at a time.
    process = start(out, args=["--demo", "--num-backgrounds", "4", "--num-foregrounds", "4", "--placements", "20",
                               "--shard-size", "80", "--no-progress", "--workers", "2"])
    deadline = time.monotonic() + 60
    while not (published := list((out / "data").glob("*.parquet"))) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    # A shard may be published while the signal is on its way; the ones queued after it are not.
    assert len(list((out / "data").glob("*.parquet"))) - len(published) <= 1
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]
