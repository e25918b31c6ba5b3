"""Without a reachable Hub: the default teacher fails fast with one line that names the network and the ways
out, whether the name does not resolve or an endpoint accepts the connection and never answers; a build that
failed before writing anything leaves no empty --out; `push --dry-run` exits 1 with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from generator.cli import main

WAYS_OUT = ("HF_HUB_OFFLINE=1",)  # the command adds those its flags give (tests/test_command_hints.py)


@pytest.fixture
def silent_endpoint():
    """A loopback socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted, stop = [], threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def offline_env(endpoint: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp / "hf_home"), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env


LOAD = """
import json, time
from generator.config import TeacherSettings
from generator.errors import UserError
from generator.pipeline.teacher import DepthTeacher
import transformers  # imported before the clock starts: only the loading is timed
start = time.perf_counter()
try:
    DepthTeacher.load(TeacherSettings(device="cpu"))
    print(json.dumps({"error": None}))
except UserError as error:
    print(json.dumps({"error": str(error), "code": getattr(error, "exit_code", 2), "seconds": time.perf_counter() - start}))
"""


@pytest.mark.parametrize("where", ["unresolvable", "silent"])
def test_the_default_teacher_fails_within_10_s_naming_the_network(where, silent_endpoint, tmp_path):
    endpoint = "http://nonexistent.invalid" if where == "unresolvable" else silent_endpoint
    result = subprocess.run([sys.executable, "-c", LOAD], env=offline_env(endpoint, tmp_path), capture_output=True,
                            text=True, timeout=120)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["error"] and "\n" not in outcome["error"] and outcome["code"] == 1
    assert "network" in outcome["error"] and all(way in outcome["error"] for way in WAYS_OUT), outcome["error"]
    assert outcome["seconds"] < 10, outcome
    assert "Retry" not in result.stderr  # no retry loop ran


def test_a_failed_start_leaves_no_empty_out(tmp_path):
    out = tmp_path / "never"
    env = offline_env("http://nonexistent.invalid", tmp_path)
    result = subprocess.run([sys.executable, "-m", "generator", "generate", "--demo", "--depth", "model", "--workers", "1",
                             "--no-progress", "--out", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "network" in result.stderr, result.stderr
    assert all(way in result.stderr for way in ("HF_HUB_OFFLINE=1", "local folder", "--depth scene", "--depth none"))
    assert not out.exists()


def test_a_failed_start_keeps_a_folder_that_existed(tmp_path, monkeypatch):
    from generator.errors import ServiceError
    from generator.pipeline import loading

    def unreachable(model, what, hint):
        raise ServiceError("the network is down")

    monkeypatch.setattr(loading, "cached_only", unreachable)
    out = tmp_path / "mine"
    out.mkdir()
    assert main(["generate", "--demo", "--depth", "model", "--workers", "1", "--no-progress", "--out", str(out)]) == 1
    assert out.is_dir() and not list(out.iterdir())


def test_push_dry_run_offline_is_one_line_and_exit_1(tmp_path):
    out = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--workers", "1",
                 "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    env = offline_env("http://nonexistent.invalid", tmp_path)
    result = subprocess.run([sys.executable, "-m", "generator", "push", str(out), "--repo-id", "org/x", "--dry-run"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: dry run:"), result.stderr
    assert "cannot reach http://nonexistent.invalid" in result.stderr and "ready to push" in result.stderr
