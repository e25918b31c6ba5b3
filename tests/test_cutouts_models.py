"""The cutouts stages with tiny random models built from configs and loaded through the real
`from_pretrained` path (no weights are downloaded): each stage's output has the right shapes and sure
parts, the command runs end to end on a folder of synthetic photos, and `generate` builds from what it
wrote; the default models offline fail fast with one line and leave no --out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generator.cli import main
from generator.extract.find import ClassFinder, TextFinder, target_sizes
from generator.extract.matte import Matter
from generator.extract.models import load_class_detector, load_matting, load_segmenter, load_text_detector
from generator.extract.segment import BoxSegmenter
from generator.extract.trimap import BACKGROUND, FOREGROUND, make_trimap
from tests.inputs import photo, write_backgrounds
from tests.test_offline import offline_env, silent_endpoint  # noqa: F401 - a fixture
from tests.tiny_cutout_models import (
    save_tiny_grounding_dino, save_tiny_mask2former, save_tiny_owlv2, save_tiny_sam, save_tiny_vitmatte,
)

CPU, FP32 = torch.device("cpu"), torch.float32


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cutout_models")
    return {"detector": save_tiny_grounding_dino(root / "gd"), "segmenter": save_tiny_sam(root / "sam"),
            "matting": save_tiny_vitmatte(root / "vitmatte")}


def photos(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [photo(rng, 120 + 20 * i, 90 + 10 * i) for i in range(count)]


def test_the_text_detector_finds_boxes_inside_each_photo(models):
    loaded = load_text_detector(str(models["detector"]), False, CPU, FP32)
    images = photos()
    found = TextFinder(loaded.model, loaded.processor, "a dog. a cat", 0.0, CPU, FP32)(images)
    assert len(found) == 2 and all(found)
    for image, objects in zip(images, found):
        height, width = image.shape[:2]
        for f in objects:
            x0, y0, x1, y1 = f.box
            assert -1 <= x0 <= x1 <= width + 1 and -1 <= y0 <= y1 <= height + 1 and 0 <= f.score <= 1
            assert f.label in ("a dog", "a cat")


def test_owlv2_finds_boxes_of_the_prompt_phrases_on_its_padded_square(tmp_path):
    pytest.importorskip("scipy", reason="OWLv2's PIL image processor resizes with scipy")
    loaded = load_text_detector(str(save_tiny_owlv2(tmp_path / "owl")), False, CPU, FP32)
    images = photos()
    finder = TextFinder(loaded.model, loaded.processor, "a dog. a cat", 0.0, CPU, FP32)
    assert finder.square and target_sizes(images, finder.square) == [(120, 120), (140, 140)]
    found = finder(images)
    assert all(found) and {f.label for objects in found for f in objects} <= {"a dog", "a cat"}


def test_without_a_package_a_processor_needs_the_run_ends_in_one_line(tmp_path, monkeypatch):
    from generator.errors import UserError
    from generator.extract.run import CutoutOptions, Stages, make_cutouts

    def find(photos):
        raise ImportError("\nOwlv2ImageProcessorPil requires the scipy library but it was not found in your environment.")

    write_photos(tmp_path / "photos", 1)
    options = CutoutOptions(photos=str(tmp_path / "photos"), out=tmp_path / "out", prompt="a dog", progress=False)
    with pytest.raises(UserError, match="needs a package that is not installed: Owlv2ImageProcessorPil requires the scipy"):
        make_cutouts(options, Stages(find=find, segment=None, matte=None))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("hq", [False, True], ids=["sam", "sam-hq"])
def test_the_segmenter_gives_one_mask_per_box_at_the_photo_size(hq, models, tmp_path):
    folder = save_tiny_sam(tmp_path / "sam-hq", hq=True) if hq else models["segmenter"]
    loaded = load_segmenter(str(folder), False, CPU, FP32)
    assert type(loaded.model).__name__ == ("SamHQModel" if hq else "SamModel")
    images = photos(3)
    boxes = [[(10, 10, 60, 50), (5, 5, 40, 40)], [], [(20, 15, 70, 80)]]
    masks = BoxSegmenter(loaded.model, loaded.processor, CPU, FP32)(images, boxes)
    assert [len(m) for m in masks] == [2, 0, 1]
    assert all(mask.shape == image.shape[:2] and mask.dtype == bool for image, ms in zip(images, masks) for mask in ms)


def test_the_matting_model_keeps_the_trimaps_sure_parts(models):
    loaded = load_matting(str(models["matting"]), False, CPU, FP32)
    images = photos()
    masks = [np.zeros(image.shape[:2], bool) for image in images]
    masks[0][20:60, 30:90] = True
    masks[1][30:80, 40:100] = True
    trimaps = [make_trimap(mask) for mask in masks]
    alphas = Matter(loaded.model, loaded.processor, CPU, FP32, batch_size=2)(images, trimaps)
    for alpha, trimap in zip(alphas, trimaps):
        assert alpha.shape == trimap.shape and alpha.dtype == np.uint8
        assert np.all(alpha[trimap == FOREGROUND] == 255) and np.all(alpha[trimap == BACKGROUND] == 0)


def test_the_class_detector_gives_masks_of_the_asked_classes(tmp_path):
    pytest.importorskip("scipy", reason="transformers builds Mask2Former only with scipy")
    folder = save_tiny_mask2former(tmp_path / "m2f")
    loaded = load_class_detector(str(folder), False, CPU, FP32)
    images = photos()
    found = ClassFinder(loaded.model, loaded.processor, ["dog"], 0.0, CPU, FP32)(images)
    assert any(found)
    for image, objects in zip(images, found):
        for f in objects:
            assert f.label == "dog" and f.mask.shape == image.shape[:2] and f.mask.any()


def write_photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for index, image in enumerate(photos(count)):
        Image.fromarray(image).save(folder / f"dog_{index}.jpg", quality=95)


def test_the_command_runs_end_to_end_and_generate_builds_from_its_output(models, tmp_path):
    write_photos(tmp_path / "photos", 3)
    out = tmp_path / "cut"
    # Random weights score and place boxes at random: the gates are opened so that some cut-outs come out.
    code = main(["cutouts", str(tmp_path / "photos"), "--prompt", "a dog", "--out", str(out), "--per-photo", "all",
                 "--detector", str(models["detector"]), "--segmenter", str(models["segmenter"]),
                 "--matting-model", str(models["matting"]), "--min-score", "0", "--min-size", "4", "--device", "cpu",
                 "--batch-size", "2", "--no-progress"])
    assert code == 0
    report = json.loads((out / "cutouts.json").read_text())
    written = sorted(Path(o["cutout"]).name for o in report["objects"] if o["cutout"])
    assert written and sorted(p.name for p in (out / "foregrounds").iterdir()) == written
    assert report["models"] == {"detector": "gd", "segmenter": "sam", "matting": "vitmatte"}
    heights = (out / "heights.csv").read_text().splitlines()
    assert heights[0] == "name,height_m,category" and sorted(heights[1:]) == sorted(f"{Path(n).stem},0.6,dog" for n in written)
    write_backgrounds(tmp_path / "bg", 2)
    code = main(["generate", "--backgrounds", str(tmp_path / "bg"), "--foregrounds", str(out / "foregrounds"),
                 "--fg-heights", str(out / "heights.csv"), "--depth", "none", "--placement", "uniform", "--num-foregrounds", "3", "--bg-size", "64",
                 "--placements", "2", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(tmp_path / "ds")])
    assert code == 0 and (tmp_path / "ds" / "manifest.json").is_file()


def test_no_matting_and_a_bad_model_folder(models, tmp_path, capsys):
    write_photos(tmp_path / "photos", 1)
    common = ["cutouts", str(tmp_path / "photos"), "--prompt", "a dog", "--detector", str(models["detector"]),
              "--segmenter", str(models["segmenter"]), "--min-score", "0", "--min-size", "4", "--no-progress"]
    assert main(common + ["--no-matting", "--out", str(tmp_path / "soft")]) == 0
    assert json.loads((tmp_path / "soft" / "cutouts.json").read_text())["models"]["matting"] is None
    (tmp_path / "empty_model").mkdir()
    assert main(common + ["--matting-model", str(tmp_path / "empty_model"), "--out", str(tmp_path / "never")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot load matting model") and error.count("\n") == 1, error
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("where", ["unresolvable", "silent"])
def test_offline_the_default_models_fail_within_15_s_with_one_line(where, silent_endpoint, tmp_path):  # noqa: F811
    endpoint = "http://nonexistent.invalid" if where == "unresolvable" else silent_endpoint
    write_photos(tmp_path / "photos", 1)
    out = tmp_path / "never"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "generator", "cutouts", str(tmp_path / "photos"), "--prompt", "a dog",
                             "--out", str(out), "--no-progress"], env=offline_env(endpoint, tmp_path), capture_output=True,
                            text=True, timeout=120)
    seconds = time.perf_counter() - started
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: cannot download detector 'IDEA-Research/grounding-dino-tiny'"), result.stderr
    assert "network" in result.stderr and "HF_HUB_OFFLINE=1" in result.stderr and "--detector" in result.stderr
    assert seconds < 15, seconds
    assert not out.exists()


def test_the_datasets_builder_cuts_out_data_dir_photos_with_a_prompt(models, tmp_path):
    from mono_depth_mask import MonoDepthMask

    from generator.config import BuildOptions, TeacherSettings
    from generator.errors import UserError
    from generator.extract.gates import Gates

    data_dir = tmp_path / "inputs"
    write_photos(data_dir / "photos", 2)
    write_backgrounds(data_dir / "backgrounds", 2)
    tiny = {"detector": str(models["detector"]), "segmenter": str(models["segmenter"]), "matting_model": str(models["matting"])}
    build = BuildOptions(depth="none", bg_size=64, placements=1, num_foregrounds=2, test_fraction=0)
    cache = str(tmp_path / "cache")

    def builder(**kwargs):
        return MonoDepthMask(config_name="full", data_dir=str(data_dir), cache_dir=cache, build=build,
                             teacher=TeacherSettings(device="cpu"), **kwargs)

    with pytest.raises(UserError, match="prompt"):
        builder(**tiny)._options()
    tiny["gates"] = Gates(min_score=0, min_side_px=4)  # random weights: boxes and scores are anywhere
    dogs = builder(prompt="a dog", **tiny)
    dogs.download_and_prepare()
    rows = dogs.as_dataset()["train"]
    assert len(rows) > 0 and rows.features["image"] is not None
    assert builder(prompt="a cat", **tiny).config_id != dogs.config_id
    assert builder(prompt="a dog", **{**tiny, "matting_model": None}).config_id != dogs.config_id
    assert builder(prompt="a dog", **{**tiny, "gates": Gates(min_score=0.5)}).config_id != dogs.config_id
    assert builder(prompt="a dog", **tiny).config_id == dogs.config_id



def test_classes_the_detector_does_not_know_are_one_line(tmp_path, capsys):
    pytest.importorskip("scipy", reason="transformers builds Mask2Former only with scipy")
    folder = save_tiny_mask2former(tmp_path / "m2f")
    write_photos(tmp_path / "photos", 1)
    code = main(["cutouts", str(tmp_path / "photos"), "--classes", "dog,unicorn", "--detector", str(folder),
                 "--no-matting", "--out", str(tmp_path / "never"), "--no-progress"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: --classes unicorn: not a label of the detector (its labels include chair, dog, person")
    assert not (tmp_path / "never").exists()


def test_the_command_with_classes_mattes_the_segmenters_masks(models, tmp_path):
    pytest.importorskip("scipy", reason="transformers builds Mask2Former only with scipy")
    folder = save_tiny_mask2former(tmp_path / "m2f")
    write_photos(tmp_path / "photos", 2)
    out = tmp_path / "cut"
    assert main(["cutouts", str(tmp_path / "photos"), "--classes", "dog,person", "--detector", str(folder), "--per-photo", "all",
                 "--matting-model", str(models["matting"]), "--min-score", "0", "--min-size", "4", "--out", str(out),
                 "--no-progress"]) == 0
    report = json.loads((out / "cutouts.json").read_text())
    assert report["models"] == {"detector": "m2f", "segmenter": None, "matting": "vitmatte"}
    assert report["asked"]["classes"] == ["dog", "person"] and report["objects"]
    assert {o["label"] for o in report["objects"]} <= {"dog", "person"}
    written = [o for o in report["objects"] if o["cutout"]]
    assert all((out / o["cutout"]).is_file() and o["category"] == o["label"] for o in written)


def test_remote_code_runs_only_with_the_flag(tmp_path, monkeypatch, capsys):
    from generator.errors import UserError
    from generator.extract import models as model_loading

    asked = []

    def refuse(name, role, trust_remote_code, load):
        asked.append((name, role.what, trust_remote_code))
        raise UserError("stopped before any download")

    monkeypatch.setattr(model_loading, "load_checked", refuse)
    write_photos(tmp_path / "photos", 1)
    base = ["cutouts", str(tmp_path / "photos"), "--prompt", "a dog", "--out", str(tmp_path / "never"), "--no-progress"]
    assert main(base) == 2 and main([*base, "--trust-remote-code"]) == 2
    assert asked == [("IDEA-Research/grounding-dino-tiny", "detector", False), ("IDEA-Research/grounding-dino-tiny", "detector", True)]
    assert not (tmp_path / "never").exists()
