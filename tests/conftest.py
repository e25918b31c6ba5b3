from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

# Under pytest-xdist (`-n 2`) several test processes share the machine's cores: each one's torch, and the
# processes it starts, get their share of them (by default each would start a thread per core, and threads
# that outnumber the cores mostly wait for each other). Set before anything imports torch.
_TEST_PROCESSES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _TEST_PROCESSES > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _TEST_PROCESSES)))

from generator.cli import main  # noqa: E402
from tests.hub_server import HAVE_OLAH, hub_client_env, serve_dataset_repo  # noqa: E402
from tests.inputs import write_backgrounds, write_cutouts, write_depths  # noqa: E402

# The files that take longest (15 s or more, measured with --durations=0), slowest first. With `-n 2 --dist
# loadfile` they are handed out first, so that no long file is left for the end while the other process has
# nothing left to do (xdist would hand out the files with most tests first, these come last).
SLOW_FILES = ("test_baseline.py", "test_ray_engine.py", "test_push_batches.py", "test_relabel_resume.py",
              "test_no_orphans.py", "test_hub_server.py", "test_publish.py", "test_handover.py", "test_resume.py",
              "test_identity.py", "test_cutouts_models.py", "test_teacher.py", "test_offline.py")


def pytest_configure(config):
    if getattr(config.option, "dist", "no") == "loadfile":
        config.option.loadscopereorder = False  # the files in the order of pytest_collection_modifyitems


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the order each process collects is the order files are handed out
        rank = {name: position for position, name in enumerate(SLOW_FILES)}
        items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # stable: each file's own order kept


# Small but not trivial: 4 backgrounds x 3 foregrounds x 2 flips x 5 placements = 120 samples.
SMALL = ["--bg-size", "64", "--placements", "5", "--shard-size", "40", "--no-progress"]
# The rest of the options of the `small_dataset` fixture (a rerun with other options is another dataset).
SMALL_DATASET = ["--image-format", "png", "--workers", "1", "--placement", "uniform",
                 "--no-decontaminate", "--blend", "alpha", "--no-shadow", "--no-harmonize"]


@pytest.fixture(scope="session", autouse=True)
def no_sleep_after_each_stream():
    """`datasets` sleeps 5 s whenever a streamed parquet split is exhausted or dropped (every epoch of a
    training loop, every evaluation), so that pyarrow's threads end before the interpreter may exit. This
    session's interpreter outlives every stream by far (the hub clients, fresh interpreters that exit soon
    after their last stream, keep a short pause: tests/hub_server.py's run_hub_client)."""
    try:
        from datasets import config
    except ImportError:
        yield
        return
    pause = config.SLEEP_TIME_ON_THREADS_SHUTDOWN
    config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0
    yield
    config.SLEEP_TIME_ON_THREADS_SHUTDOWN = pause


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    backgrounds = write_backgrounds(root / "bg", 4)
    write_cutouts(root / "fg", 3)
    write_depths(root / "depth", backgrounds)
    return {"backgrounds": root / "bg", "foregrounds": root / "fg", "depths": root / "depth"}


def loopback_only() -> bool:
    """True inside a network namespace whose only interface is loopback (nothing can leave it)."""
    import socket

    # if_nameindex asks the kernel about this process's namespace (/sys/class/net may be the host's).
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def input_args(inputs: dict[str, Path]) -> list[str]:
    return ["--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
            "--background-depths", str(inputs["depths"])]


def generate(out: Path, *args: str) -> int:
    return main(["generate", "--out", str(out), *args])


@pytest.fixture(scope="session")
def small_dataset(inputs, tmp_path_factory) -> Path:
    """A dataset built once with lossless composites, for the tests that only read it: the uniform rule
    (one size anywhere, flat depth) and the plain alpha blend of the input colours, whose composites are
    today's pixel for pixel (test_floor.py has the floor rule, test_effects.py edges and light)."""
    out = tmp_path_factory.mktemp("small") / "ds"
    assert generate(out, *input_args(inputs), *SMALL, *SMALL_DATASET) == 0
    return out


@pytest.fixture(scope="session")
def local_reference(inputs, tmp_path_factory) -> Path:
    """The `inputs` built with the default options in one process: what every engine and output URL must
    write, file for file (read only)."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1") == 0
    return out


@pytest.fixture
def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 as a command started with it sees it: huggingface_hub reads the variable once, at
    import, and this test session imported it long ago. Without the second half, a model missing from the
    cache is looked for on the Hub, retried with back-off for minutes where the network is unreachable."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def hub_endpoint(tmp_path_factory, monkeypatch):
    """Factory: ``hub_endpoint(folder, "org/name", lfs_patterns=())`` publishes `folder`
    as a dataset repo on a local olah server and returns its endpoint URL.

    The test's ``os.environ`` is pointed at it (HF_ENDPOINT, private HF_HOME /
    HF_HUB_CACHE / HF_DATASETS_CACHE, telemetry off, offline flags removed), so
    subprocesses started by the test (see ``tests.hub_server.run_hub_client``) use it.
    Libraries already imported in *this* process keep the endpoint they read at
    import time; run client code in a subprocess or pass ``endpoint=`` explicitly.
    """
    if not HAVE_OLAH:
        pytest.skip("olah is not installed (pip install olah); needed to serve a local HF Hub")
    stack = ExitStack()

    def start(folder: Path, repo_id: str, lfs_patterns=()) -> str:
        tmp = tmp_path_factory.mktemp("hub")
        endpoint = stack.enter_context(serve_dataset_repo(folder, repo_id, tmp, lfs_patterns=lfs_patterns))
        env = hub_client_env(endpoint, tmp / "client")
        for key in set(os.environ) - set(env):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return endpoint

    with stack:
        yield start
