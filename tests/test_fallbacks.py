"""No silent fallbacks: every row says which rule placed its object (`placement_rule`), the floor rule
searches the whole visible floor before giving up, `--placement floor` leaves out what stands nowhere
instead of pasting it at a wrong size, and the build counts per rule and per reason (summary line,
manifest, card), the same whatever the number of workers."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from benchmarks.geometry_check import height_metres
from generator.cli import main
from generator.dataset.validate import validate
from generator.output.manifest import DamagedManifest, read_manifest
from generator.pipeline.geometry import Intrinsics, ray_plane_point
from generator.pipeline.placement import floor_geometry, floor_placements, stand, standing_pixels
from generator.rules import FloorMiss
from tests.conftest import generate
from tests.inputs import floor_scene_depth, photo, write_cutouts

SIZE = 96
FOV = 60.0
# A camera 1.4 m above the floor, pitched 20 degrees down, a wall 30 m ahead: a 5.2 m object stands only on
# the farthest visible floor row (about 1 % of the floor pixels); 8 m stands nowhere.
SCENE = dict(hfov=FOV, pitch_down=20.0, camera_height=1.4, wall=30.0)
FAR_ONLY_M = 5.2
NOWHERE_M = 8.0
COMMON = ["--bg-size", str(SIZE), "--fov", str(FOV), "--placements", "4", "--no-flip", "--no-progress", "--no-gallery"]


def _floor():
    depth = floor_scene_depth(SIZE, SIZE, **SCENE)
    return depth, floor_geometry(depth, Intrinsics.from_fov(SIZE, SIZE, FOV))


def _inputs(root, heights: dict[str, float], backgrounds: int = 1) -> list[str]:
    """Square photos of that floor (their metric depth as .npy) and two 30 x 60 cut-outs, thing_1 and
    thing_2, of these heights."""
    for folder in ("bg", "depth"):
        (root / folder).mkdir(parents=True)
    for i in range(backgrounds):
        Image.fromarray(photo(np.random.default_rng(i), SIZE, SIZE)).save(root / "bg" / f"room{i}.png")
        np.save(root / "depth" / f"room{i}.npy", floor_scene_depth(SIZE, SIZE, **SCENE))
    write_cutouts(root / "fg", 2, prefix="thing_", size=(30, 60))
    (root / "heights.csv").write_text("name,height_m\n" + "".join(f"{name},{h}\n" for name, h in heights.items()))
    return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--background-depths", str(root / "depth"),
            "--fg-heights", str(root / "heights.csv")]


def _rows(out) -> list[dict]:
    files = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    return pq.ParquetDataset(files).read(columns=["fg_id", "bg_id", "placement", "placement_rule", "x", "y", "w", "h", "objects"]).to_pylist()


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _measured_heights(rows: list[dict]) -> list[float]:
    """Each row's height in metres, measured from its box: the upright segment from its contact point (the
    bottom row's centre, on the floor) whose top projects to its top row."""
    _, floor = _floor()
    heights = []
    for r in rows:
        contact = ray_plane_point(r["x"] + r["w"] / 2, r["y"] + r["h"] - 0.5, floor.intrinsics, floor.plane)
        heights.append(height_metres(contact, r["y"] + 0.5, floor.plane, floor.intrinsics))
    return heights


def _at_true_size(rows: list[dict], height_m: float) -> bool:
    return all(abs(m - height_m) < height_m * 1.5 / r["h"] for m, r in zip(_measured_heights(rows), rows))


# --- the column ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["floor", "uniform", "ground"])
def test_every_row_and_object_says_which_rule_placed_it(tmp_path, placement):
    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--bg-size", "64", "--placements", "2",
                    "--no-flip", "--no-progress", "--no-gallery", "--placement", placement) == 0
    rows = _rows(out)
    assert rows and {r["placement_rule"] for r in rows} == {placement}
    assert all(o["placement_rule"] == placement for r in rows for o in r["objects"])
    assert _manifest(out)["placements"]["rules"] == {placement: len(rows)}


# --- the whole floor -----------------------------------------------------------------------------------


def test_an_object_that_fits_only_far_away_is_found_there():
    """Random draws of floor pixels almost never meet the far row where a 5.2 m object fits; the search of
    the whole floor finds it, and every placement stands there at its true size."""
    _, floor = _floor()
    fits = standing_pixels(floor, SIZE, FAR_ONLY_M, 0.5, 48)
    assert 0 < fits.mean() < 0.02
    places = floor_placements(floor, SIZE, (60, 30), FAR_ONLY_M, 4, 48, 0.0, 0, 0, 1, False)
    assert len({(p.x, p.y, p.w, p.h) for p in places}) == 4
    for p in places:
        assert abs(height_metres(np.array(p.contact), p.y + 0.5, floor.plane, floor.intrinsics) - FAR_ONLY_M) < FAR_ONLY_M / p.h * 1.01


def test_the_search_agrees_with_stand_pixel_for_pixel():
    _, floor = _floor()
    for height in (1.7, 3.0, FAR_ONLY_M, NOWHERE_M):
        expected = [stand(floor, SIZE, int(r), int(c), height, 0.5, 48) is not None for r, c in floor.contacts]
        np.testing.assert_array_equal(standing_pixels(floor, SIZE, height, 0.5, 48), expected)


def test_an_object_that_stands_nowhere_says_why():
    _, floor = _floor()
    assert floor_placements(floor, SIZE, (60, 30), NOWHERE_M, 3, 48, 0.0, 0, 0, 1, False) == [FloorMiss.DOES_NOT_FIT] * 3


def test_a_build_stands_a_tall_object_far_away_at_its_true_size(tmp_path):
    out = tmp_path / "ds"
    assert generate(out, *_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": FAR_ONLY_M}), *COMMON, "--placement", "floor") == 0
    rows = _rows(out)
    tall = [r for r in rows if r["fg_id"] == 1]
    assert len(rows) == 8 and len(tall) == 4 and {r["placement_rule"] for r in rows} == {"floor"}
    assert _at_true_size(tall, FAR_ONLY_M) and _at_true_size([r for r in rows if r["fg_id"] == 0], 1.7)
    assert _manifest(out)["placements"] == {"rules": {"floor": 8}, "fallbacks": [], "left_out": []}


# --- strict floor and auto -----------------------------------------------------------------------------


def test_strict_floor_leaves_out_what_stands_nowhere_and_counts_it(tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}), *COMMON, "--placement", "floor") == 0
    rows = _rows(out)
    assert len(rows) == 4 and {r["fg_id"] for r in rows} == {0} and {r["placement_rule"] for r in rows} == {"floor"}
    assert _at_true_size(rows, 1.7)  # no row at a wrong size
    manifest = _manifest(out)
    assert manifest["splits"] == {"train": 4} and [s["rows"] for s in manifest["shards"] if s["config"] == "fg_bg"] == [4]
    assert manifest["placements"] == {"rules": {"floor": 4}, "fallbacks": [],
                                      "left_out": [{"fg_id": 1, "bg_id": 0, "reason": "does_not_fit", "count": 4}]}
    assert "placed: floor 4; left out 4 (does_not_fit 4)" in capsys.readouterr().out
    card = (out / "README.md").read_text()
    assert "less 4 samples the floor rule left out" in card and "`thing_2` on `room0` 4 (`does_not_fit`)" in card
    assert main(["validate", str(out), "--no-progress"]) == 0
    assert main(["stats", str(out)]) == 0


def test_strict_floor_that_places_nothing_is_one_line(tmp_path, capsys):
    args = _inputs(tmp_path / "in", {"thing_1": NOWHERE_M, "thing_2": NOWHERE_M})
    assert generate(tmp_path / "ds", *args, *COMMON, "--placement", "floor") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --placement floor left out every sample") and "does_not_fit 8" in err and err.count("\n") == 1


def test_auto_falls_back_to_uniform_and_says_why(tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}), *COMMON) == 0
    rows = _rows(out)
    assert len(rows) == 8
    assert {r["placement_rule"] for r in rows if r["fg_id"] == 1} == {"uniform"}
    assert {r["placement_rule"] for r in rows if r["fg_id"] == 0} == {"floor"}
    assert {max(r["w"], r["h"]) for r in rows if r["fg_id"] == 1} == {SIZE // 2}  # the uniform rule's one size
    assert _manifest(out)["placements"] == {"rules": {"floor": 4, "uniform": 4},
                                            "fallbacks": [{"fg_id": 1, "bg_id": 0, "reason": "does_not_fit", "count": 4}], "left_out": []}
    assert "placed: floor 4, uniform 4; fell back to uniform 4 (does_not_fit 4)" in capsys.readouterr().out
    assert "Samples placed by the uniform rule instead of the floor: 4" in (out / "README.md").read_text()


def test_counts_are_the_same_with_one_or_two_workers(tmp_path):
    args = _inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}, backgrounds=3)
    manifests = []
    for workers in ("1", "2"):
        out = tmp_path / f"ds{workers}"
        assert generate(out, *args, *COMMON, "--placement", "floor", "--shard-size", "3", "--workers", workers) == 0
        manifests.append(_manifest(out))
    assert manifests[0]["placements"] == manifests[1]["placements"]
    assert manifests[0]["placements"]["left_out"] == [{"fg_id": 1, "bg_id": bg, "reason": "does_not_fit", "count": 4} for bg in range(3)]
    assert [s["rows"] for s in manifests[0]["shards"]] == [s["rows"] for s in manifests[1]["shards"]]


# --- the manifest's record -----------------------------------------------------------------------------


@pytest.mark.parametrize("damage, named", [
    (lambda m: m["placements"]["rules"].update(floor=-1), "placements rules"),
    (lambda m: m["placements"]["left_out"].append({"fg_id": 0, "bg_id": 0, "reason": "too_tall", "count": 1}), "placements left_out[1]"),
    (lambda m: m["shards"][0]["placements"]["rules"].update(floor=3), "shards[0].placements"),
    (lambda m: m["placements"]["rules"].update(floor=5), "placements must be the sum"),
])
def test_a_damaged_placements_record_is_named(tmp_path, damage, named):
    out = tmp_path / "ds"
    assert generate(out, *_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}), *COMMON, "--placement", "floor") == 0
    manifest = _manifest(out)
    assert manifest["shards"][0]["config"] == "fg_bg"
    damage(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DamagedManifest, match=re.escape(named)):
        read_manifest(out)


def test_validate_finds_a_row_that_claims_another_rule(tmp_path):
    """A strict floor build holds only `floor` rows, as many per rule as its manifest counts."""
    out = tmp_path / "ds"
    assert generate(out, *_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}), *COMMON, "--placement", "floor") == 0
    [path] = (out / "data").glob("*.parquet")
    table = pq.read_table(path)
    index = table.schema.get_field_index("placement_rule")
    rules = table.column(index).to_pylist()
    rules[1] = "uniform"
    pq.write_table(table.set_column(index, table.schema.field(index), pa.array(rules, pa.string())), path)
    failures = {(f.row, f.check) for f in validate(out, progress=False).failures}
    assert {(1, "placement_rule"), (None, "placement counts")} <= failures


def test_a_strict_floor_build_with_fewer_rows_loads_relabels_and_builds_the_same_with_the_builder(tmp_path):
    """The `datasets` builder makes the rows the CLI writes, gaps included; load_dataset reads them and
    relabel-depth labels them."""
    import datasets

    from mono_depth_mask import MonoDepthMask

    from generator.config import BuildOptions
    from tests.tiny_models import save_tiny_glpn

    args = _inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M})
    out = tmp_path / "ds"
    assert generate(out, *args, *COMMON, "--placement", "floor") == 0
    written = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]
    assert written["placement"] == [1, 2, 3, 4] and set(written["fg_id"]) == {0}
    build = BuildOptions(bg_size=SIZE, fov=FOV, placements=4, flip=False, placement="floor",
                         fg_heights=str(tmp_path / "in" / "heights.csv"))
    data_dir = tmp_path / "in"
    (data_dir / "background_depths").symlink_to(data_dir / "depth")
    (data_dir / "backgrounds").symlink_to(data_dir / "bg")
    (data_dir / "foregrounds").symlink_to(data_dir / "fg")
    builder = MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache2"), build=build)
    builder.download_and_prepare()
    built = builder.as_dataset()["train"]
    assert built["name"] == written["name"] and built["placement_rule"] == written["placement_rule"]
    save_tiny_glpn(tmp_path / "metric")
    assert main(["relabel-depth", str(out), "--depth-model", str(tmp_path / "metric"), "--no-progress"]) == 0
    assert main(["validate", str(out), "--no-progress"]) == 0


def test_a_shard_the_strict_floor_rule_left_empty_is_still_a_dataset(tmp_path):
    """thing_1 stands nowhere: the first shard (its four samples) holds no row; the build, its gallery,
    validate and load_dataset still work."""
    import datasets

    out = tmp_path / "ds"
    args = _inputs(tmp_path / "in", {"thing_1": NOWHERE_M, "thing_2": 1.7})
    assert generate(out, *args, *[a for a in COMMON if a != "--no-gallery"], "--placement", "floor", "--shard-size", "4") == 0
    assert [s["rows"] for s in _manifest(out)["shards"] if s["config"] == "fg_bg"] == [0, 4]
    assert (out / "gallery").is_dir()
    assert main(["validate", str(out), "--no-progress"]) == 0
    assert datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"]["fg_id"] == [1] * 4


def test_a_resumed_strict_build_keeps_its_counts(tmp_path, capsys):
    """Kept shards bring their counts from the manifest: a rerun finds nothing to do, and a build that
    lost a shard rebuilds it alone and records the same counts and split sizes."""
    args = [*_inputs(tmp_path / "in", {"thing_1": 1.7, "thing_2": NOWHERE_M}, backgrounds=2), *COMMON, "--placement", "floor",
            "--shard-size", "3", "--workers", "1", "--test-fraction", "0"]
    out = tmp_path / "ds"
    assert generate(out, *args) == 0
    first = _manifest(out)
    capsys.readouterr()
    assert generate(out, *args) == 0
    assert capsys.readouterr().out.startswith("nothing to do")
    lost = next(s["path"] for s in first["shards"] if s["config"] == "fg_bg" and s["rows"])
    (out / lost).unlink()
    assert generate(out, *args) == 0
    assert "built 1" in capsys.readouterr().out
    again = _manifest(out)
    assert again["placements"] == first["placements"] and again["splits"] == first["splits"] == {"train": 8}
