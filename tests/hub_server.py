"""Serve a local dataset folder as a Hugging Face Hub dataset repo, for tests.

The Hub itself is not reachable from the test machines, so we run `olah`
(https://github.com/vtuber-plan/olah, a self-hosted HF-Hub-compatible mirror)
on 127.0.0.1 in *offline* mode.  In that mode olah answers the Hub API and the
``resolve`` file routes from git repositories found under its ``mirrors-path``
(``<mirrors>/datasets/<org>/<name>``), which is exactly the layout of a Hub repo.

Client code (``huggingface_hub`` / ``datasets``) must then talk to the server
through ``HF_ENDPOINT``.  Both libraries read that variable (and the cache
locations) into module constants **at import time** -- ``huggingface_hub.constants
.ENDPOINT`` / ``HUGGINGFACE_CO_URL_TEMPLATE``, ``datasets.config.HF_ENDPOINT`` /
``HUB_DATASETS_URL`` / ``HF_DATASETS_CACHE`` -- and ``HfFileSystem`` instances are
cached by fsspec.  Patching all that inside an already-importing process is
fragile, so the client side runs in a fresh interpreter with the environment from
:func:`hub_client_env` (:func:`run_hub_client`).  DataLoader worker processes of
that interpreter inherit the same environment.

Known olah 0.5.x limitations for local mirrors (see tests/test_hub_server.py):

* ``GET /api/datasets/<org>/<name>`` (repo info *without* a revision) answers
  401 RepoNotFound in offline mode: it resolves "latest commit" only from olah's
  download cache, never from the mirror.  ``/revision/main`` works.
* ``resolve`` GETs on a mirror ignore the ``Range`` header (200 + whole file);
  HEAD carries no ``Accept-Ranges``.  ``HfFileSystem`` reads Parquet footers with
  range requests, so streaming a shard larger than pyarrow's 64 KiB footer read
  fails ("Parquet magic bytes not found in footer").  The harness therefore runs
  olah through ``tests/olah_with_ranges.py``: olah's own app and entry point,
  wrapped in a small generic ASGI middleware that answers single-range GETs on
  ``resolve`` routes with 206 + Content-Range (the client stays unpatched).
* A GET of a missing file answers 500 instead of 404 (HEAD answers 404 when the
  revision is a commit sha, 401 RepoNotFound when it is a branch name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterable, Iterator, Mapping

try:  # olah is an optional test dependency
    import olah  # noqa: F401

    HAVE_OLAH = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_OLAH = False

STARTUP_TIMEOUT_S = 30.0

# Talk to 127.0.0.1 directly even if http(s)_proxy is set in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """GET `url` bypassing any proxy; return (status, headers, body). HTTP errors are returned too."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with _DIRECT.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

# Variables that would make the client bypass or misuse the local server.
_CLIENT_ENV_UNSET = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HUGGINGFACE_CO_STAGING",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_XET_CACHE",
    "HF_ASSETS_CACHE",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "mono-depth-mask tests",
        "GIT_AUTHOR_EMAIL": "tests@localhost",
        "GIT_COMMITTER_NAME": "mono-depth-mask tests",
        "GIT_COMMITTER_EMAIL": "tests@localhost",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _lfs_pointer(data_path: Path) -> tuple[str, bytes]:
    h = hashlib.sha256()
    with open(data_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    oid = h.hexdigest()
    size = data_path.stat().st_size
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
    return oid, pointer.encode()


def make_mirror_repo(
    folder: Path, repo_dir: Path, lfs_patterns: Iterable[str] = (), message: str = "Upload dataset"
) -> str:
    """Commit every file of `folder` into a fresh non-bare git repo at `repo_dir` on
    branch ``main``; return the commit sha.

    Files whose repo-relative path matches one of `lfs_patterns` are committed the
    way ``git lfs`` stores them (a pointer blob in git, the content under
    ``.git/lfs/objects/<oid[:2]>/<oid[2:4]>/<oid>``), which is where olah reads LFS
    content from; no git-lfs binary is needed.
    """
    folder = Path(folder)
    repo_dir = Path(repo_dir)
    if repo_dir.exists():
        raise FileExistsError(repo_dir)
    repo_dir.mkdir(parents=True)
    _git(repo_dir, "init", "-q", "-b", "main")
    lfs_patterns = tuple(lfs_patterns)
    lfs_objects = repo_dir / ".git" / "lfs" / "objects"
    for src in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = src.relative_to(folder).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        dst = repo_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if any(fnmatch(rel, pat) for pat in lfs_patterns):
            oid, pointer = _lfs_pointer(src)
            obj = lfs_objects / oid[:2] / oid[2:4] / oid
            obj.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, obj)
            dst.write_bytes(pointer)
        else:
            shutil.copyfile(src, dst)
    if lfs_patterns:
        attrs = "".join(f"{pat} filter=lfs diff=lfs merge=lfs -text\n" for pat in lfs_patterns)
        (repo_dir / ".gitattributes").write_text(attrs)
    _git(repo_dir, "add", "-A")
    _git(repo_dir, "commit", "-q", "-m", message)
    return _git(repo_dir, "rev-parse", "HEAD")


def _olah_config(path: Path, port: int, repos: Path, mirrors: Path) -> None:
    path.write_text(
        textwrap.dedent(
            f"""\
            [basic]
            host = "127.0.0.1"
            port = {port}
            repos-path = {json.dumps(str(repos))}
            mirrors-path = [{json.dumps(str(mirrors))}]
            mirror-scheme = "http"
            mirror-netloc = "127.0.0.1:{port}"
            mirror-lfs-netloc = "127.0.0.1:{port}"

            [accessibility]
            offline = true
            """
        )
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # own session: pgid == pid
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"olah exited with code {proc.returncode} before answering {url}\n"
                f"--- olah output ({log}) ---\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            status, _, body = http_get(url, timeout=2)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.1)
    raise TimeoutError(
        f"olah did not answer {url} within {timeout:.0f}s (last: {last})\n"
        f"--- olah output ({log}) ---\n{log.read_text(errors='replace')[-4000:]}"
    )


@dataclass
class OlahServer:
    endpoint: str
    mirrors: Path
    log: Path
    process: subprocess.Popen


@contextmanager
def start_olah(
    mirrors: Path, tmp: Path, probe_repo_id: str | None = None, startup_timeout: float = STARTUP_TIMEOUT_S
) -> Iterator[OlahServer]:
    """Run olah offline on a free 127.0.0.1 port serving `mirrors`; stop it on exit."""
    if not HAVE_OLAH:
        raise RuntimeError("olah is not installed (pip install olah)")
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    attempts = 3
    for attempt in range(attempts):
        port = free_port()
        cfg = tmp / "olah.toml"
        _olah_config(cfg, port, tmp / "olah-cache", Path(mirrors))
        log = tmp / "olah.log"
        endpoint = f"http://127.0.0.1:{port}"
        with open(log, "wb") as log_f:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("olah_with_ranges.py")), "--config", str(cfg), "--log-path", str(tmp / "olah-logs")],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log_f,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killpg stops children too
                env={k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OLAH_"))},
            )
        try:
            probe = (
                f"{endpoint}/api/datasets/{probe_repo_id}/revision/main" if probe_repo_id else f"{endpoint}/"
            )
            try:
                _wait_ready(proc, probe, log, startup_timeout)
            except RuntimeError:
                # Lost the race for the port to another process: try another one.
                if attempt + 1 < attempts and "address already in use" in log.read_text(errors="replace"):
                    continue
                raise
            yield OlahServer(endpoint=endpoint, mirrors=Path(mirrors), log=log, process=proc)
            return
        finally:
            _stop(proc)


@contextmanager
def serve_dataset_repo(folder: Path, repo_id: str, tmp: Path, lfs_patterns: Iterable[str] = ()) -> Iterator[str]:
    """Commit `folder`'s files into a git repo at <tmp>/mirrors/datasets/<repo_id>, start olah
    on a free 127.0.0.1 port in offline mode serving that mirrors path, wait until it answers,
    yield the endpoint URL (http://127.0.0.1:PORT); stop the server (and its children) on exit."""
    tmp = Path(tmp)
    mirrors = tmp / "mirrors"
    make_mirror_repo(Path(folder), mirrors / "datasets" / repo_id, lfs_patterns=lfs_patterns)
    with start_olah(mirrors, tmp / "olah", probe_repo_id=repo_id) as server:
        yield server.endpoint


def hub_client_env(endpoint: str, tmp: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a client process that must use `endpoint` as the Hub, with
    private caches under `tmp` (created)."""
    tmp = Path(tmp)
    env = dict(os.environ if base is None else base)
    for key in _CLIENT_ENV_UNSET:
        env.pop(key, None)
    hf_home = tmp / "hf_home"
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_CACHE=str(hf_home / "hub"),
        HF_DATASETS_CACHE=str(hf_home / "datasets"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        DO_NOT_TRACK="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for d in ("hub", "datasets"):
        (hf_home / d).mkdir(parents=True, exist_ok=True)
    return env


RESULT_MARKER = "@@HUB_CLIENT_RESULT@@"


def run_hub_client(code: str, env: Mapping[str, str], timeout: float = 120.0, cwd: Path | None = None):
    """Run `code` in a fresh interpreter with `env`. The code calls ``emit(obj)`` once, last, to return
    a JSON-serialisable result, which this function returns.
    Every client streams with `datasets`, which sleeps 5 s after each streamed split (so that pyarrow's
    threads end before an interpreter exits): the prelude shortens that pause to 0.1 s. `emit` then leaves
    at once (os._exit): a stream left half-read is torn down at interpreter shutdown, where pyarrow's scan
    threads sometimes abort the process after its work is done ("terminate called without an active
    exception": apache/arrow issues 39862 and 45214, huggingface/datasets issue 7879)."""
    prelude = (
        "import json as _json, os as _os, sys as _sys\n"
        "import datasets.config as _config\n_config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0.1\n"
        f"def emit(obj):\n    print({RESULT_MARKER!r} + _json.dumps(obj), flush=True)\n"
        "    _sys.stderr.flush()\n    _os._exit(0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = [line[len(RESULT_MARKER):] for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not results:
        raise AssertionError(
            f"hub client failed (rc={proc.returncode})\n--- stdout ---\n{proc.stdout[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return json.loads(results[-1])
