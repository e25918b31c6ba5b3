"""Inputs read as their authors meant them: a heights CSV as a spreadsheet writes it, a depth picture only
when it holds millimetres, EXIF focal lengths only where they describe the pixels at hand, file names that
are not UTF-8, and files the tool will not read listed, never silently left out."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from generator.cli import main
from generator.errors import UserError
from generator.pipeline.heights import heights_by_stem
from tests.conftest import SMALL, generate
from tests.inputs import write_backgrounds, write_cutouts, write_depths
from tests.test_reliability_inputs import one_error_line, skipped_once

FILES = [Path("fg/chair.png"), Path("fg/Lamp.PNG"), Path("fg/table.jpg")]


def heights(tmp_path: Path, text: str, encoding: str = "utf-8") -> dict[str, float]:
    (tmp_path / "heights.csv").write_text(text, encoding=encoding)
    return heights_by_stem(tmp_path / "heights.csv", FILES)


# --- --fg-heights ------------------------------------------------------------------------------------


def test_heights_with_a_byte_order_mark_and_without_a_header(tmp_path):
    assert heights(tmp_path, "chair,0.9\ntable,0.7\n", encoding="utf-8-sig") == {"chair": 0.9, "table": 0.7}
    assert heights(tmp_path, "name,height_m\nchair,0.9\n", encoding="utf-8-sig") == {"chair": 0.9}


def test_heights_names_with_their_extension_or_in_another_case_match_their_file(tmp_path):
    assert heights(tmp_path, "chair.png,0.9\nlamp,1.6\nTABLE.JPG,0.7\n") == {"chair": 0.9, "Lamp": 1.6, "table": 0.7}


@pytest.mark.parametrize("text, says", [
    ("chair,0.9\nsofa,0.8\n", "line 2: no foreground file is named 'sofa'"),
    ("chair,0.9\nChair.png,1.0\n", "lists 'chair' twice, lines 1 and 2"),
])
def test_heights_naming_no_file_or_one_file_twice_are_refused(tmp_path, text, says):
    with pytest.raises(UserError, match=says):
        heights(tmp_path, text)


def test_a_heights_row_for_no_file_stops_the_build_in_one_line(tmp_path, capsys, inputs):
    (tmp_path / "heights.csv").write_text("\ufefffg_1.png,0.5\nfg_9,1.0\n", encoding="utf-8")
    code = generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    "--fg-heights", str(tmp_path / "heights.csv"), *SMALL, "--depth", "none", "--placement", "uniform")
    one_error_line(capsys, code, 2, "heights.csv line 2", "fg_9")
    assert not (tmp_path / "ds").exists()


# --- --background-depths -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGB", "P"])
def test_an_8_bit_depth_picture_is_refused_naming_it(tmp_path, capsys, mode):
    backgrounds = write_backgrounds(tmp_path / "bg", 2)
    write_cutouts(tmp_path / "fg", 1)
    write_depths(tmp_path / "depth", backgrounds, suffix=".png")
    grey = np.linspace(200, 20, 60).astype(np.uint8)[:, None].repeat(80, axis=1)
    Image.fromarray(grey, "L").convert(mode).save(tmp_path / "depth" / "bg_img_2.png")
    args = ["--backgrounds", str(tmp_path / "bg"), "--foregrounds", str(tmp_path / "fg"), "--background-depths",
            str(tmp_path / "depth"), *SMALL, "--workers", "1"]
    line = one_error_line(capsys, generate(tmp_path / "ds", *args), 2, "bg_img_2.png", f"mode {mode}", "16-bit")
    assert "millimetres" in line
    skipped_once(capsys, generate(tmp_path / "skip", *args, "--skip-bad-inputs"), tmp_path / "skip", "bg_img_2.jpg")


# --- file names that are not UTF-8 ---------------------------------------------------------------------


def test_file_names_that_are_not_utf8_are_stored_escaped_and_the_rerun_finishes(tmp_path, capsys):
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    write_backgrounds(bg, 2)
    write_cutouts(fg, 2)
    os.rename(os.fsencode(bg / "bg_img_2.jpg"), os.fsencode(bg) + b"/bg_\xff2.jpg")
    os.rename(os.fsencode(fg / "fg_2.png"), os.fsencode(fg) + b"/fg_\xfe2.png")
    (tmp_path / "bad").write_bytes(b"not an image")
    os.rename(os.fsencode(tmp_path / "bad"), os.fsencode(bg) + b"/bg_\xff3.jpg")
    (tmp_path / "heights.csv").write_text("fg_\\xfe2.png,0.5\n")  # the name as stored
    out = tmp_path / "ds"
    args = ["--backgrounds", str(bg), "--foregrounds", str(fg), "--fg-heights", str(tmp_path / "heights.csv"),
            *SMALL, "--depth", "none", "--placement", "uniform", "--workers", "1", "--skip-bad-inputs"]
    assert generate(out, *args) == 0, capsys.readouterr().err
    assert "bg_\\xff3.jpg" in capsys.readouterr().err
    backgrounds = {name for path in (out / "backgrounds").glob("*.parquet") for name in pq.read_table(path).column("name").to_pylist()}
    foregrounds = {name for path in (out / "foregrounds").glob("*.parquet") for name in pq.read_table(path).column("name").to_pylist()}
    assert backgrounds == {"bg_img_1", "bg_\\xff2"} and foregrounds == {"fg_1", "fg_\\xfe2"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["fg_heights_m"] == [1.0, 0.5]
    assert manifest["inputs"]["backgrounds"] == ["bg_img_1", "bg_\\xff2"] and manifest["skipped_inputs"][0]["file"].endswith("bg_\\xff3.jpg")
    assert generate(out, *args) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--foregrounds", "--out"])
def test_a_folder_named_in_bytes_that_are_not_utf8_is_refused_before_anything_is_written(tmp_path, capsys, inputs, flag):
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/folder_\xff")
    shutil.copytree(inputs["foregrounds"], odd)
    folders = {"--foregrounds": odd, "--out": os.fsdecode(os.fsencode(tmp_path) + b"/out_\xff")}
    code = main(["generate", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", folders["--foregrounds"],
                 "--out", folders["--out"] if flag == "--out" else str(tmp_path / "ds"), *SMALL, "--depth", "none", "--placement", "uniform"])
    one_error_line(capsys, code, 2, f"{flag} ", "\\xff", "not valid UTF-8")
    assert sorted(os.listdir(tmp_path)) == ["folder_\udcff"]


# --- files not read, and fewer files than asked for ------------------------------------------------------


def test_files_of_a_type_not_read_are_listed_as_skipped(tmp_path, capsys, inputs):
    bg, fg, depth = tmp_path / "bg", tmp_path / "fg", tmp_path / "depth"
    for source, folder in ((inputs["backgrounds"], bg), (inputs["foregrounds"], fg), (inputs["depths"], depth)):
        shutil.copytree(source, folder)
    Image.new("RGB", (80, 60)).save(bg / "anim.gif")
    (fg / "notes.txt").write_text("cut-outs from the shoot")
    (fg / "README").write_text("no extension")
    (fg / ".DS_Store").write_bytes(b"\0")  # hidden: not an input
    (depth / "bg_img_1.jpg").write_bytes(b"\0")
    out = tmp_path / "ds"
    code = generate(out, "--backgrounds", str(bg), "--foregrounds", str(fg), "--background-depths", str(depth), *SMALL, "--workers", "1")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4 and all(line.startswith("warning: skipping ") for line in warnings), warnings
    assert "anim.gif: .gif is not a type read here" in warnings[0]
    assert "skipped 4 bad input files" in captured.out
    listed = json.loads((out / "manifest.json").read_text())["skipped_inputs"]
    assert [(s["input"], Path(s["file"]).name) for s in listed] == [
        ("background", "anim.gif"), ("background depth", "bg_img_1.jpg"), ("foreground", "notes.txt"), ("foreground", "README")]


def test_asking_for_more_inputs_than_there_are_is_a_warning(tmp_path, capsys, inputs):
    out = tmp_path / "ds"
    code = generate(out, "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    "--num-backgrounds", "50", "--num-foregrounds", "3", *SMALL, "--depth", "none", "--placement", "uniform", "--workers", "1")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.splitlines() == ["warning: --num-backgrounds 50: only 4 usable background files; using 4"]
    assert len(json.loads((out / "manifest.json").read_text())["inputs"]["backgrounds"]) == 4


def test_bad_files_skipped_below_the_number_asked_for_say_so(tmp_path, capsys, inputs):
    fg = tmp_path / "fg"
    shutil.copytree(inputs["foregrounds"], fg)
    (fg / "fg_0.png").write_bytes(b"broken")
    code = generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(fg), "--num-foregrounds", "4",
                    "--skip-bad-inputs", *SMALL, "--depth", "none", "--placement", "uniform", "--workers", "1")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.splitlines()[-1] == "warning: --num-foregrounds 4: only 3 usable foreground files; using 3"
