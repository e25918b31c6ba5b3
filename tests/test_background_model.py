"""The background depth model: decided apart from the labels, the default for photos without depth maps,
refused for floor placement where it has no metric scale, failing fast offline; Depth Pro's replayed
processing and its field of view as the camera; placement on a model's depth tested end to end against a
known metric scene."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.geometry_check import check, height_metres
from generator.cli import generate_options, main, parser
from generator.config import BACKGROUND_DEPTH_MODELS, DEFAULT_BACKGROUND_DEPTH_MODEL, DEFAULT_DEPTH_MODEL, DepthPlan, TeacherSettings
from generator.pipeline.demo import demo_rooms, demo_sprites
from generator.pipeline.depth_pro import DepthProPreprocessing, metric_depth
from generator.pipeline.geometry import Intrinsics, ray_plane_point
from generator.pipeline.teacher import DepthTeacher
from generator.rules import BackgroundDepth, DepthMode
from mono_depth_mask import depth_from_inputs
from tests.conftest import generate
from tests.inputs import write_backgrounds, write_cutouts
from tests.tiny_models import DEPTH_PRO_PROCESSOR, save_tiny_depth_anything, save_tiny_depth_pro

PHOTOS = ["--backgrounds", "bg", "--foregrounds", "fg"]
SMALL = ["--bg-size", "64", "--placements", "2", "--no-progress", "--no-gallery", "--workers", "1"]


def options(*args: str):
    return generate_options(parser().parse_args(["generate", "--out", "ds", *args]))[0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    write_backgrounds(root / "bg", 2)
    write_cutouts(root / "fg", 2)
    return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"metric": save_tiny_depth_anything(root / "metric", metric=True), "relative": save_tiny_depth_anything(root / "relative"),
            "depth_pro": save_tiny_depth_pro(root / "depth-pro")}


# --- the two decisions ------------------------------------------------------------------------------


def test_photos_without_depth_maps_get_the_metric_indoor_model_and_the_scene_rule():
    build = options(*PHOTOS)
    assert build.background_depth_model == DEFAULT_BACKGROUND_DEPTH_MODEL == "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
    assert build.depth == DepthMode.SCENE and build.depth_model is None
    plan = DepthPlan.of(build)
    assert plan.background == BackgroundDepth.MODEL and plan.teacher is None
    assert [m.model for m in plan.models] == [DEFAULT_BACKGROUND_DEPTH_MODEL]


def test_depth_model_labels_composites_while_placement_keeps_the_metric_background_model():
    plan = DepthPlan.of(options(*PHOTOS, "--depth", "model"))
    assert plan.mode == DepthMode.MODEL and plan.background_model.model == DEFAULT_BACKGROUND_DEPTH_MODEL
    assert plan.teacher.model == DEFAULT_DEPTH_MODEL


@pytest.mark.parametrize("given, model", [("outdoor", BACKGROUND_DEPTH_MODELS["outdoor"]), ("depth-pro", "apple/DepthPro-hf"),
                                          ("org/any-metric-model", "org/any-metric-model"), ("none", None)])
def test_the_background_model_by_short_name_id_or_none(given, model):
    assert options(*PHOTOS, "--background-depth-model", given).background_depth_model == model


@pytest.mark.parametrize("args", [["--depth", "none", "--placement", "uniform"], ["--depth", "model", "--placement", "ground"],
                                  ["--demo"], [*PHOTOS, "--background-depths", "d"]])
def test_no_background_model_where_nothing_needs_it(args):
    built = options(*(args if "--demo" in args or "--background-depths" in args else [*PHOTOS, *args]))
    assert built.background_depth_model is None


def test_the_datasets_builder_still_downloads_nothing_unasked():
    assert DepthPlan.of(depth_from_inputs({})).models == ()
    assert DepthPlan.of(depth_from_inputs({"background_depths": "d"})).models == ()


def test_depth_none_with_uniform_placement_loads_no_model(photos, tmp_path, monkeypatch):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(DepthTeacher, "load", refuse)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)
    monkeypatch.setattr("generator.hub.cached_only", refuse)
    assert generate(tmp_path / "ds", *photos, *SMALL, "--depth", "none", "--placement", "uniform") == 0


def test_offline_the_default_fails_before_reading_any_input(photos, tmp_path, capsys, hub_offline, monkeypatch):
    def unread(*args, **kwargs):
        raise AssertionError("inputs were read")

    monkeypatch.setattr("generator.pipeline.shard.load_sources", unread)
    assert generate(tmp_path / "ds", *photos, *SMALL) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert DEFAULT_BACKGROUND_DEPTH_MODEL in err[0] and "HF_HUB_OFFLINE" in err[0]
    for way in ("local folder to --background-depth-model", "--background-depths DIR", "--placement uniform"):
        assert way in err[0]
    assert not (tmp_path / "ds").exists()


# --- metric or not ----------------------------------------------------------------------------------


def test_floor_placement_is_refused_on_a_relative_model(photos, models, tmp_path, capsys):
    assert generate(tmp_path / "ds", *photos, *SMALL, "--background-depth-model", str(models["relative"]), "--placement", "floor") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--placement floor needs the backgrounds' metric depth" in err[0] and "larger is nearer" in err[0]


def test_auto_falls_back_to_uniform_on_a_relative_model_and_says_so(photos, models, tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *photos, *SMALL, "--background-depth-model", str(models["relative"])) == 0
    assert "warning: the background depth has no metric scale" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["geometry"]["placement"] == "uniform"
    assert manifest["depth"]["background_model"]["metric"] is False


def test_a_metric_model_gives_floor_placement_and_is_recorded(photos, models, tmp_path):
    out = tmp_path / "ds"
    assert generate(out, *photos, *SMALL, "--background-depth-model", str(models["metric"]), "--depth", "model",
                    "--depth-model", str(models["relative"])) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["geometry"]["placement"] == "floor"
    assert manifest["options"]["background_depth_model"] == "metric" and manifest["options"]["depth_model"] == "relative"
    record = manifest["depth"]["background_model"]
    assert record["model_type"] == "depth_anything" and record["metric"] is True and record["local_folder"]
    assert "larger is nearer" in manifest["depth"]["meaning"]  # the labels are the relative teacher's
    card = (out / "README.md").read_text()
    assert "predicted once per background by `metric` (metric" in card
    # relabel-depth changes the labels only: the background model the placement stood on stays recorded.
    assert main(["relabel-depth", str(out), "--depth-model", str(models["metric"]), "--no-progress"]) == 0
    relabelled = json.loads((out / "manifest.json").read_text())
    assert relabelled["options"]["background_depth_model"] == "metric" and relabelled["depth"]["background_model"] == record


def test_the_cards_command_repeats_an_opted_out_background_model(photos, tmp_path):
    out = tmp_path / "ds"
    assert generate(out, *photos, *SMALL, "--background-depth-model", "none") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["background_depth_model"] is None and manifest["geometry"]["placement"] == "uniform"
    assert "--background-depth-model none" in (out / "README.md").read_text()


# --- Depth Pro ----------------------------------------------------------------------------------------


def test_depth_pro_preprocessing_is_read_from_its_processor_file(models):
    teacher = DepthTeacher.load(TeacherSettings(str(models["depth_pro"]), device="cpu"))
    replay = teacher.preprocessing
    assert isinstance(replay, DepthProPreprocessing) and teacher.predicts_fov
    assert (replay.height, replay.width, replay.mode) == (32, 32, "bilinear")
    assert replay.rescale == DEPTH_PRO_PROCESSOR["rescale_factor"] and replay.mean == replay.std == (0.5, 0.5, 0.5)
    other = DepthProPreprocessing.from_config({**DEPTH_PRO_PROCESSOR, "resample": 3, "size": {"height": 48, "width": 40}}, "m")
    assert (other.height, other.width, other.mode) == (48, 40, "bicubic")


def test_depth_pro_preprocessing_normalises_then_resizes_without_antialiasing():
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 50, 70), dtype=np.uint8))
    replay = DepthProPreprocessing.from_config(DEPTH_PRO_PROCESSOR, "m")
    # DepthProImageProcessor._preprocess: rescale_and_normalize (fused), then resize(antialias=False).
    normalised = (images.float() - 0.5 / (1 / 255)) / (0.5 / (1 / 255))
    want = F.interpolate(normalised, size=(32, 32), mode="bilinear", align_corners=False, antialias=False)
    torch.testing.assert_close(replay(images), want, rtol=0, atol=1e-6)


def test_depth_pro_postprocessing_is_the_processors():
    inverse = torch.rand(2, 16, 16) + 0.1
    fov = torch.tensor([50.0, 70.0])
    got = metric_depth(inverse, fov, (24, 20), "bilinear")
    for depth, fov_value, result in zip(inverse, fov, got):  # post_process_depth_estimation, image by image
        width = 20
        focal_length = 0.5 * width / torch.tan(0.5 * torch.deg2rad(fov_value))
        scaled = depth * width / focal_length
        scaled = F.interpolate(input=scaled.unsqueeze(0).unsqueeze(1), size=(24, 20), mode="bilinear").squeeze()
        torch.testing.assert_close(result, 1.0 / torch.clamp(scaled, min=1e-4, max=1e4))


def test_depth_pro_through_from_pretrained_gives_metric_depth_and_its_fov(models):
    teacher = DepthTeacher.load(TeacherSettings(str(models["depth_pro"]), device="cpu"))
    images = np.random.default_rng(1).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    depth, fov = teacher.predict_with_fov(images)
    with torch.inference_mode():
        pixels = teacher.preprocessing(torch.from_numpy(images).permute(0, 3, 1, 2))
        outputs = teacher.model(pixel_values=pixels)
    np.testing.assert_allclose(fov, outputs.field_of_view.numpy(), rtol=1e-6)
    np.testing.assert_allclose(depth, metric_depth(outputs.predicted_depth, outputs.field_of_view, (40, 40), "bilinear").numpy(), rtol=1e-5)
    assert teacher.metric and "Apple Machine Learning Research" in teacher.info["license"]


@pytest.mark.parametrize("source, fov, want", [("default", 70.0, "model"), ("default", 170.0, "default"), ("default", float("nan"), "default"),
                                               ("exif35mm", 70.0, "exif35mm"), ("fov", 70.0, "fov")])
def test_the_models_field_of_view_comes_after_fov_and_exif_and_only_within_real_lenses(source, fov, want):
    from generator.pipeline.depth import label_backgrounds
    from generator.pipeline.sources import Background, Sources

    class FieldOfView:  # a background model's answer: depth, and one field of view per image
        def predict_with_fov(self, images, where):
            return np.ones(images.shape[:3], np.float32), np.full(len(images), fov)

    before = Intrinsics.from_fov(64, 64, 60.0)
    background = Background("b", np.zeros((64, 64, 3), np.uint8), None, before, source)
    label_backgrounds(Sources([background], []), FieldOfView())
    assert background.intrinsics_source == want
    assert background.intrinsics == (Intrinsics.from_fov(64, 64, 70.0) if want == "model" else before)


def test_the_card_names_depth_pros_licence(photos, models, tmp_path):
    out = tmp_path / "ds"
    assert generate(out, *photos, *SMALL, "--background-depth-model", str(models["depth_pro"]), "--placement", "uniform") == 0
    assert "Apple Machine Learning Research Model license" in (out / "README.md").read_text()


# --- a stand-in with a known metric scene: placement on model depth, end to end -----------------------


class StandIn(torch.nn.Module):
    """Depth Pro's outputs for known images: the demo rooms' exact depth and field of view, as canonical
    inverse depth (what post-processing turns back into metres)."""

    def __init__(self, pixels: torch.Tensor, rooms, size: int):
        super().__init__()
        self.pixels, self.rooms, self.size = pixels, rooms, size

    def forward(self, pixel_values):
        from types import SimpleNamespace

        found = [int(torch.argmin((self.pixels - p).abs().flatten(1).amax(1))) for p in pixel_values]
        fov = torch.tensor([math.degrees(2 * math.atan(self.size / 2 / self.rooms[i].intrinsics[0])) for i in found])
        depth = torch.stack([torch.from_numpy(self.rooms[i].depth.astype(np.float64)) for i in found])
        canonical = 1.0 / (depth * 2 * torch.tan(torch.deg2rad(fov.double()) / 2)[:, None, None])
        return SimpleNamespace(predicted_depth=canonical.float(), field_of_view=fov)


def test_objects_stand_on_a_models_floor_at_their_true_size(models, tmp_path, monkeypatch):
    size = 128
    rooms = demo_rooms(3, size, seed=5)
    sprites = demo_sprites(4, size, seed=5)
    for folder in ("bg", "fg"):
        (tmp_path / folder).mkdir()
    for i, room in enumerate(rooms):
        Image.fromarray(room.rgb).save(tmp_path / "bg" / f"room_{i}.png")
    for i, sprite in enumerate(sprites):
        Image.fromarray(sprite.rgba).save(tmp_path / "fg" / f"thing_{i}.png")
    (tmp_path / "heights.csv").write_text("name,height_m\n" + "".join(f"thing_{i},{s.height_m}\n" for i, s in enumerate(sprites)))
    load = DepthTeacher.load

    def stand_in(settings, role=None):  # the real loading of a Depth Pro folder, then the known scene as its model
        teacher = load(settings, role)
        pixels = teacher.preprocessing(torch.from_numpy(np.stack([r.rgb for r in rooms])).permute(0, 3, 1, 2))
        config = teacher.model.config
        teacher.model = StandIn(pixels, rooms, size)
        teacher.model.config = config
        return teacher

    monkeypatch.setattr(DepthTeacher, "load", stand_in)
    out = tmp_path / "ds"
    assert generate(out, "--backgrounds", str(tmp_path / "bg"), "--foregrounds", str(tmp_path / "fg"), "--fg-heights",
                    str(tmp_path / "heights.csv"), "--background-depth-model", str(models["depth_pro"]), "--bg-size", str(size),
                    "--placements", "4", "--no-progress", "--no-gallery", "--workers", "1") == 0
    backgrounds = pq.read_table(out / "backgrounds").to_pylist()
    for background in backgrounds:
        room = rooms[int(background["name"].split("_")[1])]
        assert background["intrinsics_source"] == "model"
        np.testing.assert_allclose(background["intrinsics"], room.intrinsics, rtol=1e-5)
        np.testing.assert_allclose(background["ground_plane"], room.floor, atol=2e-3)
    found = check(out)
    assert found["standing"] == found["rows"] == 3 * 4 * 2 * 4
    assert found["contact_on_floor"] >= 0.95 and found["height_cv_max"] <= 0.08
    # True size: each object's height measured with the room's own camera and floor is its real height.
    for row in pq.read_table(out / "data").to_pylist():
        room = rooms[row["bg_id"]]
        intrinsics = Intrinsics(*room.intrinsics)
        contact = ray_plane_point(row["x"] + row["w"] // 2 + 0.5, row["y"] + row["h"] - 0.5, intrinsics, np.asarray(room.floor))
        height = height_metres(contact, row["y"], np.asarray(room.floor), intrinsics)
        assert height == pytest.approx(sprites[row["fg_id"]].height_m, rel=0.06)
