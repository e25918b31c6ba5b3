"""Reliability of user inputs and of the commands that read a dataset: masks and depths are matched only
when certain; every bad input, damaged manifest or shard ends as one `error:` line with the documented exit
code; validate checks JPEG composites exactly outside the cut-out's MCUs; push refuses a corrupted shard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generator.cli import main
from tests.conftest import SMALL, generate
from tests.inputs import blob_alpha, photo, write_backgrounds, write_cutouts, write_peer_layout

NO_DEPTH = [*SMALL, "--depth", "none", "--workers", "1"]


def one_error_line(capsys, code: int, expected_code: int, *names: str) -> str:
    """The command failed with `expected_code` and exactly one `error:` line naming every one of `names`."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert all(name in lines[0] for name in names), lines[0]
    return lines[0]


def skipped_once(capsys, code: int, out: Path, name: str) -> dict:
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipping")]
    assert len(warnings) == 1 and name in warnings[0], err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [Path(s["file"]).name for s in manifest["skipped_inputs"]] == [name]
    return manifest


# --- 1. masks and depths belong to an image only when certain -----------------------------------------


def test_depth_of_another_background_with_the_same_number_is_not_taken(capsys, tmp_path):
    bg, depth = tmp_path / "bg", tmp_path / "depth"
    write_backgrounds(bg, 1, prefix="room_5", size=(64, 64))
    (bg / "room_51.jpg").rename(bg / "room_5.jpg")
    shutil.copy(bg / "room_5.jpg", bg / "hall_5.jpg")
    depth.mkdir()
    np.save(depth / "room_5.npy", np.full((64, 64), 3.0, np.float32))
    write_cutouts(tmp_path / "fg", 1, size=(20, 30))
    args = ["--backgrounds", str(bg), "--foregrounds", str(tmp_path / "fg"), "--background-depths", str(depth),
            *SMALL, "--placements", "2", "--workers", "1"]
    one_error_line(capsys, generate(tmp_path / "ds", *args), 2, "hall_5.jpg", "no background depth")
    manifest = skipped_once(capsys, generate(tmp_path / "skip", *args, "--skip-bad-inputs"), tmp_path / "skip", "hall_5.jpg")
    assert manifest["inputs"]["backgrounds"] == ["room_5"]


def test_mask_of_another_foreground_with_the_same_number_is_not_taken(capsys, tmp_path):
    write_backgrounds(tmp_path / "bg", 2, size=(64, 64))
    fg, masks = tmp_path / "fg", tmp_path / "masks"
    fg.mkdir(), masks.mkdir()
    for name in ("person_1", "dog_1"):
        Image.fromarray(photo(np.random.default_rng(0), 20, 30)).save(fg / f"{name}.jpg")
    Image.fromarray(np.where(blob_alpha(np.random.default_rng(0), 20, 30) > 128, 255, 0).astype(np.uint8)).save(masks / "person_1.png")
    args = ["--backgrounds", str(tmp_path / "bg"), "--foregrounds", str(fg), "--masks", str(masks), *NO_DEPTH, "--placements", "2"]
    one_error_line(capsys, generate(tmp_path / "ds", *args), 2, "dog_1.jpg", "no mask")
    manifest = skipped_once(capsys, generate(tmp_path / "skip", *args, "--skip-bad-inputs"), tmp_path / "skip", "dog_1.jpg")
    assert manifest["inputs"]["foregrounds"] == ["person_1"]


def test_numbers_match_only_in_numbered_folders_with_unique_numbers(tmp_path):
    from generator.sources import match_by_stem_or_number

    def files(*names):
        return [Path(name) for name in names]

    fg, masks = files("fg_img_1.jpg", "fg_img_2.jpg"), files("mask_img_2.png", "mask_img_1.png")
    assert [m.name for m in match_by_stem_or_number(fg, masks)] == ["mask_img_1.png", "mask_img_2.png"]
    assert match_by_stem_or_number(files("fg_img_1.jpg", "other_2.jpg"), masks) == [None, None]  # two prefixes
    assert match_by_stem_or_number(fg, files("mask_img_1.png", "mask_img_01.png", "mask_img_2.png")) == [None, None]  # 1 twice
    assert match_by_stem_or_number(fg, files("mask_img_1.png", "notes.png")) == [None, None]  # a file without number
    same_stem = match_by_stem_or_number(files("a.jpg", "b_3.jpg"), files("b_3.png", "a.png"))
    assert [m.name for m in same_stem] == ["a.png", "b_3.png"]


def test_peer_layout_still_matches_by_number(capsys, tmp_path):
    folders = write_peer_layout(tmp_path, 2, 2)
    depth = tmp_path / "depth"
    depth.mkdir()
    for i in (1, 2):
        np.save(depth / f"depth_img_{i}.npy", np.full((60, 80), 2.0 + i, np.float32))
    code = generate(tmp_path / "ds", "--backgrounds", str(folders["backgrounds"]), "--foregrounds", str(folders["foregrounds"]),
                    "--masks", str(folders["masks"]), "--background-depths", str(depth), *SMALL, "--placements", "2", "--workers", "1")
    assert code == 0, capsys.readouterr().err
