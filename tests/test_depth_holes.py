"""Background depth with holes (stereo, depth sensors): 0, NaN and inf in `.npy`, 0 in a 16-bit PNG. A demo
room written out as a user's photo, its exact depth with holes punched in it, is built as any user's
photos are; the floor, the placements, the occlusion and the stored depth ignore the holes, the stored
`depth_known` marks them, and the loader and `stats` follow it."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from benchmarks.geometry_check import check
from generator.cli import main
from generator.dataset.stats import recompute
from generator.errors import BadInput
from generator.pipeline.depth import ObjectDepth, scene_depth
from generator.pipeline.depth_holes import crop_resize
from generator.pipeline.depth_splice import BackgroundDepth, PlainDepth
from generator.pipeline.demo import demo_rooms, demo_sprites
from generator.pipeline.geometry import Intrinsics, contact_pixel_candidates
from generator.pipeline.moments import DEPTH
from generator.pipeline.sources import _read_depth
from tests.conftest import generate
from tests.inputs import write_backgrounds, write_cutouts, write_depths

SIZE = 128
ROOM = 2  # the demo room whose furniture hides the most
MARKERS = (0.0, np.nan, np.inf, -np.inf)
BUILD = ["--bg-size", str(SIZE), "--placements", "6", "--no-progress", "--no-gallery", "--workers", "1", "--fg-height", "0.9"]


def _room():
    return demo_rooms(ROOM + 1, SIZE, seed=0)[ROOM]


def _punched(shape: tuple[int, int], seed: int = 5) -> np.ndarray:
    """(H, W) bool: discs and a strip of holes, on the floor and off it."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    holes = np.zeros(shape, bool)
    for _ in range(14):
        r, c, radius = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(4, 12)
        holes |= (rows - r) ** 2 + (cols - c) ** 2 < radius**2
    holes[:, shape[1] // 3 : shape[1] // 3 + 5] = True
    return holes


def _with_holes(depth: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`depth` with every marker of a hole used in turn."""
    marked = depth.astype(np.float32).copy()
    marked[holes] = np.resize(np.array(MARKERS, np.float32), int(holes.sum()))
    return marked


def _write_inputs(root, depth: np.ndarray) -> list[str]:
    """The room as a photo with `depth` as its .npy, three demo sprites as cut-outs; the build's arguments."""
    room = _room()
    for name in ("bg", "fg", "depth"):
        (root / name).mkdir(parents=True, exist_ok=True)
    Image.fromarray(room.rgb).save(root / "bg" / "room.png")
    np.save(root / "depth" / "room.npy", depth)
    for i, sprite in enumerate(demo_sprites(3, SIZE, seed=0)):
        Image.fromarray(sprite.rgba, "RGBA").save(root / "fg" / f"thing_{i}.png")
    hfov = math.degrees(2 * math.atan((SIZE / 2) / room.intrinsics[0]))  # the demo's own camera
    return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--background-depths", str(root / "depth"),
            "--fov", repr(hfov), *BUILD]


def _rows(out, folder: str) -> list[dict]:
    return pq.ParquetDataset(sorted(str(p) for p in (out / folder).glob("*.parquet"))).read().to_pylist()


def _png(cell) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


def _depth(row) -> np.ndarray:
    return row["depth_min"] + _png(row["depth"]).astype(np.float64) / 65535 * (row["depth_max"] - row["depth_min"])


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The room built from its full depth and from the same depth with holes."""
    root = tmp_path_factory.mktemp("holes")
    depth = _room().depth
    holes = _punched(depth.shape)
    outs = {}
    for name, given in (("full", depth), ("holed", _with_holes(depth, holes))):
        outs[name] = root / name / "ds"
        assert generate(outs[name], *_write_inputs(root / name / "in", given)) == 0
    return outs, holes


def test_a_depth_with_holes_builds_validates_and_stands_on_the_floor(builds):
    outs, _ = builds
    assert main(["validate", str(outs["holed"]), "--no-progress"]) == 0
    assert len(_rows(outs["holed"], "data")) == len(_rows(outs["full"], "data")) > 0
    found = check(outs["holed"])  # the demo's acceptance figures, read with the holes as unknown
    assert found["standing"] == found["rows"] and found["contact_shown"] == 1.0 and found["contact_on_floor"] == 1.0
    assert found["height_cv_max"] <= 0.08 and found["depth_order_agrees"] >= 0.99
    card = (outs["holed"] / "README.md").read_text()
    assert "| `depth_known` |" in card and "Holes in the depth files (0, NaN or inf) are unknown pixels" in card


def test_the_stored_validity_marks_the_holes_exactly(builds):
    outs, holes = builds
    (background,) = _rows(outs["holed"], "backgrounds")
    (full,) = _rows(outs["full"], "backgrounds")
    assert full["depth_known"] is None  # a depth without holes keeps no mask
    known = _png(background["depth_known"])
    assert known.dtype == np.uint8 and set(np.unique(known)) == {0, 255}
    assert np.array_equal(known == 255, ~holes)
    # The known pixels keep their depth; the range is theirs; a hole's level is 0.
    step = (full["depth_max"] - full["depth_min"]) / 65535
    assert np.abs(_depth(background) - _depth(full))[~holes].max() <= 2 * step
    assert background["depth_min"] == pytest.approx(_room().depth[~holes].min(), abs=1e-6)
    assert background["depth_max"] == pytest.approx(_room().depth[~holes].max(), abs=1e-6)
    assert (_png(background["depth"])[holes] == 0).all()


def test_where_the_object_is_pasted_its_depth_is_known(builds):
    outs, holes = builds
    rows = _rows(outs["holed"], "data")
    over_a_hole = 0
    for row in rows:
        known = _png(row["depth_known"]) == 255
        shown = _png(row["mask"]) == 255
        assert known[~holes].all() and known[shown].all(), row["name"]
        assert not known[holes & (_png(row["amodal_mask"]) == 0)].any(), row["name"]  # what no object covers stays a hole
        over_a_hole += int((shown & holes).any())
    assert over_a_hole > 0


def test_no_object_stands_on_an_unknown_pixel(builds):
    outs, holes = builds
    rows = _rows(outs["holed"], "data")
    for row in rows:
        # placement.stand: the silhouette's bottom row is the contact's, centred on its column.
        contact_row, contact_col = row["y"] + row["h"] - 1, math.ceil(row["x"] + row["w"] / 2 - 0.5)
        assert not holes[contact_row - 1 : contact_row + 2, contact_col - 1 : contact_col + 2].any(), row["name"]
    assert {r["fg_id"] for r in rows} == {0, 1, 2}


def test_the_floor_fit_ignores_the_holes(builds):
    outs, _ = builds
    (holed,) = _rows(outs["holed"], "backgrounds")
    (full,) = _rows(outs["full"], "backgrounds")
    a, b = np.array(holed["ground_plane"]), np.array(full["ground_plane"])
    assert math.degrees(math.acos(min(1.0, float(a[:3] @ b[:3])))) < 1.0
    assert abs(a[3] - b[3]) < 0.02


def test_the_loader_yields_the_known_pixels(builds):
    import torch

    from generator.training import streaming_loader

    outs, _ = builds
    rows = {r["name"]: r for r in _rows(outs["holed"], "data")}
    stats = json.loads((outs["holed"] / "stats.json").read_text())
    loader = streaming_loader(outs["holed"], "train", batch_size=4, num_workers=0, shuffle_buffer=0, stats=stats)
    batch = next(iter(loader))
    assert batch["depth_known"].shape == (4, 1, SIZE, SIZE) and batch["depth_known"].dtype == torch.bool
    assert batch["depth_valid"].all()
    from datasets import load_dataset

    names = [r["name"] for _, r in zip(range(4), load_dataset(str(outs["holed"]), split="train", streaming=True))]
    for i, name in enumerate(names):
        stored = _png(rows[name]["depth_known"]) == 255
        assert np.array_equal(batch["depth_known"][i, 0].numpy(), stored)
        assert (batch["depth"][i, 0][~torch.from_numpy(stored)] == 0).all()
    # Without holes every pixel of a row with depth is known.
    full = next(iter(streaming_loader(outs["full"], "train", batch_size=4, num_workers=0, shuffle_buffer=0, stats=stats)))
    assert full["depth_known"].all()


def test_stats_count_only_the_known_pixels(builds):
    outs, _ = builds
    rows = _rows(outs["holed"], "data")
    known = sum(int((_png(r["depth_known"]) == 255).sum()) for r in rows)
    levels = sum(int(_png(r["depth"]).astype(np.int64)[_png(r["depth_known"]) == 255].sum()) for r in rows)
    stats = recompute(outs["holed"])
    assert stats.kinds[DEPTH].pixels == known < len(rows) * SIZE * SIZE
    assert stats.kinds[DEPTH].sums == [levels]
    written = json.loads((outs["holed"] / "stats.json").read_text())
    assert written == stats.to_json()  # what the build counted is what `stats` recounts from the shards


def test_unknown_pixels_never_hide_an_object(tmp_path, builds):
    """With only the floor known, nothing in the scene can hide an object: every row shows its whole
    silhouette, where the full depth hides some of them behind the furniture."""
    outs, _ = builds
    room = _room()
    floor = np.zeros(room.depth.shape, bool)
    rows, cols = contact_pixel_candidates(room.depth, Intrinsics(*room.intrinsics), np.array(room.floor), 0.01).T
    floor[rows, cols] = True
    out = tmp_path / "ds"
    assert generate(out, *_write_inputs(tmp_path / "in", np.where(floor, room.depth, np.float32(0)))) == 0
    hidden = lambda r: int(((_png(r["amodal_mask"]) > 0) & (_png(r["mask"]) == 0)).sum())  # noqa: E731
    assert sum(hidden(r) for r in _rows(outs["full"], "data")) > 0
    assert all(hidden(r) == 0 for r in _rows(out, "data"))


@pytest.mark.parametrize("extra", [["--placement", "uniform"], ["--objects", "2-3", "--shadow", "--blend", "gaussian"]])
def test_other_rules_over_holes_keep_the_objects_known(tmp_path, extra):
    """The uniform rule (a flat cut-out at its contact's depth) and several objects with effects: over the
    holes, every pixel an object shows has a known depth, and the rest of a hole stays unknown."""
    room = _room()
    holes = _punched(room.depth.shape)
    out = tmp_path / "ds"
    assert generate(out, *_write_inputs(tmp_path / "in", _with_holes(room.depth, holes)), *extra) == 0
    assert main(["validate", str(out), "--no-progress"]) == 0
    for row in _rows(out, "data"):
        known, depth = _png(row["depth_known"]) == 255, _depth(row)
        assert known[~holes].all() and known[_png(row["mask"]) == 255].all(), row["name"]
        assert not known[holes & (_png(row["amodal_mask"]) == 0)].any(), row["name"]
        assert np.isfinite(depth[known]).all() and row["depth_min"] > 0


# --- reading the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["npy 0", "npy nan", "npy inf", "npy -inf", "png 0"])
def test_every_marker_of_a_hole_reads_as_unknown(tmp_path, marker):
    depth = np.linspace(1.0, 5.0, 40 * 30, dtype=np.float32).reshape(30, 40)
    holes = _punched(depth.shape, seed=1)
    kind, value = marker.split()
    if kind == "npy":
        path = tmp_path / "d.npy"
        np.save(path, np.where(holes, np.float32(value), depth))
    else:
        path = tmp_path / "d.png"
        Image.fromarray(np.where(holes, 0, np.rint(depth * 1000)).astype(np.uint16)).save(path)
    read = _read_depth(path, depth.shape)
    assert np.array_equal(np.isnan(read), holes)
    assert np.allclose(read[~holes], depth[~holes], atol=1e-3)


@pytest.mark.parametrize("known", [0, 5])  # of 80 x 60 pixels: none, and under 1 %
def test_a_depth_of_holes_is_refused_in_one_line(tmp_path, capsys, known):
    backgrounds = write_backgrounds(tmp_path / "bg", 2)
    write_cutouts(tmp_path / "fg", 1)
    write_depths(tmp_path / "depth", backgrounds, suffix=".png")
    sparse = np.zeros((60, 80), np.uint16)
    sparse.flat[:known] = 2000
    Image.fromarray(sparse).save(tmp_path / "depth" / "bg_img_2.png")
    args = ["--backgrounds", str(tmp_path / "bg"), "--foregrounds", str(tmp_path / "fg"), "--background-depths", str(tmp_path / "depth"),
            "--bg-size", "48", "--placements", "2", "--no-progress", "--no-gallery", "--workers", "1"]
    assert generate(tmp_path / "ds", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bg_img_2.png" in err[0] and f"known at {known} of 4800 pixels" in err[0], err
    assert not (tmp_path / "ds").exists()
    assert generate(tmp_path / "skip", *args, "--skip-bad-inputs") == 0
    skipped = json.loads((tmp_path / "skip" / "manifest.json").read_text())["skipped_inputs"]
    assert [s["input"] for s in skipped] == ["background"] and "bg_img_2.png" in skipped[0]["reason"]


def test_negative_depth_is_still_refused(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, -np.ones((30, 40), np.float32))
    with pytest.raises(BadInput, match="negative"):
        _read_depth(path, (30, 40))


# --- the pieces -------------------------------------------------------------------------------------


def test_a_resize_keeps_holes_and_depths_apart():
    depth = np.full((64, 64), 2.0, np.float32)
    depth[20:40, 10:30] = np.nan
    resized = crop_resize(depth, (0, 0, 64, 64), 24)
    known = np.isfinite(resized)
    assert (resized[known] == pytest.approx(2.0)) and 0 < (~known).sum() < known.sum()
    assert np.isnan(resized[11, 7])  # the hole's middle


def test_a_flat_cutout_over_a_hole_gets_a_known_depth():
    depth = np.linspace(1.0, 4.0, 32, dtype=np.float32)[:, None].repeat(32, axis=1)
    depth[20:, 8:24] = np.nan  # under the mask's bottom: its contact point is unknown
    mask = np.zeros((32, 32), np.uint8)
    mask[10:30, 10:20] = 255
    stored = scene_depth(depth, mask)
    assert np.isfinite(stored[mask > 0]).all()
    assert stored[mask > 0].max() == pytest.approx(depth[10:20, 10:20].min())  # never behind what it covers
    entirely = np.full((32, 32), np.nan, np.float32)
    entirely[0, 0] = 3.0
    assert (scene_depth(entirely, mask)[mask > 0] == np.float32(3.0)).all()


def test_the_spliced_depth_with_holes_is_the_plain_one():
    """The stored map of a background with holes and an object over part of them: spliced from the
    background (depth_splice.py) or quantised whole, the same levels, mask, bytes and statistics."""
    rng = np.random.default_rng(3)
    background = rng.uniform(1.0, 6.0, (48, 48)).astype(np.float32)
    background[_punched((48, 48), seed=2)] = np.nan
    standing = ObjectDepth(10, 12, np.full((20, 14), 3.5, np.float32))
    visible = rng.random((20, 14)) < 0.7
    stored = BackgroundDepth(background).with_object(standing, visible)
    whole = background.copy()
    whole[10:30, 12:26][visible] = 3.5
    plain = PlainDepth.of(whole)
    assert type(stored).__name__ == "SplicedDepth"
    assert np.array_equal(stored.quantized, plain.quantized) and np.array_equal(stored.known, plain.known)
    assert stored.png() == plain.png() and stored.known_png() == plain.known_png()
    assert stored.moments() == plain.moments() and stored.known_pixels == plain.known_pixels == int(np.isfinite(whole).sum())


def test_the_loader_marks_rows_without_depth_unknown_and_training_skips_unknown_pixels():
    import torch

    from generator.baseline.losses import RELATIVE, valid_depth
    from generator.training import Collate

    stats = {"kinds": {k: {"mean": [0.5] * 3, "std": [0.25] * 3} for k in ("image", "background")}}
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    mask = torch.zeros(1, 4, 4, dtype=torch.uint8)
    depth = torch.full((1, 4, 4), 65535, dtype=torch.int32)
    holes = torch.full((1, 4, 4), 255, dtype=torch.uint8)
    holes[0, :2] = 0
    common = {"image": image, "background": image, "mask": mask, "depth_min": 1.0, "depth_max": 3.0}
    batch = Collate(stats)([{**common, "depth": None, "depth_known": None}, {**common, "depth": depth, "depth_known": None},
                            {**common, "depth": depth, "depth_known": holes}])
    assert batch["depth_valid"].tolist() == [False, True, True]
    assert not batch["depth_known"][0].any() and batch["depth_known"][1].all()
    assert torch.equal(batch["depth_known"][2, 0], holes[0] > 0)
    assert (batch["depth"][2, 0, :2] == 0).all() and (batch["depth"][2, 0, 2:] == 3.0).all()
    valid = valid_depth(batch["depth"], batch["depth_valid"], RELATIVE, batch["depth_known"])  # 0 is a value there
    assert torch.equal(valid, batch["depth_known"])


@pytest.mark.parametrize("case", ["good", "grey values", "no hole", "depth at a hole", "no depth", "other size"])
def test_validate_checks_the_known_mask(case):
    from generator.dataset.depth_known_check import check_depth_known
    from generator.pipeline.encode import encode_png

    depth = np.full((8, 8), 1000, np.uint16)
    known = np.full((8, 8), 255, np.uint8)
    known[:3] = 0
    depth[:3] = 0
    if case == "grey values":
        known[5, 5] = 128
    elif case == "no hole":
        known[:] = 255
    elif case == "depth at a hole":
        depth[0, 0] = 7
    row = {"depth": None if case == "no depth" else {"bytes": encode_png(depth)}, "depth_known": {"bytes": encode_png(known)}}

    class Report:
        failures: list = []

        def fail(self, file, row, check, detail):
            self.failures.append((check, detail))

    report = Report()
    check_depth_known("f", 0, row, (6, 6) if case == "other size" else (8, 8), report)
    assert [check for check, _ in report.failures] == ([] if case == "good" else ["depth_known"])


def test_the_gallery_draws_holes_black_and_counts_none(builds, tmp_path):
    import shutil
    import warnings

    from generator.dataset.drawing import turbo
    from generator.dataset.gallery import read_samples

    outs, holes = builds
    copy = tmp_path / "ds"
    shutil.copytree(outs["holed"], copy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NaN cast to a colour index warns
        assert main(["gallery", str(copy), "--no-progress"]) == 0
    assert (copy / "gallery" / "05-depth.png").is_file()
    manifest = json.loads((copy / "manifest.json").read_text())
    samples = read_samples(copy, manifest, np.random.default_rng(0), 4)
    for sample in samples:
        unknown = np.isnan(sample.depth)
        assert unknown.any() and not unknown[sample.mask == 255].any() and unknown[holes & (sample.mask == 0)].all()
        assert (turbo(sample.depth, 1.0, 5.0)[unknown] == 0).all()
