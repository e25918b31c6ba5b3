"""Floor placement: cut-outs standing on the scene's floor, sized by their real height and the depth there,
hidden behind nearer things, with the camera and floor recorded in the backgrounds config."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from benchmarks.geometry_check import check, height_metres
from generator.cli import main
from generator.config import BuildOptions, placement_rule
from generator.errors import UserError
from generator.pipeline.composite import Cutout, composite
from generator.pipeline.geometry import Intrinsics, centre_crop_resize, ray_plane_point
from generator.pipeline.placement import stand, floor_geometry, floor_placements
from generator.pipeline.render import occluded
from generator.pipeline.scene.several import standing_depth
from tests.conftest import generate
from tests.inputs import floor_scene_depth, photo, write_cutouts

SIZE = 96
FOV = 60.0


def _rows(out, folder):
    return pq.ParquetDataset(sorted(str(p) for p in (out / folder).glob("*.parquet"))).read().to_pylist()


@pytest.fixture(scope="module")
def demo_floor(tmp_path_factory):
    out = tmp_path_factory.mktemp("floor") / "ds"
    args = ["--demo", "--num-backgrounds", "4", "--num-foregrounds", "6", "--bg-size", "128", "--placements", "6", "--no-progress", "--workers", "2"]
    assert generate(out, *args) == 0
    return out


def test_demo_objects_stand_on_the_floor_at_their_real_height(demo_floor):
    """The acceptance figures, judged from the data contract alone (benchmarks/geometry_check.py)."""
    found = check(demo_floor)
    assert found["standing"] == found["rows"] == 4 * 6 * 2 * 6
    assert found["contact_shown"] >= 0.8
    assert found["contact_on_floor"] >= 0.95
    assert found["height_cv_max"] <= 0.08
    assert found["occluded_10pct"] >= 0.02
    assert found["depth_order_agrees"] >= 0.99
    assert main(["validate", str(demo_floor), "--no-progress"]) == 0


def test_the_configs_carry_camera_floor_and_source_cutouts(demo_floor):
    backgrounds = _rows(demo_floor, "backgrounds")
    assert all(len(b["intrinsics"]) == 4 and b["intrinsics"][2] == b["intrinsics"][3] == 64 for b in backgrounds)
    for b in backgrounds:
        nx, ny, nz, d = b["ground_plane"]
        assert abs(math.hypot(nx, ny, nz) - 1) < 1e-5 and ny > 0.8 and d < 0  # up, below the camera
    foregrounds = _rows(demo_floor, "foregrounds")
    for f in foregrounds:
        image = Image.open(io.BytesIO(f["image"]["bytes"]))
        assert max(image.size) == 128  # the sprite's source resolution, --bg-size, not --fg-size
        assert 0.3 <= f["height_m"] <= 2.0
    manifest = json.loads((demo_floor / "manifest.json").read_text())
    assert manifest["geometry"]["placement"] == "floor"


def test_depth_of_a_standing_object_is_an_upright_plane(demo_floor):
    """Scene depth: visible object pixels take the depth of the upright plane through the contact point,
    constant along each row (the demo's camera has no roll) and changing from row to row (it is pitched)."""
    row = next(r for r in _rows(demo_floor, "data") if r["h"] > 30)
    mask = np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"]))) > 0
    png = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"]))).astype(np.float64)
    depth = row["depth_min"] + png / 65535 * (row["depth_max"] - row["depth_min"])
    step = (row["depth_max"] - row["depth_min"]) / 65535
    values_per_row = [depth[r][mask[r]] for r in range(128) if mask[r].sum() > 2]
    assert all(np.ptp(v) <= 2 * step + 1e-6 for v in values_per_row)
    means = [v.mean() for v in values_per_row]
    assert np.ptp(means) > 10 * step


def _scene(slab=None):
    depth = floor_scene_depth(SIZE, SIZE, FOV, pitch_down=15.0, camera_height=1.5, wall=8.0, slab=slab)
    intrinsics = Intrinsics.from_fov(SIZE, SIZE, FOV)
    return depth, intrinsics, floor_geometry(depth, intrinsics)


def test_size_from_depth_with_a_pitched_camera():
    """A 1.7 m object measures 1.7 m wherever it stands (the top row is the projection of the point 1.7 m
    above the contact point), where fy * h / z would be off with the camera pitched 15 degrees down."""
    depth, intrinsics, floor = _scene()
    places = floor_placements(floor, SIZE, (60, 30), 1.7, 12, 48, 0.0, 0, 0, 0, False)
    assert places is not None and len({(p.x, p.y, p.w, p.h) for p in places}) == 12
    measured = [height_metres(np.array(p.contact), p.y + 0.5, floor.plane, intrinsics) for p in places]
    assert max(abs(m - 1.7) for m in measured) < 1.7 / min(p.h for p in places) * 1.01
    naive = [intrinsics.fy * 1.7 / p.contact[2] for p in places]
    assert max(abs(n - p.h) / p.h for n, p in zip(naive, places)) > 0.05
    for p in places:
        assert 0 <= p.x and p.x + p.w <= SIZE and p.y >= 0 and p.y + p.h <= SIZE
        assert abs(depth[p.y + p.h - 1, p.x + p.w // 2] - p.contact[2]) < 0.01 * p.contact[2]  # on the floor


def test_an_object_behind_a_known_occluder_is_hidden_by_it():
    """A 0.8 m slab stands 3 m ahead; an object standing 5 m ahead behind it is hidden exactly where the slab
    is in front of it, and the composite keeps the background there."""
    depth, intrinsics, floor = _scene(slab=(3.0, -0.6, 0.6, 0.8))
    # Stand a 1.6 m square object on the visible floor about 5 m ahead, just right of the slab's edge: its
    # left part is behind the slab.
    contacts = [ray_plane_point(c + 0.5, r + 0.5, intrinsics, floor.plane) for r, c in floor.contacts]
    row, col = min(zip(floor.contacts, contacts), key=lambda rc: np.hypot(rc[1][0] - 0.9, rc[1][2] - 5.0))[0]
    place = stand(floor, SIZE, int(row), int(col), 1.6, 1.0, 48)
    assert place is not None and 4.5 < place.contact[2] < 5.5
    standing = standing_depth(floor, place)
    rgba = np.full((place.h, place.w, 4), 255, np.uint8)
    hidden = occluded(depth, standing, rgba[..., 3])
    box = np.s_[place.y : place.y + place.h, place.x : place.x + place.w]
    slab_pixels = depth[box] < 3.5
    np.testing.assert_array_equal(hidden, slab_pixels)
    assert 0 < hidden.mean() < 1
    background = photo(np.random.default_rng(0), SIZE, SIZE)
    [image], [mask] = composite(background, [Cutout.of(rgba)], [place], [hidden])
    np.testing.assert_array_equal(image[box][hidden], background[box][hidden])
    assert (image[box][~hidden] == 255).all() and (mask[box] == np.where(hidden, 0, 255)).all()


def test_nothing_hides_an_object_in_open_floor():
    depth, intrinsics, floor = _scene()
    place = floor_placements(floor, SIZE, (40, 20), 1.0, 1, 48, 0.0, 2, 0, 0, False)[0]
    assert occluded(depth, standing_depth(floor, place), np.full((place.h, place.w), 255, np.uint8)) is None


def _user_scene(root, exif_tags: dict | None):
    """A 120 x 90 photo of a floor (its metric depth as .npy), with these EXIF tags, and two cut-outs."""
    (root / "bg").mkdir(parents=True)
    (root / "depth").mkdir()
    image = Image.fromarray(photo(np.random.default_rng(1), 120, 90))
    exif = Image.Exif()
    exif.get_ifd(0x8769).update(exif_tags or {})
    image.save(root / "bg" / "room.jpg", quality=95, exif=exif.tobytes())
    np.save(root / "depth" / "room.npy", floor_scene_depth(120, 90, FOV, 10.0, 1.4, 9.0))
    write_cutouts(root / "fg", 2, prefix="thing_", size=(30, 60))
    return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--background-depths", str(root / "depth")]


# A 2 mm lens on a sensor of 50 px/mm (unit 4 = mm), and the pixel size the camera recorded.
FOCAL_PLANE = {0x920A: 2.0, 0xA20E: 50.0, 0xA210: 4}
EXIF_CASES = {  # EXIF tags, --fov, the intrinsics_source: an explicit --fov, then EXIF, then the default 60
    "none": (None, None, "default"),
    "none, --fov": (None, 70, "fov"),
    "35mm": ({0xA405: 28}, None, "exif35mm"),
    "35mm, --fov": ({0xA405: 28}, 70, "fov"),
    "focal plane": ({**FOCAL_PLANE, 0xA002: 120, 0xA003: 90}, None, "exif_focal_plane"),
    "focal plane of a 4x larger original": ({**FOCAL_PLANE, 0xA002: 480, 0xA003: 360}, None, "default"),
}


@pytest.mark.parametrize("case", EXIF_CASES)
def test_intrinsics_from_fov_or_exif_follow_crop_and_resize(tmp_path, case):
    tags, fov, source = EXIF_CASES[case]
    args = _user_scene(tmp_path / "in", tags)
    out = tmp_path / "ds"
    assert generate(out, *args, "--bg-size", "64", "--placements", "3", *(["--fov", str(fov)] if fov else []), "--no-progress", "--no-gallery") == 0
    [background] = _rows(out, "backgrounds")
    focal = {"exif35mm": 28 * math.hypot(120, 90) / 43.27, "exif_focal_plane": 100.0}.get(source)
    original = Intrinsics(focal, focal, 60, 45) if focal else Intrinsics.from_fov(120, 90, fov or 60)
    expected = centre_crop_resize(original, 120, 90, 64)
    np.testing.assert_allclose(background["intrinsics"], expected.as_list(), rtol=1e-6)
    assert background["intrinsics_source"] == source
    assert expected.cx == 32 and abs(expected.fx - original.fx * 64 / 90) < 1e-9
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["geometry"]["intrinsics"] == {source: 1}
    assert "`intrinsics_source`" in (out / "README.md").read_text()


def test_heights_file_sizes_the_cutouts(tmp_path):
    args = _user_scene(tmp_path / "in", None)
    (tmp_path / "heights.csv").write_text("name,height_m\nthing_1,0.5\n")
    out = tmp_path / "ds"
    common = ["--bg-size", "96", "--placements", "4", "--no-progress", "--no-gallery", "--no-flip"]
    assert generate(out, *args, *common, "--fg-heights", str(tmp_path / "heights.csv"), "--fg-height", "1.5") == 0
    foregrounds = _rows(out, "foregrounds")
    assert {f["name"]: f["height_m"] for f in foregrounds} == {"thing_1": 0.5, "thing_2": 1.5}
    assert {f["name"]: (f["category"], f["height_source"]) for f in foregrounds} == {"thing_1": (None, "csv"), "thing_2": (None, "default")}
    found = check(out)
    assert found["contact_on_floor"] == 1.0 and found["height_cv_max"] < 0.08
    rows = _rows(out, "data")
    mean_h = {fg: np.mean([r["h"] for r in rows if r["fg_id"] == fg]) for fg in (0, 1)}
    assert mean_h[1] > 1.8 * mean_h[0]


def test_a_bad_heights_file_is_one_line(tmp_path, capsys):
    args = _user_scene(tmp_path / "in", None)
    (tmp_path / "heights.csv").write_text("thing_1,tall\n")
    assert generate(tmp_path / "ds", *args, "--fg-heights", str(tmp_path / "heights.csv"), "--no-progress") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --fg-heights") and "line 1" in err and err.count("\n") == 1


def test_the_placement_rule_follows_what_is_known_of_the_depth():
    assert placement_rule(BuildOptions(demo=True), metric_depth=True) == "floor"
    assert placement_rule(BuildOptions(demo=True), metric_depth=False) == "uniform"  # e.g. a relative teacher
    assert placement_rule(BuildOptions(demo=True, placement="uniform"), metric_depth=True) == "uniform"
    with pytest.raises(UserError, match="--placement floor needs"):
        placement_rule(BuildOptions(demo=True, placement="floor"), metric_depth=False)


def test_without_metric_depth_the_uniform_rule_places_at_one_size(tmp_path):
    args = _user_scene(tmp_path / "in", None)[:4]  # no --background-depths
    out = tmp_path / "ds"
    assert generate(out, *args, "--bg-size", "64", "--placements", "3", "--depth", "none", "--background-depth-model", "none", "--no-progress", "--no-gallery") == 0
    rows = _rows(out, "data")
    assert {max(r["w"], r["h"]) for r in rows} == {32}  # --fg-size, half of --bg-size
    assert json.loads((out / "manifest.json").read_text())["geometry"]["placement"] == "uniform"
