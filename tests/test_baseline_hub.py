"""`baseline --dataset ORG/NAME` streams a dataset from the Hub (a local olah server standing in for it) and
writes its results into a plain folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import main
from tests.hub_server import HAVE_OLAH, hub_client_env, run_hub_client, serve_dataset_repo

REPO_ID = "my-org/tiny-rooms"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not HAVE_OLAH, reason="olah is not installed (pip install olah); needed to serve a local HF Hub")
def test_baseline_trains_on_a_hub_dataset(tmp_path):
    data = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "2",
                 "--bg-size", "32", "--workers", "1", "--no-progress", "--out", str(data)]) == 0
    assert main(["card", str(data), "--repo-id", REPO_ID]) == 0
    results = tmp_path / "results"
    with serve_dataset_repo(data, REPO_ID, tmp_path / "hub", lfs_patterns=["*.parquet"]) as endpoint:
        code = f"""
            import torch
            torch.set_num_threads(1)
            from generator.cli import main
            emit(main(["baseline", {str(results)!r}, "--dataset", {REPO_ID!r}, "--steps", "2", "--size", "32",
                       "--batch-size", "4", "--eval-rendered", "2", "--device", "cpu", "--no-progress"]))
        """
        assert run_hub_client(code, hub_client_env(endpoint, tmp_path / "client"), timeout=300, cwd=ROOT) == 0
    report = json.loads((results / "baseline.json").read_text())
    assert report["command"].startswith(f"mono-depth-mask baseline results --dataset {REPO_ID} --steps 2")
    assert set(report["evaluations"]) == {"test", "rendered"} and report["evaluations"]["test"]["samples"] > 0
    assert {p.name for p in (results / "gallery").glob("*.png")} == {"09-baseline-curves.png", "10-baseline-predictions.png"}
