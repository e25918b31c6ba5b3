"""The cutouts command's deterministic parts, checked exactly with stand-in stages of known output: the
class table's word matching, trimap widths, the soft edge, the crop, the colours under partial alpha on
a composite of known foreground and alpha, the gates, the matting stage's crop back from its padded
input, and a whole run's cutouts.json, heights.csv and foregrounds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import VitMatteImageProcessorPil

from generator.errors import UserError
from generator.extract import gates, matte
from generator.extract.cutout import make_cutout
from generator.extract.find import Found, prompt_phrases
from generator.extract.run import CutoutOptions, Stages, make_cutouts
from generator.extract.trimap import BACKGROUND, FOREGROUND, UNKNOWN, band_width, make_trimap, soft_alpha
from generator.pipeline.classes import find_class


@pytest.mark.parametrize("text, name", [
    ("dog_3", "dog"), ("two-dogs", "dog"), ("Puppies.png", "dog"), ("a dog", "dog"), ("People_on_a_bench", "person"),
    ("potted plant", "plant"), ("couch", "sofa"), ("carpet", None), ("cartoon", None), ("scatter", None), ("IMG_0001", None),
])
def test_a_class_is_found_as_a_whole_word(text, name):
    found = find_class(text)
    assert (found.name if found else None) == name


def test_a_class_has_its_typical_height():
    assert find_class("woman").height_m == find_class("person").height_m == 1.7
    assert find_class("cups").height_m == 0.1


def test_detector_post_processing_keywords_follow_its_signature():
    from generator.extract.find import threshold_kwargs

    def grounding_before_4_51(outputs, input_ids, box_threshold=0.25, text_threshold=0.25, target_sizes=None): ...
    def grounding(outputs, input_ids=None, threshold=0.25, text_threshold=0.25, target_sizes=None, text_labels=None): ...
    def owl_before_4_51(outputs, threshold=0.1, target_sizes=None): ...
    def owl(outputs, threshold=0.1, target_sizes=None, text_labels=None): ...

    labels = [["a dog"]]
    assert threshold_kwargs(grounding_before_4_51, 0.2, labels) == {"box_threshold": 0.2}
    assert threshold_kwargs(grounding, 0.2, labels) == {"threshold": 0.2}
    assert threshold_kwargs(owl_before_4_51, 0.2, labels) == {"threshold": 0.2}
    assert threshold_kwargs(owl, 0.2, labels) == {"threshold": 0.2, "text_labels": labels}


def test_labels_without_text_labels_are_the_phrases():
    from generator.extract.find import _founds

    owl_old = {"scores": torch.tensor([0.5, 0.4]), "boxes": torch.zeros(2, 4), "labels": torch.tensor([1, 0])}
    assert [f.label for f in _founds(owl_old, ["a dog", "a cat"])] == ["a cat", "a dog"]
    grounding_old = {"scores": torch.tensor([0.5]), "boxes": torch.zeros(1, 4), "labels": ["dog"]}
    assert [f.label for f in _founds(grounding_old, ["a dog", "a cat"])] == ["a dog"]


def test_prompt_phrases():
    assert prompt_phrases(" A Dog. a cat .") == ["a dog", "a cat"]


def square_mask(side: int, pad: int) -> np.ndarray:
    mask = np.zeros((side + 2 * pad, side + 2 * pad), bool)
    mask[pad : pad + side, pad : pad + side] = True
    return mask


@pytest.mark.parametrize("side, width", [(100, 4), (400, 16), (20, 2)])
def test_the_unknown_band_follows_the_object_size(side, width):
    mask = square_mask(side, 40)
    assert band_width(mask) == width
    row = make_trimap(mask)[40 + side // 2]
    expected = np.full(row.shape, BACKGROUND)
    expected[40 - width : 40 + side + width] = UNKNOWN
    expected[40 + width : 40 + side - width] = FOREGROUND
    assert np.array_equal(row, expected)


def test_at_the_photo_border_the_band_stays_inside_the_mask():
    mask = np.zeros((300, 400), bool)
    mask[:100, :100] = True  # the photo's top-left corner
    trimap = make_trimap(mask)
    expected = np.zeros(mask.shape, np.uint8)
    expected[:104, :104] = UNKNOWN
    expected[:96, :96] = FOREGROUND  # beyond the array counts as background: the band runs along the border too
    expected[:4, :] = np.where(expected[:4, :] == FOREGROUND, UNKNOWN, expected[:4, :])
    expected[:, :4] = np.where(expected[:, :4] == FOREGROUND, UNKNOWN, expected[:, :4])
    assert np.array_equal(trimap, expected)


def test_without_matting_the_mask_is_softened_at_its_edge():
    mask = square_mask(100, 30)
    alpha = soft_alpha(mask)
    row = alpha[80].astype(int)
    assert row[:20].max() == 0 and row[50:110].min() == 255 and row[-20:].max() == 0
    edge = row[22:40]
    assert np.all(np.diff(edge) >= 0) and ((edge > 0) & (edge < 255)).sum() >= 3  # a ramp, not a step


def test_the_cutout_is_cropped_to_its_alpha():
    photo = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    alpha = np.zeros((60, 80), np.uint8)
    alpha[10:30, 5:45] = 255
    cutout = make_cutout(photo, alpha, "p.jpg")
    assert cutout.shape == (20, 40, 4)
    assert np.array_equal(cutout[..., :3], photo[10:30, 5:45]) and np.all(cutout[..., 3] == 255)


def test_colours_under_partial_alpha_lose_the_photo_background():
    foreground, background = np.array([200.0, 40, 40]), np.array([20.0, 200, 20])
    y, x = np.mgrid[:80, :80]
    a = np.clip((28 - np.hypot(x - 40, y - 40)) / 4, 0, 1)  # an opaque disc with a 4 px soft edge
    photo = np.rint(a[..., None] * foreground + (1 - a[..., None]) * background).astype(np.uint8)
    alpha = np.rint(a * 255).astype(np.uint8)
    cutout = make_cutout(photo, alpha, "composite")
    top, left = np.argwhere(alpha > 0).min(axis=0)
    partial = (cutout[..., 3] >= 51) & (cutout[..., 3] < 255)  # alpha 0.2-1: enough of the object to judge its colour
    error = np.abs(cutout[..., :3][partial].astype(float) - foreground).mean()
    before = np.abs(photo[top:, left:][: cutout.shape[0], : cutout.shape[1]][partial].astype(float) - foreground).mean()
    assert before > 40 and error < 6, (before, error)


def test_the_box_gates():
    g = gates.Gates(min_score=0.4, min_side_px=10, border_px=2)
    shape = (100, 100, 3)
    assert gates.box_reason(Found((20, 20, 60, 60), 0.9, "dog"), shape, g) is None
    assert gates.box_reason(Found((20, 20, 60, 60), 0.3, "dog"), shape, g) == gates.LOW_SCORE
    assert gates.box_reason(Found((20, 20, 29, 60), 0.9, "dog"), shape, g) == gates.TOO_SMALL
    assert gates.box_reason(Found((1, 20, 60, 60), 0.9, "dog"), shape, g) == gates.CUT_BY_BORDER
    assert gates.box_reason(Found((20, 20, 60, 99), 0.9, "dog"), shape, g) == gates.CUT_BY_BORDER


def test_select_keeps_the_best_and_drops_overlaps():
    found = [Found((10, 10, 50, 50), 0.6, "dog"), Found((12, 12, 50, 52), 0.9, "dog"), Found((60, 60, 90, 90), 0.7, "dog")]
    assert gates.select(found, (100, 100, 3), gates.Gates(min_side_px=10), one=False) == [gates.OVERLAP, None, None]
    assert gates.select(found, (100, 100, 3), gates.Gates(min_side_px=10), one=True) == [gates.OVERLAP, None, gates.NOT_BEST]


def test_the_alpha_gates():
    box, g = (10, 10, 50, 50), gates.Gates()
    alpha = np.zeros((60, 60), np.uint8)
    assert gates.alpha_reason(alpha, box, g) == gates.ALL_TRANSPARENT
    alpha[10:50, 10:50] = 255
    assert gates.alpha_reason(alpha, box, g) == gates.ALL_OPAQUE
    alpha[10:50, 10:20] = 0
    assert gates.alpha_reason(alpha, box, g) is None


class TrimapEcho(torch.nn.Module):
    """A stand-in matting model whose alpha is its input's trimap channel; it keeps the input shapes it saw."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, pixel_values):
        self.shapes.append(tuple(pixel_values.shape))
        return type("Output", (), {"alphas": pixel_values[:, 3:4]})()


@pytest.mark.parametrize("max_side", [1024, 40])
def test_matting_crops_its_padded_output_back_to_each_region(max_side, monkeypatch):
    monkeypatch.setattr(matte, "MAX_SIDE", max_side)
    photos = [np.full((100, 160, 3), 100, np.uint8), np.full((70, 160, 3), 100, np.uint8)]
    masks = [np.zeros(p.shape[:2], bool) for p in photos]
    masks[0][20:80, 30:130] = True  # band 3 px: a region of 82 x 122 px with the 8 px margin
    masks[1][10:50, 40:120] = True  # band 2 px: a region of 60 x 100 px
    trimaps = [make_trimap(m) for m in masks]
    model = TrimapEcho()
    alphas = matte.Matter(model, VitMatteImageProcessorPil(), torch.device("cpu"), torch.float32, batch_size=2)(photos, trimaps)
    # Padded to 32s and to the batch's largest: 96 x 128 as they are; shrunk to 40 px a side (27 x 40, 24 x 40): 32 x 64.
    assert model.shapes == [(2, 4, 96, 128) if max_side == 1024 else (2, 4, 32, 64)]
    for alpha, trimap in zip(alphas, trimaps):
        assert alpha.shape == trimap.shape
        assert np.all(alpha[trimap == FOREGROUND] == 255) and np.all(alpha[trimap == BACKGROUND] == 0)
        unknown = alpha[trimap == UNKNOWN].astype(int)
        if max_side == 1024:  # no resizing: the band's own value, 128, everywhere in it
            assert np.all(unknown == 128)
        else:  # shrunk 3x and grown back, the 2-3 px band is blurred into a ramp between the sure parts
            assert 40 < unknown.mean() < 215 and unknown.min() < 128


def write_photos(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    for index, name in enumerate(names):
        photo = np.full((100, 120, 3), 30 + 40 * index, np.uint8)
        photo[30:70, 40:80] = (220, 120, 40)
        Image.fromarray(photo).save(folder / name)


def disc(shape, box) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    cx, cy, r = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2.5
    return (x - cx) ** 2 + (y - cy) ** 2 < r * r


FOUND = [
    Found((40, 30, 80, 70), 0.9, "a dog"),  # kept
    Found((42, 30, 80, 72), 0.8, "a dog"),  # overlaps the best
    Found((0, 30, 34, 70), 0.85, "a dog"),  # cut by the border
    Found((90, 80, 100, 90), 0.7, "a dog"),  # too small
    Found((84, 8, 118, 48), 0.2, "a dog"),  # low score
    Found((84, 55, 117, 95), 0.6, "a dog"),  # kept with --per-photo all
]


def stand_in_stages() -> Stages:
    def find(photos):
        return [list(FOUND) for _ in photos]

    def segment(photos, boxes):
        return [[disc(photo.shape, box) for box in photo_boxes] for photo, photo_boxes in zip(photos, boxes)]

    return Stages(find=find, segment=segment, matte=None)


@pytest.mark.parametrize("per_photo", ["one", "all"])
def test_a_run_writes_the_cutouts_its_report_and_their_heights(per_photo, tmp_path):
    write_photos(tmp_path / "photos", ["a.jpg", "b.png"])
    out = tmp_path / "out"
    options = CutoutOptions(photos=str(tmp_path / "photos"), out=out, prompt="a dog", per_photo=per_photo, progress=False)
    counts = make_cutouts(options, stand_in_stages())
    names = ["a", "b"] if per_photo == "one" else ["a_0", "a_1", "b_0", "b_1"]
    assert sorted(p.name for p in (out / "foregrounds").iterdir()) == [f"{n}.png" for n in names]
    report = json.loads((out / "cutouts.json").read_text())
    skipped = {"overlaps a better object": 2, "cut by the photo's border": 2, "too small": 2, "low score": 2}
    if per_photo == "one":
        skipped["not the photo's best object"] = 2
    assert report["counts"] == {"found": 12, "written": len(names), "skipped": skipped} and counts["heights"]
    assert report["models"]["detector"] == "IDEA-Research/grounding-dino-tiny" and report["asked"]["prompt"] == "a dog"
    first = report["objects"][0]
    assert first == {"photo": "a.jpg", "box": [40, 30, 80, 70], "score": 0.9, "label": "a dog", "category": "dog",
                     "height_m": 0.6, "cutout": f"foregrounds/{names[0]}.png", "skipped": None}
    with open(out / "heights.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows == [["name", "height_m", "category"]] + [[n, "0.6", "dog"] for n in names]
    assert (out / "gallery" / "cutouts.png").is_file()
    rgba = np.asarray(Image.open(out / "foregrounds" / f"{names[0]}.png"))
    assert rgba.shape[2] == 4 and rgba[..., 3].max() == 255 and rgba[0, 0, 3] < 255  # a disc, cropped to it


def test_a_rerun_replaces_the_folder_and_a_foreign_folder_is_refused(tmp_path):
    write_photos(tmp_path / "photos", ["a.jpg"])
    out = tmp_path / "out"
    options = CutoutOptions(photos=str(tmp_path / "photos"), out=out, prompt="a dog", per_photo="all", progress=False)
    make_cutouts(options, stand_in_stages())
    (out / "foregrounds" / "stale.png").write_bytes(b"")
    make_cutouts(options, stand_in_stages())
    assert not (out / "foregrounds" / "stale.png").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="not a cutouts folder"):
        make_cutouts(CutoutOptions(photos=str(tmp_path / "photos"), out=mine, prompt="a dog"), stand_in_stages())
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_fg_heights_reads_the_category_column_of_heights_csv(tmp_path):
    from generator.pipeline.heights import read_heights

    (tmp_path / "heights.csv").write_text("name,height_m,category\ndog_0,0.6,dog\nman,1.7,person\n")
    assert read_heights(tmp_path / "heights.csv") == [(2, "dog_0", 0.6), (3, "man", 1.7)]
    (tmp_path / "bad.csv").write_text("dog_0,0.6,dog,extra\n")
    with pytest.raises(UserError, match="line 1: expected name,height_m"):
        read_heights(tmp_path / "bad.csv")
