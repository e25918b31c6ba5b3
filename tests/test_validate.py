"""validate finds each kind of damage, and passes undamaged datasets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import SMALL, generate, input_args

from generator.cli import main
from generator.pipeline.encode import encode_png
from generator.dataset.validate import validate


@pytest.fixture
def damaged(small_dataset, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(small_dataset, out)
    return out


def _checks(out) -> set[str]:
    return {f.check for f in validate(out, progress=False).failures}


def _rewrite_masks(path, change) -> None:
    """Rewrite a shard with its masks changed by `change(list of cells)`, keeping schema and metadata."""
    table = pq.read_table(path)
    masks = table.column("mask").to_pylist()
    change(masks)
    index = table.schema.get_field_index("mask")
    table = table.set_column(index, table.schema.field(index), pa.array(masks, type=table.schema.field(index).type))
    pq.write_table(table, path)


def test_an_undamaged_dataset_passes(small_dataset, capsys):
    assert main(["validate", str(small_dataset), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_a_jpeg_dataset_passes_within_tolerance(inputs, tmp_path):
    out = tmp_path / "jpeg"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1", "--no-gallery") == 0
    assert validate(out, progress=False).ok


def test_a_flipped_byte_is_found(damaged, capsys):
    path = damaged / "data/train-00000-of-00003.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["validate", str(damaged), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "data/train-00000-of-00003.parquet: sha256" in out


def test_a_dropped_shard_and_an_unlisted_one_are_found(damaged):
    shutil.move(damaged / "data/test-00000-of-00001.parquet", damaged / "data/test-00009-of-00010.parquet")
    assert {"missing", "unlisted"} <= _checks(damaged)


def test_swapped_masks_are_found(damaged):
    path = damaged / "data/train-00000-of-00003.parquet"
    bboxes = pq.read_table(path, columns=["bbox"]).column("bbox").to_pylist()
    other = next(i for i, box in enumerate(bboxes) if box != bboxes[0])

    def swap(masks):
        masks[0], masks[other] = masks[other], masks[0]

    _rewrite_masks(path, swap)
    report = validate(damaged, progress=False)
    rows = {(f.row, f.check) for f in report.failures}
    # The composites still differ only inside their effect_bbox (which holds the blend past the mask):
    # the swapped masks show in their boxes and against the whole silhouettes.
    assert {(0, "bbox"), (other, "bbox"), (0, "amodal mask"), (other, "amodal mask")} <= rows


def test_a_mask_that_is_not_binary_is_found(damaged):
    path = damaged / "data/train-00001-of-00003.parquet"

    def soften(masks):
        import io

        from PIL import Image

        mask = np.asarray(Image.open(io.BytesIO(masks[3]["bytes"]))).copy()
        mask[mask == 255] = 128
        masks[3] = {"bytes": encode_png(mask), "path": None}

    _rewrite_masks(path, soften)
    failures = [f for f in validate(damaged, progress=False).failures if f.check == "binary mask"]
    assert [(f.file, f.row) for f in failures] == [("data/train-00001-of-00003.parquet", 3)]


def test_splits_that_share_a_background_are_found(damaged):
    manifest = json.loads((damaged / "manifest.json").read_text())
    test_shard = next(s for s in manifest["shards"] if s["config"] == "fg_bg" and s["split"] == "test")
    train_bg = pq.read_table(damaged / "data/train-00000-of-00003.parquet", columns=["bg_id"]).column("bg_id")[0].as_py()
    path = damaged / test_shard["path"]
    table = pq.read_table(path)
    index = table.schema.get_field_index("bg_id")
    table = table.set_column(index, table.schema.field(index), pa.array([train_bg] * table.num_rows, pa.int32()))
    pq.write_table(table, path)
    assert "disjoint splits" in _checks(damaged)


def test_validate_counts_only_composites_as_samples(tmp_path, capsys):
    from generator.cli import main

    out = tmp_path / "count"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--workers", "1",
                 "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out), "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("OK: 6 files, 160 samples ("), line  # the inputs' rows are counted apart
