"""Every user mistake ends as one `error:` line naming the problem and exit code 2, never a traceback,
and leaves no dataset behind."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import SMALL, generate, input_args
from PIL import Image


def fails_with(capsys, out, *args, contains: str) -> str:
    code = generate(out, *SMALL, *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len([line for line in err if line.startswith("error:")]) == 1, err
    assert "Traceback" not in "\n".join(err)
    message = [line for line in err if line.startswith("error:")][0]
    assert contains in message, message
    assert not list(out.rglob("*.parquet")) if out.exists() else True
    return message


def test_missing_folder(capsys, tmp_path, inputs):
    fails_with(capsys, tmp_path / "ds", "--backgrounds", str(tmp_path / "nope"), "--foregrounds", str(inputs["foregrounds"]), "--depth", "none", "--placement", "uniform", contains="background folder not found")


def test_empty_folder(capsys, tmp_path, inputs):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    fails_with(capsys, tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(tmp_path / "empty"), "--depth", "none", "--placement", "uniform", contains="holds no")


def test_unreadable_file_is_named(capsys, tmp_path, inputs):
    bad = tmp_path / "bg"
    bad.mkdir()
    Image.new("RGB", (50, 50)).save(bad / "good.jpg")
    (bad / "broken.jpg").write_bytes(b"this is not a jpeg")
    message = fails_with(capsys, tmp_path / "ds", "--backgrounds", str(bad), "--foregrounds", str(inputs["foregrounds"]), "--depth", "none", "--placement", "uniform", contains="cannot read image")
    assert "broken.jpg" in message


def test_foreground_without_alpha_or_mask(capsys, tmp_path, inputs):
    fg = tmp_path / "fg"
    fg.mkdir()
    Image.new("RGB", (30, 40), (200, 10, 10)).save(fg / "person.jpg")
    message = fails_with(capsys, tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(fg), "--depth", "none", "--placement", "uniform", contains="no alpha channel and no mask")
    assert "person.jpg" in message


def test_foreground_larger_than_background(capsys, tmp_path, inputs):
    fails_with(capsys, tmp_path / "ds", *input_args(inputs), "--fg-size", "100", contains="do not fit")


def test_output_folder_holding_another_dataset(capsys, tmp_path, inputs, small_dataset):
    out = tmp_path / "ds"
    assert generate(out, *input_args(inputs), *SMALL) == 0
    capsys.readouterr()
    before = sorted(p.name for p in out.rglob("*"))
    code = generate(out, *input_args(inputs), *SMALL, "--seed", "5")
    err = capsys.readouterr().err
    assert code == 2 and "other options (seed)" in err and "--overwrite" in err
    assert sorted(p.name for p in out.rglob("*")) == before
    assert generate(out, *input_args(inputs), *SMALL, "--seed", "5", "--overwrite") == 0


def test_output_folder_with_foreign_files_is_never_touched(capsys, tmp_path, inputs):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert generate(out, *input_args(inputs), *SMALL, "--overwrite") == 2
    assert "holds no mono-depth-mask dataset" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def test_scene_depth_without_depth_maps(capsys, tmp_path, inputs):
    fails_with(capsys, tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]), "--depth", "scene", "--background-depth-model", "none", contains="--background-depths")


def test_mask_of_another_size(capsys, tmp_path, inputs):
    fg, masks = tmp_path / "fg", tmp_path / "masks"
    fg.mkdir(), masks.mkdir()
    Image.new("RGB", (30, 40)).save(fg / "fg_img_1.jpg")
    Image.new("L", (31, 40), 255).save(masks / "mask_img_1.png")
    fails_with(capsys, tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(fg), "--masks", str(masks), "--depth", "none", "--placement", "uniform", contains="mask")


@pytest.mark.parametrize(
    "args, contains",
    [
        (["--placements", "0"], "--placements must be between"),
        (["--test-fraction", "1.5"], "--test-fraction"),
        (["--scale-jitter", "-0.1"], "--scale-jitter"),
    ],
)
def test_bad_option_values(capsys, tmp_path, inputs, args, contains):
    fails_with(capsys, tmp_path / "ds", *input_args(inputs), *args, contains=contains)


def test_no_inputs_at_all(capsys, tmp_path):
    fails_with(capsys, tmp_path / "ds", contains="--demo")


def test_too_few_positions_for_the_placements(capsys, tmp_path, inputs):
    fg = tmp_path / "fg"
    fg.mkdir()
    Image.fromarray(np.full((40, 40, 4), 255, np.uint8), "RGBA").save(fg / "square.png")
    fails_with(capsys, tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(fg), "--depth", "none", "--placement", "uniform", "--fg-size", "63", "--placements", "5", contains="distinct positions")
