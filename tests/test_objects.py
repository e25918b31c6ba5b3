"""Scenes of several objects (--objects): the nearer object hides the farther pixel by pixel whatever
order they are drawn in, extra objects stand apart on the floor, and a row's masks are the union of its
objects' masks."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from generator.cli import main
from generator.config import BuildOptions, DepthPlan
from generator.errors import UserError
from generator.pipeline.composite import Cutout
from generator.pipeline.depth import ObjectDepth
from generator.pipeline.plan import Placement, split_foregrounds
from generator.pipeline.render import render
from generator.pipeline.scene import PlacedObject, Scene
from generator.pipeline.scene.several import footprints_apart
from generator.pipeline.shard import Group, make_context
from generator.pipeline.sources import Background
from generator.rules import DepthMode, PlacementRule
from tests.conftest import generate


def _square_at(colour, x: int, y: int, metres: float, size: int = 16) -> PlacedObject:
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = 255
    depth = ObjectDepth(y, x, np.full((size, size), metres, np.float32))
    return PlacedObject(Cutout.of(rgba), Placement(x, y, 1.0, size, size), PlacementRule.FLOOR, depth)


@pytest.mark.parametrize("near_first", [True, False])
def test_the_nearer_object_hides_the_farther_pixel_by_pixel_whatever_the_drawing_order(near_first):
    background = Background("b", np.zeros((48, 48, 3), np.uint8), np.full((48, 48), 10.0, np.float32))
    near, far = _square_at((255, 0, 0), 4, 4, 2.0), _square_at((0, 0, 255), 12, 12, 4.0)
    rendered = render(Scene(0, background, (near, far) if near_first else (far, near)))
    by_colour = {tuple(o.placed.cutout.rgba[0, 0, :3]): o for o in rendered.objects}
    near_drawn, far_drawn = by_colour[(255, 0, 0)], by_colour[(0, 0, 255)]
    overlap = np.s_[12:20, 12:20]
    assert (rendered.image[overlap] == (255, 0, 0)).all()  # the near square's colour where both stand
    assert (rendered.image[20:28, 20:28] == (0, 0, 255)).all()
    assert (near_drawn.visible[4:20, 4:20] == 255).all() and near_drawn.whole is None
    assert (far_drawn.visible[overlap] == 0).all() and far_drawn.visible.sum() == 255 * (256 - 64)
    assert far_drawn.whole is not None and (far_drawn.whole[12:28, 12:28] == 255).all()
    assert far_drawn.bbox == [12, 12, 28, 28]


def test_the_scene_hides_objects_behind_it():
    depth = np.full((48, 48), 10.0, np.float32)
    depth[:, 16:] = 1.0  # a wall nearer than both objects on the right
    background = Background("b", np.zeros((48, 48, 3), np.uint8), depth)
    rendered = render(Scene(0, background, (_square_at((255, 0, 0), 4, 4, 2.0), _square_at((0, 0, 255), 12, 12, 4.0))))
    assert all((o.visible[:, 16:] == 0).all() for o in rendered.objects)
    assert (rendered.image[:, 16:] == 0).all()


@pytest.fixture(scope="module")
def several(tmp_path_factory):
    options = BuildOptions(demo=True, num_backgrounds=3, num_foregrounds=6, bg_size=128, placements=4, objects="3",
                           depth=DepthMode.SCENE, split_by="foreground")
    context, _ = make_context(options, DepthPlan(DepthMode.SCENE))
    return options, context


def _all_scenes(context):
    for bg_id, fg_id, flip in itertools.product(range(3), range(6), (False, True)):
        yield fg_id, context.scenes(Group(bg_id, fg_id, flip, np.arange(4)))


def test_extra_objects_stand_apart_on_the_floor_from_the_rows_split(several):
    options, context = several
    counts = []
    for fg_id, scenes in _all_scenes(context):
        pool = set(split_foregrounds(6, options, fg_id).tolist())
        for scene in scenes:
            counts.append(len(scene.objects))
            assert scene.objects[0].fg_id == fg_id
            floor = scene.background.floor
            for a, b in itertools.combinations(scene.objects, 2):
                assert footprints_apart(a.place, b.place, floor)
            assert {o.fg_id for o in scene.objects} <= pool
    assert max(counts) == 3 and min(counts) >= 1


def test_split_foregrounds_keep_the_splits_apart():
    options = BuildOptions(demo=True, split_by="foreground", test_fraction=0.3)
    train_and_test = {tuple(split_foregrounds(10, options, fg).tolist()) for fg in range(10)}
    assert len(train_and_test) == 2 and sum(len(ids) for ids in train_and_test) == 10
    assert split_foregrounds(10, BuildOptions(demo=True), 3).tolist() == list(range(10))


def test_a_rows_masks_are_the_union_of_its_objects(tmp_path):
    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "4", "--bg-size", "128", "--placements", "3",
                    "--no-progress", "--no-gallery", "--workers", "1", "--objects", "2-3") == 0
    wider = 0
    categories = {r["fg_id"]: r["category"] for r in pq.read_table(next((out / "foregrounds").glob("*.parquet"))).to_pylist()}
    assert all(categories.values())  # the demo's sprites know their kind
    for path in sorted((out / "data").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            mask = np.array(Image.open(io.BytesIO(row["mask"]["bytes"])))
            amodal = np.array(Image.open(io.BytesIO(row["amodal_mask"]["bytes"])))
            assert ((amodal > 0) | (mask == 0)).all()  # every visible pixel is in the whole silhouettes
            ys, xs = np.nonzero(mask)
            assert row["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            x, y, w, h = row["x"], row["y"], row["w"], row["h"]
            own = np.zeros_like(mask, bool)
            own[y : y + h, x : x + w] = True
            wider += bool((mask[~own] > 0).any())  # another object seen outside the row's own box
            _check_instances(row, mask, amodal, categories)
    assert wider > 0
    assert main(["validate", str(out), "--no-progress"]) == 0
    assert "shows 2 to 3 objects" in (out / "README.md").read_text() and "distractors" not in (out / "README.md").read_text()


def _check_instances(row: dict, mask: np.ndarray, amodal: np.ndarray, categories: dict[int, str | None]) -> None:
    """The instance map shows exactly the mask, each object id where its record says."""
    instances = np.array(Image.open(io.BytesIO(row["instances"]["bytes"])))
    assert Image.open(io.BytesIO(row["instances"]["bytes"])).mode.startswith("I")  # 16-bit
    np.testing.assert_array_equal(instances > 0, mask >= 128)
    assert sorted(int(v) for v in np.unique(instances) if v) == [o["id"] for o in row["objects"]]
    for record in row["objects"]:
        seen = instances == record["id"]
        ys, xs = np.nonzero(seen)
        assert record["area"] == seen.sum() > 0
        assert record["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        x0, y0, x1, y1 = record["amodal_bbox"]
        whole = np.zeros_like(mask)
        whole[y0:y1, x0:x1] = np.array(Image.open(io.BytesIO(record["amodal"]["bytes"])))
        assert (whole[seen] > 0).all() and (amodal[whole > 0] > 0).all()
        assert 0 < record["visible_fraction"] <= 1
        assert record["category"] == categories[record["fg_id"]]


@pytest.mark.parametrize("given", ["0", "2-1", "x", "1-99"])
def test_bad_object_counts_are_refused(given):
    with pytest.raises(UserError, match="--objects"):
        BuildOptions(demo=True, objects=given).validate()


def test_one_object_is_not_recorded_in_the_manifest():
    assert "objects" not in BuildOptions(demo=True).recorded()
    assert BuildOptions(demo=True, objects="1-3").recorded()["objects"] == "1-3"


def test_the_training_loader_yields_the_instance_map(tmp_path):
    import torch

    from generator.training import streaming_loader

    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "64", "--placements", "2",
                    "--no-progress", "--no-gallery", "--workers", "1", "--objects", "2") == 0
    batch = next(iter(streaming_loader(out, "train", batch_size=4, num_workers=0, shuffle_buffer=0, instances=True)))
    assert batch["instances"].shape == (4, 1, 64, 64) and batch["instances"].dtype == torch.int64
    np.testing.assert_array_equal((batch["instances"] > 0).numpy(), (batch["mask"] >= 0.5).numpy())
    assert batch["instances"].max() >= 2  # a second object is labelled 2


class _Failures(list):
    def fail(self, file, row, check, message):
        self.append((check, message))


def test_validate_finds_an_instance_map_that_disagrees_with_mask_or_objects():
    from generator.dataset.instances_check import check_instances
    from generator.pipeline.encode import encode_png

    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:5] = 255
    instances = (mask > 0).astype(np.uint16)
    record = {"id": 1, "bbox": [2, 2, 5, 4], "area": 6}
    row = {"instances": {"bytes": encode_png(instances)}, "objects": [record]}
    failures = _Failures()
    check_instances("f", 0, row, mask, failures)
    assert failures == []
    check_instances("f", 0, {**row, "objects": [{**record, "area": 5}]}, mask, failures)
    assert [c for c, _ in failures] == ["objects"]
    shifted = mask.copy()
    shifted[5, 5] = 255
    check_instances("f", 0, row, shifted, failures)
    assert [c for c, _ in failures] == ["objects", "instances"]


def test_distractors_are_drawn_and_in_the_depth_but_in_no_label(tmp_path):
    from generator.pipeline.encode import decode_depth

    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "128", "--placements", "3",
                    "--no-progress", "--no-gallery", "--workers", "1", "--distractors", "2") == 0
    backgrounds = {r["bg_id"]: r for path in (out / "backgrounds").glob("*.parquet") for r in pq.read_table(path).to_pylist()}
    shown = nearer = 0
    for path in sorted((out / "data").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            instances = np.array(Image.open(io.BytesIO(row["instances"]["bytes"])))
            assert [o["fg_id"] for o in row["objects"]] in ([], [row["fg_id"]]) and instances.max() <= 1
            mask = np.array(Image.open(io.BytesIO(row["mask"]["bytes"])))
            amodal = np.array(Image.open(io.BytesIO(row["amodal_mask"]["bytes"])))
            own = np.zeros(mask.shape, bool)
            own[row["y"] : row["y"] + row["h"], row["x"] : row["x"] + row["w"]] = True
            assert not (amodal[~own] > 0).any()  # no label reaches outside the row's own silhouette
            image = np.array(Image.open(io.BytesIO(row["image"]["bytes"]))).astype(int)
            background = np.array(Image.open(io.BytesIO(row["background"]["bytes"]))).astype(int)
            drawn = (np.abs(image - background).max(axis=2) > 40) & ~own  # a distractor, past JPEG noise
            shown += int(drawn.sum())
            bg = backgrounds[row["bg_id"]]
            scene = decode_depth(bg["depth"]["bytes"], bg["depth_min"], bg["depth_max"])
            depth = decode_depth(row["depth"]["bytes"], row["depth_min"], row["depth_max"])
            nearer += int((depth[drawn] < scene[drawn] - 0.05).sum())
    assert shown > 0 and nearer > shown // 2  # distractors stand in front of the scene in the depth map
    assert "Up to 2 unlabelled distractors" in (out / "README.md").read_text()
    assert main(["validate", str(out), "--no-progress"]) == 0


def test_coco_export_round_trips_through_pycocotools(tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "96", "--placements", "2",
                    "--no-progress", "--no-gallery", "--workers", "1", "--objects", "1-3", "--distractors", "1") == 0
    assert main(["export-coco", str(out), "--images", "--no-progress"]) == 0
    rows = {}
    for path in sorted((out / "data").glob("*.parquet")):
        split = path.name.split("-")[0]
        rows.update({(split, r["name"]): r for r in pq.read_table(path).to_pylist()})
    checked = 0
    for split in ("train", "test"):
        coco = coco_api.COCO(str(out / "annotations" / f"instances_{split}.json"))
        assert len(coco.getImgIds()) == sum(1 for s, _ in rows if s == split)
        for image in coco.loadImgs(coco.getImgIds()):
            row = rows[split, image["file_name"].removesuffix(".jpg")]
            assert (out / "images" / split / image["file_name"]).read_bytes() == row["image"]["bytes"]
            instances = np.array(Image.open(io.BytesIO(row["instances"]["bytes"])))
            annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
            assert len(annotations) == len(row["objects"])
            for annotation, record in zip(annotations, row["objects"]):
                np.testing.assert_array_equal(coco.annToMask(annotation), instances == record["id"])
                x0, y0, x1, y1 = record["bbox"]
                assert annotation["bbox"] == [x0, y0, x1 - x0, y1 - y0] and annotation["area"] == record["area"]
                assert annotation["iscrowd"] == 0 and coco.loadCats(annotation["category_id"])[0]["name"]
                checked += 1
    assert checked > len(rows)  # several objects per image were compared
    assert main(["validate", str(out), "--no-progress"]) == 0
    from generator.dataset.push import local_files

    pushed = {f.path for f in local_files(out)}
    assert {"annotations/instances_train.json", "annotations/instances_test.json"} <= pushed
    assert not any(p.startswith("images/") for p in pushed)
    document = json.loads((out / "annotations" / "instances_train.json").read_text())
    document["annotations"][0]["area"] += 1
    (out / "annotations" / "instances_train.json").write_text(json.dumps(document))
    assert main(["validate", str(out), "--no-progress"]) == 1


def test_the_gallery_has_an_instances_sheet_for_several_objects(tmp_path):
    from generator.dataset.gallery_instances import PALETTE

    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "96", "--placements", "3",
                    "--no-progress", "--workers", "1", "--objects", "3") == 0
    sheet = np.array(Image.open(out / "gallery" / "06d-instances.png").convert("RGB"))
    colours = {tuple(c) for c in sheet.reshape(-1, 3)}
    assert tuple(PALETTE[0]) in colours and tuple(PALETTE[1]) in colours  # objects 1 and 2 coloured
    single = tmp_path / "one"
    assert generate(single, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--bg-size", "64", "--placements", "2",
                    "--no-progress", "--workers", "1") == 0
    assert not (single / "gallery" / "06d-instances.png").exists()


def test_an_object_hidden_entirely_is_left_out_of_the_labels_and_counted():
    from generator.pipeline.moments import DatasetStats
    from generator.pipeline.rows.background import EncodedBackground
    from generator.pipeline.rows.encoder import encode_rows
    from generator.schema import COLUMNS, FG_BG

    background = Background("b", np.zeros((48, 48, 3), np.uint8), np.full((48, 48), 10.0, np.float32))
    far, near = _square_at((0, 0, 255), 16, 16, 4.0, size=8), _square_at((255, 0, 0), 12, 12, 2.0)  # near covers far whole
    options = BuildOptions(demo=True, image_format="png", objects="2")
    columns = {name: [] for name in COLUMNS[FG_BG]}
    stats = DatasetStats()
    drawn = [render(Scene(0, background, (near, far))), render(Scene(0, background, (far, near)))]
    encode_rows(options, drawn, None, EncodedBackground.of(background.rgb, options), columns, [None], stats)
    for objects, instances in zip(columns["objects"], columns["instances"]):
        assert [(o["id"], o["bbox"]) for o in objects] == [(1, [12, 12, 28, 28])]
        assert np.array(Image.open(io.BytesIO(instances))).max() == 1
    assert stats.hidden_objects == 2


def test_hidden_objects_are_counted_in_the_summary_manifest_and_card_whatever_the_workers(tmp_path, capsys):
    from generator.output.model import Manifest, ManifestFieldError

    args = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "6", "--bg-size", "128", "--placements", "4",
            "--objects", "3", "--shard-size", "20", "--no-progress", "--no-gallery"]
    manifests = {}
    for workers in ("1", "2"):
        assert generate(tmp_path / workers, *args, "--workers", workers) == 0
        manifests[workers] = json.loads((tmp_path / workers / "manifest.json").read_text())
    hidden = manifests["1"]["hidden_objects"]
    assert hidden > 0 and manifests["2"]["hidden_objects"] == hidden
    assert sum(s.get("hidden_objects", 0) for s in manifests["1"]["shards"]) == hidden
    assert f"{hidden:,} labelled objects hidden entirely" in capsys.readouterr().out
    assert f" {hidden:,} labelled objects hidden entirely" in (tmp_path / "1" / "README.md").read_text()
    assert Manifest.from_json(manifests["1"]).hidden_objects == hidden
    for wrong in (-1, hidden + 1, "2"):
        with pytest.raises(ManifestFieldError, match="hidden_objects"):
            Manifest.from_json({**manifests["1"], "hidden_objects": wrong})


@pytest.mark.parametrize("rule", ["uniform", "ground"])
def test_flat_objects_overlap_at_most_the_documented_fraction_and_the_nearer_is_never_deeper(tmp_path, rule):
    from generator.pipeline.encode import decode_depth
    from generator.pipeline.scene.several import MAX_OVERLAP, box_overlap

    out = tmp_path / "ds"
    assert generate(out, "--demo", "--num-backgrounds", "2", "--num-foregrounds", "4", "--bg-size", "128", "--placements", "4",
                    "--no-progress", "--no-gallery", "--workers", "1", "--objects", "3", "--placement", rule) == 0
    counts, ordered = [], 0
    for path in sorted((out / "data").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            counts.append(len(row["objects"]))
            instances = np.array(Image.open(io.BytesIO(row["instances"]["bytes"])))
            depth = decode_depth(row["depth"]["bytes"], row["depth_min"], row["depth_max"])
            for a, b in itertools.permutations(row["objects"], 2):
                assert box_overlap(a["amodal_bbox"], b["amodal_bbox"]) <= MAX_OVERLAP
                x0, y0, x1, y1 = b["amodal_bbox"]
                whole = np.zeros(instances.shape, bool)
                whole[y0:y1, x0:x1] = np.array(Image.open(io.BytesIO(b["amodal"]["bytes"]))) > 0
                in_front = (instances == a["id"]) & whole  # `a` seen where `b` stands: `a` is the nearer
                if in_front.any():
                    assert depth[in_front].max() <= depth[instances == b["id"]].min()
                    ordered += 1
    assert max(counts) == 3 and sum(counts) > 2 * len(counts)  # most rows show all three
    assert ordered > 0
    assert main(["validate", str(out), "--no-progress"]) == 0
    assert "overlap at most half of the smaller box" in (out / "README.md").read_text()


def test_box_overlap_is_the_shared_fraction_of_the_smaller_box():
    from generator.pipeline.scene.several import box_overlap

    assert box_overlap([0, 0, 10, 10], [5, 0, 25, 20]) == 0.5
    assert box_overlap([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0
    assert box_overlap([0, 0, 10, 10], [2, 2, 4, 4]) == 1.0


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=4, bg_size=128, placements=4, objects="3",
                           placement="uniform", depth=DepthMode.SCENE)
    context, _ = make_context(options, DepthPlan(DepthMode.SCENE))
    return context


def test_flat_objects_get_a_seeded_depth_order_and_the_nearer_hides_the_farther_pixel_by_pixel(flat):
    own_layers, compared = set(), 0
    for bg_id, fg_id, flip in itertools.product(range(2), range(4), (False, True)):
        group = Group(bg_id, fg_id, flip, np.arange(4))
        scenes = flat.scenes(group)
        assert [[o.layer for o in s.objects] for s in scenes] == [[o.layer for o in s.objects] for s in flat.scenes(group)]
        for scene in scenes:
            assert sorted(o.layer for o in scene.objects) == list(range(len(scene.objects)))
            own_layers.add(scene.objects[0].layer)
            rendered = render(scene)
            for a, b in itertools.combinations(rendered.objects, 2):
                near, far = (a, b) if a.placed.layer > b.placed.layer else (b, a)
                nearer = [_solid_at(o) for o in rendered.objects if o.placed.layer > near.placed.layer]
                both = _solid_at(near) & _solid_at(far) & ~np.any(nearer, axis=0) if nearer else _solid_at(near) & _solid_at(far)
                assert (near.visible[both] > 0).all() and (far.visible[both] == 0).all()
                reach = [_placed_plane(o, o.placed.cutout.alpha) > 0 for o in rendered.objects if o.placed.layer > near.placed.layer]
                opaque = both & _opaque_at(near) & ~np.any(reach, axis=0) if reach else both & _opaque_at(near)
                assert (rendered.image[opaque] == _colours_at(near)[opaque]).all()
                compared += int(opaque.sum())
    assert own_layers == {0, 1, 2} and compared > 1000  # the row's own object is sometimes in front, sometimes behind


def _placed_plane(drawn, plane: np.ndarray) -> np.ndarray:
    out = np.zeros((128, 128, *plane.shape[2:]), plane.dtype)
    place = drawn.placed.place
    out[place.y : place.y + place.h, place.x : place.x + place.w] = plane
    return out


def _solid_at(drawn) -> np.ndarray:
    return _placed_plane(drawn, drawn.placed.cutout.solid) > 0


def _opaque_at(drawn) -> np.ndarray:
    return _placed_plane(drawn, drawn.placed.cutout.rgba[..., 3]) == 255


def _colours_at(drawn) -> np.ndarray:
    return _placed_plane(drawn, drawn.placed.cutout.rgba[..., :3])


def test_flat_objects_depth_follows_the_drawn_order():
    from generator.pipeline.depth import flat_objects_depth

    background = np.tile(np.linspace(9.0, 1.0, 32, dtype=np.float32)[:, None], (1, 32))  # nearer towards the bottom
    far, near = np.zeros((2, 32, 32), np.uint8)
    far[4:28, 4:20] = 255  # stands low: its contact is nearer than the near one's
    near[2:14, 10:30] = 255
    depth = flat_objects_depth(background, np.stack([far, near]))
    overlap = (far > 0) & (near > 0)
    assert (depth[near > 0] == depth[near > 0][0]).all() and depth[near > 0][0] <= depth[far > 0].min()
    assert (depth[overlap] == depth[near > 0][0]).all()
    assert (depth[(far == 0) & (near == 0)] == background[(far == 0) & (near == 0)]).all()
    np.testing.assert_array_equal(depth[(far > 0) & ~overlap], background[27, 11])  # far stands on its bottom centre
