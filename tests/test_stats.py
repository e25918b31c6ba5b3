"""Statistics accumulated while generating agree with a recomputation from the decoded shards."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import SMALL, generate, input_args
from PIL import Image

from generator.cli import main

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def jpeg_dataset(inputs, tmp_path_factory):
    """JPEG composites (lossy: the statistics must describe the decoded bytes), built by two workers."""
    out = tmp_path_factory.mktemp("jpeg") / "ds"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "2", "--no-gallery") == 0
    return out


def _decoded(out, config: str, column: str) -> list[np.ndarray]:
    manifest = json.loads((out / "manifest.json").read_text())
    arrays = []
    for shard in manifest["shards"]:
        if shard["config"] == config:
            for cell in pq.read_table(out / shard["path"], columns=[column]).column(column).to_pylist():
                arrays.append(np.asarray(Image.open(io.BytesIO(cell["bytes"]))))
    return arrays


def _pooled(arrays: list[np.ndarray], scale: float, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Plain float64 mean and population std over all pixels: independent of generator/stats.py."""
    pixels = np.concatenate([a.reshape(-1, channels) for a in arrays]).astype(np.float64) / scale
    return pixels.mean(axis=0), pixels.std(axis=0)


def _expected(out) -> dict[str, tuple]:
    foregrounds = _decoded(out, "foregrounds", "image")
    return {
        "image": _pooled(_decoded(out, "fg_bg", "image"), 255),
        "mask": _pooled(_decoded(out, "fg_bg", "mask"), 255, 1),
        "depth": _pooled(_decoded(out, "fg_bg", "depth"), 65535, 1),
        "background": _pooled(_decoded(out, "backgrounds", "image"), 255),
        "foreground": _pooled([f[..., :3][f[..., 3] > 0] for f in foregrounds], 255),
    }


@pytest.mark.parametrize("which", ["small_dataset", "jpeg_dataset"])
def test_streaming_statistics_match_the_decoded_shards(which, request):
    out = request.getfixturevalue(which)
    stats = json.loads((out / "stats.json").read_text())
    for kind, (mean, std) in _expected(out).items():
        entry = stats["kinds"][kind]
        np.testing.assert_allclose(entry["mean"], mean, atol=TOLERANCE, rtol=0, err_msg=kind)
        np.testing.assert_allclose(entry["std"], std, atol=TOLERANCE, rtol=0, err_msg=kind)
    assert stats["kinds"]["image"]["count"] == sum(json.loads((out / "manifest.json").read_text())["splits"].values())
    assert stats["kinds"]["image"]["dimensions"] == "64x64"
    assert stats["kinds"]["image"]["bytes"] == sum(len(c["bytes"]) for t in _tables(out) for c in t.column("image").to_pylist())
    assert sum(stats["mask_coverage"]["counts"]) == stats["kinds"]["mask"]["count"]


def _tables(out):
    return [pq.read_table(p, columns=["image"]) for p in sorted((out / "data").glob("*.parquet"))]


def test_stats_command_recomputes_the_same_file(jpeg_dataset, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(jpeg_dataset, out)
    streamed = (out / "stats.json").read_text()
    (out / "stats.json").unlink()
    assert main(["stats", str(out), "--no-progress"]) == 0
    assert (out / "stats.json").read_text() == streamed
    assert "| image | 120 |" in (out / "README.md").read_text()


def test_statistics_do_not_depend_on_workers(jpeg_dataset, inputs, tmp_path):
    out = tmp_path / "one"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1", "--no-gallery") == 0
    assert (out / "stats.json").read_bytes() == (jpeg_dataset / "stats.json").read_bytes()


def test_stats_command_refuses_a_folder_without_dataset(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
