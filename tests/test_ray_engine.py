"""The Ray engine: the same bytes as the local engine, on a local Ray instance (loopback only, 2 CPUs),
with a worker killed mid-build. One ray.init for the whole module."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import SMALL, generate, input_args, loopback_only

ray = pytest.importorskip("ray")

# Ray 2.60 starts servers that listen on every interface (the dashboard and runtime-env agents on the
# machine's own address too), whatever node address is asked for. These tests run only where nothing but
# loopback exists: .ci/run runs the suite in a network namespace of its own (unshare -n).
pytestmark = pytest.mark.skipif(
    not loopback_only(),
    reason="Ray listens on every interface: run in a loopback-only network namespace, e.g. "
    "unshare -n sh -c 'ip link set lo up && python -m pytest -q tests/test_ray_engine.py'",
)

from tests.ray_crash import CRASH_DIR  # noqa: E402
from generator.output.folder import sha256_file  # noqa: E402


def parquet_hashes(out):
    return {p.relative_to(out).as_posix(): sha256_file(p) for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    crash_dir = tmp_path_factory.mktemp("crash-requests")
    saved = {key: os.environ.get(key) for key in (CRASH_DIR, "PYTHONPATH")}
    os.environ[CRASH_DIR] = str(crash_dir)  # inherited by the raylet, hence by every actor
    # The workers import the hook from this checkout (they start in another folder).
    root = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             runtime_env={"worker_process_setup_hook": "tests.ray_crash.install"})
    yield crash_dir
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_ray_shards_are_byte_identical_to_the_local_engine(ray_cluster, inputs, tmp_path, local_reference):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--engine", "ray") == 0
    assert parquet_hashes(tmp_path / "ds") == parquet_hashes(local_reference)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    reference = json.loads((local_reference / "manifest.json").read_text())
    assert manifest["shards"] == reference["shards"]


def test_a_killed_worker_s_shard_is_retried_never_duplicated(ray_cluster, inputs, tmp_path, local_reference):
    request = ray_cluster / "train-00001-of-00003"
    request.write_text("kill the actor that picks this shard up")
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--engine", "ray") == 0
    assert not request.exists() and request.with_suffix(".crashed").exists()  # the actor process did die
    out = tmp_path / "ds"
    assert parquet_hashes(out) == parquet_hashes(local_reference)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # nothing half written left behind
    shards = json.loads((out / "manifest.json").read_text())["shards"]
    assert len({s["path"] for s in shards}) == len(shards) == 3 + 1 + 4


def test_ray_engine_writes_to_a_file_url(ray_cluster, inputs, tmp_path, local_reference):
    from generator.cli import main

    url = (tmp_path / "ds").as_uri()
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--engine", "ray"]) == 0
    assert parquet_hashes(tmp_path / "ds") == parquet_hashes(local_reference)
    assert (tmp_path / "ds" / "README.md").is_file()


def test_gpus_per_worker_on_a_cluster_without_gpus(ray_cluster, inputs, tmp_path, capsys):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--engine", "ray", "--gpus-per-worker", "1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0 GPUs" in err[0], err


def test_ray_engine_resumes_a_partial_build(ray_cluster, inputs, tmp_path, local_reference, capsys):
    out = tmp_path / "ds"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1") == 0
    shards = sorted((out / "data").glob("*.parquet"))
    shards[1].unlink()
    shards[2].write_bytes(shards[2].read_bytes()[:100])  # damaged
    capsys.readouterr()
    assert generate(out, *input_args(inputs), *SMALL, "--engine", "ray") == 0
    assert "kept 2 verified shards, built 2" in capsys.readouterr().out
    assert parquet_hashes(out) == parquet_hashes(local_reference)


def test_ray_engine_with_a_depth_model_matches_the_local_engine(ray_cluster, tmp_path):
    from tests.test_depth_model import TINY
    from tests.tiny_models import save_tiny_depth_anything

    import torch

    model = save_tiny_depth_anything(tmp_path / "model")
    args = [*TINY, "--depth", "model", "--depth-model", str(model)]
    # Each 1-CPU actor runs its own teacher with one torch thread (Ray sets OMP_NUM_THREADS=1), and a CPU
    # model's last bits depend on the thread count: give this process's teachers (the local engine's, and
    # the one that labels the backgrounds config) the same one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert generate(tmp_path / "local", *args, "--workers", "1") == 0
        assert generate(tmp_path / "ray", *args, "--engine", "ray") == 0
    finally:
        torch.set_num_threads(threads)
    assert parquet_hashes(tmp_path / "ray") == parquet_hashes(tmp_path / "local")
