"""`validate` and --background-jitter agree on any photo: the jitter is seeded, so validate draws it again
and compares exactly (PNG), and compares the composite with the clean background outside effect_bbox. A
textured photo shifted by 2 px differs by far more than any fixed bound on the mean."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from generator.cli import main
from generator.dataset.validate import validate
from generator.output.folder import sha256_file
from tests.inputs import write_cutouts


@pytest.fixture(scope="module", params=["png", "jpeg"])
def textured(tmp_path_factory, request):
    """PNG: compared exactly; JPEG: the composite exactly outside its spliced MCUs, the stored background
    within JPEG noise of the jitter drawn again from the clean background's decode."""
    root = tmp_path_factory.mktemp("jitter")
    rng = np.random.default_rng(0)
    (root / "bg").mkdir()
    for i in range(2):  # white noise: the most textured photo there is
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / "bg" / f"noise_{i}.png")
    write_cutouts(root / "fg", 2)
    out = root / "ds"
    assert main(["generate", "--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--depth", "none", "--placement", "uniform",
                 "--background-jitter", "--image-format", request.param, "--blend", "mix", "--placements", "3", "--bg-size", "96",
                 "--workers", "1", "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    return out


def test_a_textured_photo_with_background_jitter_validates(textured):
    report = validate(textured, progress=False)
    assert report.ok, report.text()


def test_a_stored_background_that_is_not_the_seeded_jitter_fails(textured, tmp_path):
    """The clean background stored where the jittered copy belongs: only that check fails."""
    out = tmp_path / "ds"
    shutil.copytree(textured, out)
    manifest = json.loads((out / "manifest.json").read_text())
    clean = {}
    for entry in (s for s in manifest["shards"] if s["config"] == "backgrounds"):
        inputs = pq.read_table(out / entry["path"]).to_pylist()
        clean.update({r["bg_id"]: r["image"]["bytes"] for r in inputs})
    entry = next(s for s in manifest["shards"] if s["config"] == "fg_bg")
    table = pq.read_table(out / entry["path"])
    stored = pa.array([{"bytes": clean[r["bg_id"]], "path": None} for r in table.to_pylist()], type=table.schema.field("background").type)
    pq.write_table(table.set_column(table.schema.get_field_index("background"), "background", stored), out / entry["path"])
    entry.update(sha256=sha256_file(out / entry["path"]), bytes=(out / entry["path"]).stat().st_size)
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = validate(out, progress=False)
    assert not report.ok and {f.check for f in report.failures} == {"jittered background"}, report.text()
