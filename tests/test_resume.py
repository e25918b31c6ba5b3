"""Crash safety: a killed build resumes and ends byte-identical to an uninterrupted one, a failed write
(file-size limit, read-only folder) is one line and leaves no partial file, and two builds never share
an output folder."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tests.conftest import SMALL, generate, input_args

from generator.output.manifest import load_manifest
from generator.output.folder import LOCK

REPO = Path(__file__).resolve().parent.parent
# Demo inputs, 4 x 4 x 2 x 10 = 320 samples in 16 fg_bg shards of 20: a few seconds, time to kill it.
DEMO = ["--demo", "--num-backgrounds", "4", "--num-foregrounds", "4", "--placements", "10", "--bg-size", "128",
        "--shard-size", "20", "--no-progress"]


def hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}


def cli(out: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "generator", "generate", "--out", str(out), *args]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def recorded_shards(out: Path) -> list[dict]:
    """The fg_bg shards the progress record (the manifest, replaced atomically) lists as done (the input
    configs, written beside them, are listed too)."""
    try:
        return [s for s in json.loads((out / "manifest.json").read_text())["shards"] if s["config"] == "fg_bg"]
    except FileNotFoundError:
        return []


def scratch(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if p.name != LOCK]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """The shards of an uninterrupted build."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    assert generate(out, *DEMO, "--workers", "2") == 0
    return hashes(out)


def test_killed_build_resumes_and_matches_an_uninterrupted_build(tmp_path, reference, capsys):
    out = tmp_path / "ds"
    process = cli(out, *DEMO, "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 120
    while not recorded_shards(out) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    # SIGKILL the build and its worker processes at once, as an OOM killer or a pulled plug would.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = list((out / "data").glob("*.parquet"))
    assert 1 <= len(written) < 16, f"{len(written)} shards existed when the build was killed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False
    recorded = {s["path"] for s in recorded_shards(out)}
    assert recorded <= {str(p.relative_to(out)) for p in written}
    # Nothing half-written: every Parquet file under OUT (input configs too) is whole, byte-identical to the
    # uninterrupted build's. A worker's shard may be in place but not yet recorded (the kill fell between
    # its rename and the manifest's update); the recorded ones carry their sha256.
    assert hashes(out).items() <= reference.items()
    assert_recorded_hashes_match(out)
    with pytest.raises(Exception, match="unfinished build"):
        load_manifest(out)

    assert generate(out, *DEMO, "--workers", "2") == 0
    summary = capsys.readouterr().out
    assert f"kept {len(recorded)} verified shards, built {16 - len(recorded)}" in summary
    assert hashes(out) == reference
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    assert not scratch(out) and not (out / LOCK).exists()


def test_damaged_shard_is_rebuilt_and_stale_temporaries_removed(tmp_path, reference, capsys):
    out = tmp_path / "ds"
    assert generate(out, *DEMO, "--workers", "1") == 0
    shards = sorted((out / "data").glob("*.parquet"))
    data = shards[3].read_bytes()
    shards[3].write_bytes(data[: len(data) // 2])  # truncated, as by a crash of an older version
    shards[5].write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped
    shards[7].unlink()
    stale = out / "data" / ".train-00001-of-00012.parquet.abc123.tmp"
    stale.write_bytes(b"half a shard")
    (out / ".manifest.json.xyz.tmp").write_text("{")
    capsys.readouterr()
    assert generate(out, *DEMO, "--workers", "1") == 0
    assert "kept 13 verified shards, built 3" in capsys.readouterr().out
    assert hashes(out) == reference
    assert not scratch(out)


def test_killed_before_the_first_manifest_is_not_a_foreign_folder(tmp_path, reference):
    out = tmp_path / "ds"
    out.mkdir()
    (out / LOCK).write_text("")  # left by a killed build; its flock died with it
    (out / ".manifest.json.k2j3.tmp").write_text("{")
    assert generate(out, *DEMO, "--workers", "1") == 0
    assert hashes(out) == reference and not scratch(out)


def test_other_options_on_a_partial_build_are_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *DEMO, "--workers", "1") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert generate(out, *DEMO, "--seed", "3") == 2
    assert "other options (seed)" in capsys.readouterr().err
    assert generate(out, *DEMO, "--seed", "3", "--overwrite") == 0


def test_a_second_build_into_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    with open(out / LOCK, "w") as held:  # what a running build holds
        fcntl.flock(held, fcntl.LOCK_EX)
        assert generate(out, *DEMO) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: another build is writing to") and "Traceback" not in err[0]
        assert [p.name for p in out.iterdir()] == [LOCK]
    assert generate(out, *DEMO, "--workers", "1") == 0  # released: the next build proceeds


def test_two_concurrent_builds_do_not_interleave(tmp_path):
    out = tmp_path / "ds"
    longer = [*DEMO, "--placements", "60", "--workers", "1"]  # 1,920 samples: still running when the second starts
    first = cli(out, *longer)
    deadline = time.monotonic() + 120
    while not recorded_shards(out) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    second = cli(out, *longer)
    _, err = second.communicate(timeout=120)
    still_running = first.poll() is None
    assert first.wait(timeout=300) == 0
    assert still_running, "the first build ended before the second started: the test proved nothing"
    assert second.returncode == 1 and "Traceback" not in err, err
    assert err.strip().startswith("error: another build is writing to") and len(err.strip().splitlines()) == 1
    assert_only_recorded_shards(out)
    assert len(recorded_shards(out)) == 96 and not (out / LOCK).exists()


def assert_recorded_hashes_match(out: Path) -> None:
    """Every shard the manifest records (input configs too) is on disk with the recorded sha256."""
    files = hashes(out)
    for shard in json.loads((out / "manifest.json").read_text())["shards"]:
        assert files.get(shard["path"]) == shard["sha256"], shard["path"]


def assert_only_recorded_shards(out: Path) -> None:
    """Every Parquet file under OUT is a whole shard: recorded in the manifest with its sha256."""
    recorded = {s["path"]: s["sha256"] for s in json.loads((out / "manifest.json").read_text())["shards"]}
    assert hashes(out).items() <= recorded.items()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_file_size_limit_is_one_line_and_leaves_no_partial_file(tmp_path, inputs):
    """`ulimit -f`: a write past the limit fails with EFBIG (Python ignores SIGXFSZ), here inside the
    worker processes, which inherit the limit."""
    out = tmp_path / "ds"
    args = [*input_args(inputs), *SMALL, "--image-format", "png", "--shard-size", "120", "--workers", "2"]
    process = cli(out, *args, preexec_fn=_limit_file_size)
    stdout, err = process.communicate(timeout=300)
    assert process.returncode == 1, (stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write ") and "File too large" in lines[0], err
    assert ".parquet" in lines[0] and "Traceback" not in err
    assert not scratch(out)
    assert_only_recorded_shards(out)  # a shard past the limit left nothing behind
    assert generate(out, *args) == 0  # without the limit, the same command finishes the build
    assert_only_recorded_shards(out)


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0, reason="needs root and setpriv to run a build as nobody")
def test_read_only_folder_is_one_line_and_a_later_run_completes(inputs):
    """Root ignores file modes, so the build runs as `nobody`: OUT is writable for it, OUT/data is not."""
    root = Path(tempfile.mkdtemp(prefix="mdm-readonly-"))
    try:
        os.chmod(root, 0o755)
        copied = root / "inputs"
        shutil.copytree(inputs["backgrounds"], copied / "bg")
        shutil.copytree(inputs["foregrounds"], copied / "fg")
        shutil.copytree(inputs["depths"], copied / "depth")
        for path in [copied, *copied.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        out = root / "ds"
        (out / "data").mkdir(parents=True)
        os.chown(out, 65534, 65534)  # OUT belongs to nobody; OUT/data stays root's, mode 755
        args = ["--backgrounds", str(copied / "bg"), "--foregrounds", str(copied / "fg"), "--background-depths", str(copied / "depth"), *SMALL, "--workers", "1"]
        # (one process: as nobody, multiprocessing's resource tracker cannot start on this machine; errors
        # from worker processes are covered by the file-size test)
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HOME": str(root)}
        as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable]
        # A checkout in a private folder (mktemp -d is mode 700) is out of nobody's reach, and so is its venv.
        probe = subprocess.run([*as_nobody, "-c", "import generator"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        if probe.returncode:
            pytest.skip(f"nobody cannot run this checkout's Python and package: {probe.stderr.strip()[-200:]}")
        command = [*as_nobody, "-m", "generator", "generate", "--out", str(out), *args]
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1, result.stderr
        assert len(lines) == 1 and "Permission denied" in lines[0] and str(out / "data") in lines[0], result.stderr
        assert not list(out.rglob("*.parquet")) and not scratch(out)
        assert generate(out, *args) == 0  # as root (or after a chmod) the same command completes
        assert_only_recorded_shards(out)
    finally:
        shutil.rmtree(root)
