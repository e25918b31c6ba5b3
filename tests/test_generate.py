"""The core generator: counts, determinism, masks, composites, flips, splits, depth, layout."""

from __future__ import annotations

import dataclasses
import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import SMALL, generate, input_args
from PIL import Image

from generator.pipeline.composite import prepare_cutout
from generator.pipeline.encode import decode_depth
from generator.config import BuildOptions
from generator.pipeline.plan import GROUND_TOP, Grid, placements, split_members
from generator.pipeline.sources import load_sources
from generator.output.folder import sha256_file


def read_rows(out, config="fg_bg"):
    ds = datasets.load_dataset(str(out), config)
    return {split: list(ds[split]) for split in ds}


def shard_hashes(out):
    return {p.relative_to(out).as_posix(): sha256_file(p) for p in sorted(out.rglob("*.parquet"))}


def sources_of(out, inputs):
    """The sources a dataset of the `inputs` fixture was built from (its manifest names its folders only)."""
    options = BuildOptions.from_dict(json.loads((out / "manifest.json").read_text())["options"])
    return load_sources(dataclasses.replace(options, backgrounds=str(inputs["backgrounds"]), foregrounds=str(inputs["foregrounds"]),
                                            background_depths=str(inputs["depths"])))


def test_counts_are_backgrounds_x_foregrounds_x_flips_x_placements(small_dataset):
    rows = read_rows(small_dataset)
    assert sum(len(r) for r in rows.values()) == 4 * 3 * 2 * 5
    names = [r["name"] for split in rows.values() for r in split]
    assert len(set(names)) == len(names)
    assert "fg_bg_2_3_1_5" in names  # fg 2, bg 3, flipped, 5th placement


def test_no_flip_halves_the_count(inputs, tmp_path):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--no-flip", "--workers", "1") == 0
    rows = read_rows(tmp_path / "ds")
    assert sum(len(r) for r in rows.values()) == 4 * 3 * 5
    assert not any(r["flipped"] for split in rows.values() for r in split)


def test_same_seed_gives_identical_shards_for_any_worker_count(inputs, tmp_path):
    runs = []
    for name, workers in (("a", "1"), ("b", "1"), ("c", "2")):
        assert generate(tmp_path / name, *input_args(inputs), *SMALL, "--workers", workers) == 0
        runs.append(shard_hashes(tmp_path / name))
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 3 + 1 + 4  # fg_bg train 3 shards, test 1, plus backgrounds and foregrounds per split


def test_another_seed_gives_other_placements(inputs, tmp_path, small_dataset):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--image-format", "png", "--seed", "1") == 0
    assert shard_hashes(tmp_path / "ds") != shard_hashes(small_dataset)


def test_manifest_records_every_shard_with_its_sha256(small_dataset):
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    assert {s["path"]: s["sha256"] for s in manifest["shards"]} == shard_hashes(small_dataset)
    for shard in manifest["shards"]:
        assert pq.ParquetFile(small_dataset / shard["path"]).metadata.num_rows == shard["rows"]
    assert manifest["options"]["seed"] == 0 and "pyarrow" in manifest["packages"]
    assert not list(small_dataset.rglob("*.tmp"))


def expected_cutout(sources, row):
    """The row's whole silhouette as the data contract defines it: the cut-out, flipped, resized to (w, h)."""
    return prepare_cutout(sources.foregrounds[row["fg_id"]].rgba, row["flipped"], (row["w"], row["h"]))


def test_mask_is_exactly_the_placed_alpha_and_composite_is_the_alpha_blend(small_dataset, inputs):
    sources = sources_of(small_dataset, inputs)
    for row in read_rows(small_dataset)["train"][:30]:
        cutout = expected_cutout(sources, row)
        h, w = cutout.shape[:2]
        x, y = row["x"], row["y"]
        expected_mask = np.zeros((64, 64), np.uint8)
        expected_mask[y : y + h, x : x + w] = np.where(cutout[..., 3] >= 128, 255, 0)
        np.testing.assert_array_equal(np.asarray(row["mask"]), expected_mask)
        assert row["mask"].mode == "L"
        background = sources.backgrounds[row["bg_id"]].rgb.astype(np.float64)
        a = cutout[..., 3:4] / 255.0
        expected = background.copy()
        expected[y : y + h, x : x + w] = cutout[..., :3] * a + background[y : y + h, x : x + w] * (1 - a)
        assert np.abs(np.asarray(row["image"], np.float64) - expected).max() <= 0.5 + 1e-9


def test_composite_equals_background_outside_the_mask_and_effect_bbox(small_dataset, inputs, tmp_path):
    for row in read_rows(small_dataset)["train"]:
        outside = np.asarray(row["mask"]) == 0
        x0, y0, x1, y1 = row["effect_bbox"]
        outside[y0:y1, x0:x1] = False  # the blend reaches past the mask where alpha is below one half
        np.testing.assert_array_equal(np.asarray(row["image"])[outside], np.asarray(row["background"])[outside])
    # JPEG composites: equal within JPEG tolerance (the background column is the same JPEG encoder's output).
    assert generate(tmp_path / "jpeg", *input_args(inputs), *SMALL, "--blend", "alpha", "--no-shadow") == 0
    for row in read_rows(tmp_path / "jpeg")["train"][:20]:
        outside = np.asarray(row["mask"]) == 0
        x0, y0, x1, y1 = row["effect_bbox"]
        outside[y0:y1, x0:x1] = False
        diff = np.abs(np.asarray(row["image"], np.int16) - np.asarray(row["background"], np.int16))[outside]
        assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 12


def test_flipped_samples_carry_the_mirrored_foreground(small_dataset, inputs):
    sources = sources_of(small_dataset, inputs)
    rows = [r for r in read_rows(small_dataset)["train"] if r["flipped"]][:5]
    assert rows
    for row in rows:
        alpha = sources.foregrounds[row["fg_id"]].rgba[..., 3]
        h, w = alpha.shape
        placed = np.asarray(row["mask"])[row["y"] : row["y"] + h, row["x"] : row["x"] + w]
        np.testing.assert_array_equal(placed > 0, alpha[:, ::-1] >= 128)
        assert not np.array_equal(alpha[:, ::-1] >= 128, alpha >= 128)  # the test would not see a missing flip otherwise


def test_bbox_covers_the_mask(small_dataset):
    for row in read_rows(small_dataset)["test"]:
        ys, xs = np.nonzero(np.asarray(row["mask"]))
        assert row["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_splits_are_disjoint_by_background_by_default(small_dataset):
    rows = read_rows(small_dataset)
    train_bgs = {r["bg_id"] for r in rows["train"]}
    test_bgs = {r["bg_id"] for r in rows["test"]}
    assert train_bgs and test_bgs and not train_bgs & test_bgs
    assert len(test_bgs) == round(4 * 0.3)
    backgrounds = read_rows(small_dataset, "backgrounds")
    assert {r["bg_id"] for r in backgrounds["test"]} == test_bgs


@pytest.mark.parametrize("split_by", ["foreground", "sample"])
def test_other_split_modes(split_by):
    options = BuildOptions(demo=True, split_by=split_by, test_fraction=0.3, placements=5)
    grid = Grid(4, 10, 2, 5)
    members = split_members(grid, options)
    assert len(members["train"]) + len(members["test"]) == grid.total
    assert not set(members["train"].tolist()) & set(members["test"].tolist())
    if split_by == "foreground":
        _, fg_train, _, _ = grid.decompose(members["train"])
        _, fg_test, _, _ = grid.decompose(members["test"])
        assert not set(fg_train.tolist()) & set(fg_test.tolist()) and len(set(fg_test.tolist())) == 3
    else:
        assert len(members["test"]) == round(grid.total * 0.3)


def test_placement_is_a_pure_function_of_seed_and_ids():
    options = BuildOptions(demo=True, bg_size=64, placements=20)
    first = placements(options, 3, 7, True, (30, 20))
    assert first == placements(options, 3, 7, True, (30, 20))
    assert first != placements(options, 3, 7, False, (30, 20))
    assert len({(p.x, p.y) for p in first}) == 20
    assert all(0 <= p.x <= 64 - 20 and 0 <= p.y <= 64 - 30 for p in first)


def test_ground_placement_keeps_feet_in_the_lower_part():
    options = BuildOptions(demo=True, bg_size=100, placements=50, placement="ground")
    for place in placements(options, 0, 0, False, (20, 10)):
        assert GROUND_TOP * 100 <= place.y + 20 <= 100


def test_scale_jitter_varies_the_size(inputs, tmp_path):
    args = ("--scale-jitter", "0.3", "--image-format", "png", "--placement", "uniform")
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, *args) == 0
    rows = read_rows(tmp_path / "ds")["train"]
    scales = {r["scale"] for r in rows}
    assert len(scales) > 10 and all(0.7 <= s <= 1.3 for s in scales)
    sources = sources_of(tmp_path / "ds", inputs)
    for row in rows[:10]:
        cutout = expected_cutout(sources, row)
        assert (np.asarray(row["mask"]) > 0).sum() == (cutout[..., 3] >= 128).sum()


def test_scene_depth_puts_the_foreground_at_its_contact_depth(small_dataset, inputs):
    sources = sources_of(small_dataset, inputs)
    for row in read_rows(small_dataset)["train"][:20]:
        depth = decode_depth(row["depth"], row["depth_min"], row["depth_max"])
        mask = np.asarray(row["mask"]) > 0
        background = sources.backgrounds[row["bg_id"]].depth
        tolerance = (row["depth_max"] - row["depth_min"]) / 65535 + 1e-5
        np.testing.assert_allclose(depth[~mask], background[~mask], atol=tolerance)
        bottom = np.flatnonzero(mask.any(axis=1))[-1]
        cols = np.flatnonzero(mask[bottom])
        expected = min(background[bottom, cols[len(cols) // 2]], background[mask].min())
        np.testing.assert_allclose(depth[mask], expected, atol=tolerance)
        assert depth[mask].max() <= background[mask].min() + tolerance


def test_soft_mask_keeps_the_alpha(inputs, tmp_path):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--soft-mask") == 0
    masks = np.stack([np.asarray(r["mask"]) for r in read_rows(tmp_path / "ds")["train"][:10]])
    assert ((masks > 0) & (masks < 255)).any()


def test_depth_none_leaves_depth_null(inputs, tmp_path):
    assert generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]), *SMALL, "--depth", "none", "--placement", "uniform") == 0
    row = read_rows(tmp_path / "ds")["train"][0]
    assert row["depth"] is None and row["depth_min"] is None


def test_background_depth_as_16_bit_png_in_millimetres(inputs, tmp_path):
    from tests.inputs import write_depths

    write_depths(tmp_path / "png_depth", sorted(inputs["backgrounds"].iterdir()), suffix=".png")
    args = ["--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]), "--background-depths", str(tmp_path / "png_depth")]
    assert generate(tmp_path / "ds", *args, *SMALL) == 0
    row = read_rows(tmp_path / "ds", "backgrounds")["train"][0]
    assert row["depth_min"] == pytest.approx(1.0, abs=0.01) and row["depth_max"] == pytest.approx(8.0, abs=0.2)


def test_load_dataset_and_streaming_read_the_output(small_dataset):
    ds = datasets.load_dataset(str(small_dataset))
    assert set(ds) == {"train", "test"}
    row = ds["train"][0]
    assert row["image"].size == (64, 64) and row["image"].mode == "RGB"
    assert row["depth"].mode.startswith("I")
    streamed = datasets.load_dataset(str(small_dataset), streaming=True)
    first = next(iter(streamed["test"]))
    assert first["name"] == ds["test"][0]["name"]
    assert first["background"].size == (64, 64)
    shuffled = [r["name"] for r in streamed["train"].shuffle(seed=0, buffer_size=20).take(30)]
    assert len(set(shuffled)) == 30


def test_background_column_is_stored_once_per_row_group(small_dataset):
    """The background repeats in every row; dictionary encoding keeps it from multiplying storage."""
    parquet = pq.ParquetFile(small_dataset / "data" / "train-00000-of-00003.parquet")
    group = parquet.metadata.row_group(0)
    sizes = {group.column(i).path_in_schema: group.column(i).total_compressed_size for i in range(group.num_columns)}
    assert sizes["background.bytes"] * 5 < sizes["image.bytes"]


def test_builder_api_builds_the_same_rows(inputs, tmp_path, small_dataset):
    import dataclasses

    from mono_depth_mask import MonoDepthMask

    options = BuildOptions.from_dict(json.loads((small_dataset / "manifest.json").read_text())["options"])
    data_dir = tmp_path / "inputs"
    data_dir.mkdir()
    for name, key in (("backgrounds", "backgrounds"), ("foregrounds", "foregrounds"), ("background_depths", "depths")):
        (data_dir / name).symlink_to(inputs[key])
    build = dataclasses.replace(options, backgrounds=None, foregrounds=None, background_depths=None)
    builder = MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"), build=build)
    builder.download_and_prepare()
    built = builder.as_dataset()
    written = datasets.load_dataset(str(small_dataset))
    assert built["train"].features == written["train"].features
    for split in ("train", "test"):
        assert built[split]["name"] == written[split]["name"]
        assert np.array_equal(np.asarray(built[split][3]["image"]), np.asarray(written[split][3]["image"]))


def test_peer_layout_with_jpg_masks_matched_by_number(tmp_path):
    from tests.inputs import write_peer_layout

    folders = write_peer_layout(tmp_path / "peer", backgrounds=3, foregrounds=2)
    args = ["--backgrounds", str(folders["backgrounds"]), "--foregrounds", str(folders["foregrounds"]), "--masks", str(folders["masks"])]
    assert generate(tmp_path / "ds", *args, *SMALL, "--depth", "none", "--placement", "uniform") == 0
    rows = read_rows(tmp_path / "ds")
    assert sum(len(r) for r in rows.values()) == 3 * 2 * 2 * 5
    mask = np.asarray(rows["train"][0]["mask"])
    assert set(np.unique(mask).tolist()) == {0, 255}  # JPG mask ringing thresholded away
    foregrounds = read_rows(tmp_path / "ds", "foregrounds")
    assert [r["name"] for r in foregrounds["train"]] == ["fg_img_1", "fg_img_2"]


def test_num_backgrounds_takes_the_first_n_in_natural_order(inputs, tmp_path):
    folder = tmp_path / "nat"
    folder.mkdir()
    for i in (10, 2, 1):  # img_10 sorts after img_2 naturally, before it as text
        Image.new("RGB", (70, 50), (i * 20, 0, 0)).save(folder / f"img_{i}.jpg")
    args = ["--backgrounds", str(folder), "--foregrounds", str(inputs["foregrounds"]), "--num-backgrounds", "2"]
    assert generate(tmp_path / "ds", *args, *SMALL, "--depth", "none", "--placement", "uniform", "--test-fraction", "0") == 0
    names = [r["name"] for r in read_rows(tmp_path / "ds", "backgrounds")["train"]]
    assert names == ["img_1", "img_2"]


def test_builder_full_config_uses_background_depths_like_the_cli(inputs, tmp_path):
    from mono_depth_mask import MonoDepthMask

    data_dir = tmp_path / "inputs"
    data_dir.mkdir()
    for name, key in (("backgrounds", "backgrounds"), ("foregrounds", "foregrounds"), ("background_depths", "depths")):
        (data_dir / name).symlink_to(inputs[key])
    builder = MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))
    assert builder._options().depth == "scene"
    builder.download_and_prepare()
    row = builder.as_dataset()["train"][0]
    assert row["depth"] is not None and row["depth_max"] > row["depth_min"]
    (data_dir / "background_depths").unlink()
    assert MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache2"))._options().depth == "none"


def test_samples_at_most_bounds_the_build_before_inputs_are_read():
    from generator.config import DEMO_BACKGROUNDS, DEMO_FOREGROUNDS, BuildOptions

    assert BuildOptions(demo=True).samples_at_most() == DEMO_BACKGROUNDS * DEMO_FOREGROUNDS * 2 * 20
    assert BuildOptions(demo=True, num_backgrounds=1, num_foregrounds=1, placements=1, flip=False).samples_at_most() == 1
    assert BuildOptions(backgrounds="bg", foregrounds="fg", num_backgrounds=3).samples_at_most() is None  # foregrounds unknown
    assert BuildOptions(backgrounds="bg", foregrounds="fg", num_backgrounds=3, num_foregrounds=2, placements=5).samples_at_most() == 60


def test_a_build_of_one_shard_starts_no_worker_processes(tmp_path):
    """Its shard is built in the build's own process: a fork server started for it would be waste."""
    import subprocess
    import sys

    code = (
        "import multiprocessing.forkserver as fs\n"
        "from generator.cli import main\n"
        f"assert main(['generate', '--demo', '--num-backgrounds', '1', '--num-foregrounds', '2', '--placements', '2', '--workers', '2', '--no-progress', '--out', {str(tmp_path / 'ds')!r}]) == 0\n"
        "assert fs._forkserver._forkserver_pid is None, 'a fork server was started'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
