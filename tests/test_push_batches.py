"""`push` against a loopback stand-in for the Hub's write API (tests/fake_hub.py), with the huggingface_hub
client unpatched in a child process (HF_ENDPOINT pointed at the server): at most 100 operations per commit,
counted in the NDJSON bodies the client sent; more than one commit go through a pull request, so `main`
changes once, from the old dataset to the new one; --create-pr leaves it open; an interrupted push resumes
its pull request; --token is what the client sends."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from generator.cli import main
from generator.dataset.push import MAX_FILES_PER_COMMIT, local_files
from tests.fake_hub import FakeHub, serve
from tests.hub_server import hub_client_env

TOKEN = "hf_faketoken0123456789"


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    """A dataset of more than 100 files: 640 samples in shards of 5 (64 px: the count matters, not the bytes)."""
    out = tmp_path_factory.mktemp("batches") / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "4", "--num-foregrounds", "4", "--shard-size", "5", "--bg-size", "64",
                 "--workers", "2", "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    assert len(local_files(out)) > MAX_FILES_PER_COMMIT
    return out


@pytest.fixture
def hub():
    state = FakeHub()
    server, base = serve(state)
    yield state, base
    server.shutdown()


def push(out: Path, base: str, tmp: Path, *flags: str) -> subprocess.CompletedProcess:
    env = hub_client_env(base, tmp)
    env.pop("HF_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "generator", "push", str(out), "--repo-id", "org/many",
                           "--token", TOKEN, *flags], env=env, capture_output=True, text=True, timeout=300)


def local_content(out: Path) -> dict[str, bytes]:
    return {f.path: f.file.read_bytes() for f in local_files(out)}


def test_commits_hold_at_most_100_operations_and_main_changes_once(many_files, hub, tmp_path):
    state, base = hub
    result = push(many_files, base, tmp_path)
    assert result.returncode == 0, result.stderr
    files = local_content(many_files)
    sent = [sum(c.operations.values()) for c in state.commits]
    assert len(sent) == -(-len(files) // MAX_FILES_PER_COMMIT) and max(sent) <= MAX_FILES_PER_COMMIT
    assert sum(sent) == len(files)
    assert state.commits[0].create_pr and all(c.revision == "refs/pr/1" for c in state.commits[1:])
    assert all(c.revision != "main" or c.create_pr for c in state.commits)  # nothing lands on main but the merge
    assert state.pulls[1]["status"] == "merged"
    assert [s for s in state.main_states if s] == [files]  # main: empty, then the whole dataset at once
    # the card and manifest come with the last batch, after every shard
    assert {"README.md", "manifest.json"} <= set(state.commits[-1].paths) and "merged" in result.stdout
    assert state.authorizations - {""} == {f"Bearer {TOKEN}"} and TOKEN not in result.stdout + result.stderr

    again = push(many_files, base, tmp_path)  # nothing changed: no commit
    assert again.returncode == 0 and "up to date" in again.stdout and len(state.commits) == len(sent)


def test_create_pr_leaves_the_pull_request_open(many_files, hub, tmp_path):
    state, base = hub
    result = push(many_files, base, tmp_path, "--create-pr", "--commit-message", "Review me")
    assert result.returncode == 0, result.stderr
    assert {key: state.pulls[1][key] for key in ("title", "status")} == {"title": "Review me (part 1 of 2)", "status": "open"}
    assert not state.refs["main"] and "left open" in result.stdout
    assert max(sum(c.operations.values()) for c in state.commits) <= MAX_FILES_PER_COMMIT


def test_a_small_push_is_one_commit_to_main(many_files, hub, tmp_path):
    state, base = hub
    state.refs["main"] = {}
    first = push(many_files, base, tmp_path)
    assert first.returncode == 0, first.stderr
    count = len(state.commits)
    card = many_files / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    try:
        result = push(many_files, base, tmp_path)
    finally:
        card.write_text(card.read_text(encoding="utf-8")[:-1], encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert len(state.commits) == count + 1
    last = state.commits[-1]
    assert last.revision == "main" and not last.create_pr and last.operations == {"file": 1}


def test_an_interrupted_push_resumes_its_pull_request(many_files, hub, tmp_path):
    state, base = hub
    state.fail_commits = {2}  # the second batch fails: one error line, exit 1 (the Hub failed)
    failed = push(many_files, base, tmp_path)
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1 and failed.stderr.startswith("error:")
    assert state.pulls[1]["status"] == "open" and not state.refs["main"]
    first_batch = sum(state.commits[0].operations.values())
    resumed = push(many_files, base, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert len(state.pulls) == 1 and state.pulls[1]["status"] == "merged"
    assert sum(sum(c.operations.values()) for c in state.commits[1:]) == len(local_content(many_files)) - first_batch
    assert [s for s in state.main_states if s] == [local_content(many_files)]


def test_a_plain_push_never_merges_a_pull_request_left_open_for_review(many_files, hub, tmp_path):
    state, base = hub
    review = push(many_files, base, tmp_path, "--create-pr", "--commit-message", "Same words")
    assert review.returncode == 0, review.stderr
    plain = push(many_files, base, tmp_path, "--commit-message", "Same words")  # same title, but not its own
    assert plain.returncode == 0, plain.stderr
    assert state.pulls[1]["status"] == "open" and state.pulls[2]["status"] == "merged"
    assert [s for s in state.main_states if s] == [local_content(many_files)]


def test_a_build_into_the_folder_while_a_push_holds_it_is_refused(many_files, hub, tmp_path):
    """A `generate --overwrite` between two commits would put another dataset's shards under the manifest
    of the first; the push holds the dataset's lock, so the build is refused and the Hub gets one dataset."""
    state, base = hub
    before = local_content(many_files)
    refused: list[subprocess.CompletedProcess] = []

    def rebuild_once() -> None:
        if not refused:
            refused.append(subprocess.run(
                [sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", "4", "--num-foregrounds", "4",
                 "--shard-size", "7", "--seed", "1", "--workers", "1", "--no-progress", "--no-gallery", "--overwrite",
                 "--out", str(many_files)], capture_output=True, text=True, timeout=300))

    state.on_commit = rebuild_once
    result = push(many_files, base, tmp_path)
    assert result.returncode == 0, result.stderr
    assert refused[0].returncode == 1 and refused[0].stderr.startswith("error: a push is uploading"), refused[0].stderr
    assert local_content(many_files) == before
    assert [s for s in state.main_states if s] == [before]


def test_a_hub_that_stops_answering_ends_the_push_with_one_line(many_files, hub, tmp_path):
    state, base = hub
    state.stall = {"commit"}  # the connection is accepted, the request read, and nothing ever comes back
    result = push(many_files, base, tmp_path, "--timeout", "1")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error:") and "no answer for 1 s" in result.stderr


def test_a_server_that_accepts_and_never_answers_ends_the_push_with_one_line(many_files, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    held, done = [], threading.Event()

    def accept() -> None:  # takes every connection and never sends a byte; gives up after a minute at most
        listener.settimeout(0.2)
        for _ in range(300):
            if done.is_set():
                break
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        result = push(many_files, f"http://127.0.0.1:{listener.getsockname()[1]}", tmp_path, "--timeout", "1")
    finally:
        done.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and result.stderr.startswith("error:"), result.stderr
    assert held  # it did connect


def test_a_slow_answer_that_keeps_moving_is_not_cut(many_files, hub, tmp_path):
    state, base = hub
    assert push(many_files, base, tmp_path).returncode == 0
    state.dribble_s = 0.4  # the listing of the repo arrives in pieces over more than 3 s, none 1 s apart
    again = push(many_files, base, tmp_path, "--timeout", "1")
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
