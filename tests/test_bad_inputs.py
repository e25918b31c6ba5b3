"""Every kind of bad or unusual input: handled correctly, or refused with one `error:` line naming the file,
or with --skip-bad-inputs left out with a warning and listed in the manifest. Also the safety rules: input
names never become paths, no code from data runs, and tokens never reach the output."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.conftest import SMALL, generate
from PIL import Image

from generator.config import BuildOptions, TeacherSettings
from generator.pipeline.sources import load_sources

REPO = Path(__file__).resolve().parent.parent
NO_DEPTH = [*SMALL, "--depth", "none", "--placement", "uniform", "--workers", "1"]


# --- helpers ----------------------------------------------------------------------------------------


def folders(tmp_path: Path, inputs: dict[str, Path]) -> tuple[Path, Path]:
    """Writable copies of the good inputs, to add bad files to."""
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    shutil.copytree(inputs["backgrounds"], bg)
    shutil.copytree(inputs["foregrounds"], fg)
    return bg, fg


def run(capsys, out: Path, bg: Path, fg: Path, *args: str) -> tuple[int, str, str]:
    code = generate(out, "--backgrounds", str(bg), "--foregrounds", str(fg), *NO_DEPTH, *args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(capsys, tmp_path, bg, fg, *args, names: str, contains: str = "") -> str:
    out = tmp_path / "ds"
    code, _, err = run(capsys, out, bg, fg, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert names in lines[0] and contains in lines[0], lines[0]
    assert not list(out.rglob("*.parquet")) if out.exists() else True
    return lines[0]


def skipped(capsys, tmp_path, bg, fg, *args, names: str) -> dict:
    """With --skip-bad-inputs the build succeeds, warns once and lists the file in the manifest."""
    out = tmp_path / "skip"
    code, stdout, err = run(capsys, out, bg, fg, *args, "--skip-bad-inputs")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipping")]
    assert len(warnings) == 1 and names in warnings[0], err
    assert "skipped 1 bad input" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert [Path(s["file"]).name for s in manifest["skipped_inputs"]] == [names]
    stem = Path(names).stem
    assert stem not in manifest["inputs"]["backgrounds"] + manifest["inputs"]["foregrounds"]
    return manifest


def options(bg: Path, fg: Path, **kw) -> BuildOptions:
    return BuildOptions(backgrounds=str(bg), foregrounds=str(fg), depth="none", bg_size=64, fg_size=32, **kw)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims `width` x `height` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


# --- broken files: refused naming the file, or skipped ----------------------------------------------


def _truncated_jpeg(path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 80, 3), np.uint8)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:1500])


BROKEN = {
    "empty file": ("empty.jpg", lambda p: p.write_bytes(b""), "cannot read image"),
    "not an image": ("notes.png", lambda p: p.write_text("just some text, not a PNG"), "cannot read image"),
    "truncated JPEG": ("cut.jpg", _truncated_jpeg, "cannot read image"),
    "huge header": ("huge.png", lambda p: p.write_bytes(png_claiming(100_000, 100_000)), "decompression-bomb"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_background_is_refused_or_skipped(capsys, tmp_path, inputs, case):
    name, write, contains = BROKEN[case]
    bg, fg = folders(tmp_path, inputs)
    write(bg / name)
    refused(capsys, tmp_path, bg, fg, names=name, contains=contains)
    manifest = skipped(capsys, tmp_path, bg, fg, names=name)
    assert len(manifest["inputs"]["backgrounds"]) == 4


@pytest.mark.parametrize("case", ["empty file", "truncated JPEG"])
def test_broken_foreground_is_refused_or_skipped(capsys, tmp_path, inputs, case):
    name, write, contains = BROKEN[case]
    bg, fg = folders(tmp_path, inputs)
    write(fg / name)
    refused(capsys, tmp_path, bg, fg, names=name, contains=contains)
    skipped(capsys, tmp_path, bg, fg, names=name)


def test_decompression_bomb_guard_applies_to_ordinary_files(capsys, tmp_path, inputs, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the 80x60 backgrounds now count as too large
    bg, fg = folders(tmp_path, inputs)
    refused(capsys, tmp_path, bg, fg, names="bg_img_1.jpg", contains="decompression-bomb")


def test_fully_transparent_foreground(capsys, tmp_path, inputs):
    bg, fg = folders(tmp_path, inputs)
    Image.fromarray(np.zeros((40, 30, 4), np.uint8), "RGBA").save(fg / "ghost.png")
    refused(capsys, tmp_path, bg, fg, names="ghost.png", contains="fully transparent")
    skipped(capsys, tmp_path, bg, fg, names="ghost.png")


def test_mask_of_another_size_is_refused_or_skipped(capsys, tmp_path, inputs):
    bg = folders(tmp_path, inputs)[0]
    fg, masks = tmp_path / "plain", tmp_path / "masks"
    fg.mkdir(), masks.mkdir()
    for i in (1, 2):
        Image.new("RGB", (30, 40), (200, 20, 20)).save(fg / f"fg_img_{i}.jpg")
    Image.new("L", (30, 40), 255).save(masks / "mask_img_1.png")
    Image.new("L", (31, 40), 255).save(masks / "mask_img_2.png")
    refused(capsys, tmp_path, bg, fg, "--masks", str(masks), names="mask_img_2.png", contains="its foreground is 30x40")
    skipped(capsys, tmp_path, bg, fg, "--masks", str(masks), names="fg_img_2.jpg")


def test_every_input_bad_is_refused_even_when_skipping(capsys, tmp_path, inputs):
    bg, fg = tmp_path / "bg", folders(tmp_path, inputs)[1]
    shutil.rmtree(bg), bg.mkdir()
    (bg / "a.jpg").write_bytes(b"")
    code, _, err = run(capsys, tmp_path / "ds", bg, fg, "--skip-bad-inputs")
    assert code == 2 and "error: no usable background file" in err


def test_two_inputs_with_the_same_stem(capsys, tmp_path, inputs):
    bg, fg = folders(tmp_path, inputs)
    Image.new("RGB", (60, 60)).save(bg / "bg_img_2.png")
    message = refused(capsys, tmp_path, bg, fg, names="bg_img_2.jpg", contains="share the name")
    assert "bg_img_2.png" in message


def test_foreground_larger_than_the_background_option_is_refused(capsys, tmp_path, inputs):
    bg, fg = folders(tmp_path, inputs)
    refused(capsys, tmp_path, bg, fg, "--fg-size", "100", names="--fg-size", contains="do not fit")


def test_fewer_distinct_positions_than_placements_is_refused_before_any_work(capsys, tmp_path, inputs):
    """Found from the cut-outs' sizes once the inputs are read, before the workers start or the input
    configs are written beside them (errors raised inside workers: test_resume's file-size limit)."""
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    shutil.copytree(inputs["backgrounds"], bg), fg.mkdir()
    Image.fromarray(np.full((40, 40, 4), 255, np.uint8), "RGBA").save(fg / "square.png")
    code, _, err = run(capsys, tmp_path / "ds", bg, fg, "--fg-size", "63", "--placements", "5", "--workers", "2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "distinct positions" in lines[0] and "Traceback" not in err
    assert not list((tmp_path / "ds").rglob("*.parquet"))


# --- unusual but valid files: handled ----------------------------------------------------------------


def test_palette_png_with_transparency_uses_its_trns_alpha(tmp_path, inputs):
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    shutil.copytree(inputs["backgrounds"], bg), fg.mkdir()
    indices = np.zeros((40, 40), np.uint8)
    indices[15:25, 5:25] = 1  # a 20x10 opaque red bar, the rest palette index 0: transparent
    image = Image.fromarray(indices, "P")
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.save(fg / "bar.png", transparency=0)
    assert Image.open(fg / "bar.png").mode == "P"
    rgba = load_sources(options(bg, fg)).foregrounds[0].rgba
    assert rgba.shape == (16, 32, 4)  # cropped to the opaque bar, longest side 32
    assert rgba[..., 3].min() > 200 and (rgba[4:-4, 4:-4, 0] > 240).all() and (rgba[4:-4, 4:-4, 1] < 15).all()


def test_la_and_16_bit_pngs(tmp_path, inputs):
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    bg.mkdir(), fg.mkdir()
    ramp = np.linspace(0, 65535, 60, dtype=np.uint16)[None, :].repeat(60, axis=0)
    Image.fromarray(ramp).save(bg / "grey16.png")
    assert Image.open(bg / "grey16.png").mode.startswith("I")
    alpha = np.zeros((40, 40), np.uint8)
    alpha[5:35, 10:30] = 255
    Image.fromarray(np.dstack([np.full((40, 40), 180, np.uint8), alpha]), "LA").save(fg / "la.png")
    sources = load_sources(options(bg, fg))
    rgb = sources.backgrounds[0].rgb
    assert rgb[..., 0].min() < 10 and rgb[..., 0].max() > 245 and (rgb[..., 0] == rgb[..., 2]).all()  # scaled, not clipped
    rgba = sources.foregrounds[0].rgba
    assert rgba.shape[:2] == (32, 21) and rgba[..., 3].min() > 200 and abs(int(rgba[..., 0].mean()) - 180) < 3


def test_16_bit_foreground_with_a_mask(tmp_path, inputs):
    fg, masks = tmp_path / "fg", tmp_path / "masks"
    fg.mkdir(), masks.mkdir()
    Image.fromarray(np.full((40, 30), 40000, np.uint16)).save(fg / "deep_1.png")
    Image.new("L", (30, 40), 255).save(masks / "mask_1.png")
    sources = load_sources(BuildOptions(backgrounds=str(inputs["backgrounds"]), foregrounds=str(fg), masks=str(masks), depth="none", bg_size=64, fg_size=32))
    assert abs(int(sources.foregrounds[0].rgba[..., 0].mean()) - 40000 // 257) <= 1


def test_cmyk_jpeg(tmp_path, inputs):
    bg, fg = tmp_path / "bg", inputs["foregrounds"]
    bg.mkdir()
    Image.new("CMYK", (60, 60), (0, 255, 255, 0)).save(bg / "print.jpg", quality=95)  # red in CMYK
    assert Image.open(bg / "print.jpg").mode == "CMYK"
    rgb = load_sources(options(bg, fg)).backgrounds[0].rgb.reshape(-1, 3).mean(axis=0)
    assert rgb[0] > 230 and rgb[1] < 25 and rgb[2] < 25, rgb


def test_exif_rotated_photo_is_turned_upright(tmp_path, inputs):
    bg, fg = tmp_path / "bg", inputs["foregrounds"]
    bg.mkdir()
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :40] = (255, 0, 0)  # left half red
    stored[:, 40:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(bg / "phone.jpg", quality=95, exif=exif)
    rgb = load_sources(options(bg, fg)).backgrounds[0].rgb.astype(int)
    # Displayed upright the photo is 40x80 with red on top and blue below; its centre square keeps both.
    top, bottom = rgb[:24].reshape(-1, 3).mean(axis=0), rgb[-24:].reshape(-1, 3).mean(axis=0)
    assert top[0] > 220 and top[2] < 35, top
    assert bottom[2] > 220 and bottom[0] < 35, bottom


def test_non_square_background_is_centre_cropped(tmp_path, inputs):
    bg, fg = tmp_path / "bg", inputs["foregrounds"]
    bg.mkdir()
    bands = np.zeros((30, 90, 3), np.uint8)
    bands[:, :30], bands[:, 30:60], bands[:, 60:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(bands).save(bg / "wide.png")
    rgb = load_sources(options(bg, fg)).backgrounds[0].rgb
    assert rgb.shape == (64, 64, 3) and (rgb[..., 1] > 240).all() and (rgb[..., 0] < 15).all() and (rgb[..., 2] < 15).all()


def test_foreground_image_larger_than_the_background_is_scaled_down(tmp_path, inputs):
    fg = tmp_path / "fg"
    fg.mkdir()
    Image.fromarray(np.full((400, 300, 4), 200, np.uint8), "RGBA").save(fg / "giant.png")
    rgba = load_sources(options(inputs["backgrounds"], fg)).foregrounds[0].rgba
    assert rgba.shape == (32, 24, 4)


def test_unicode_and_spaces_in_names(capsys, tmp_path, inputs):
    bg, fg = tmp_path / "fonds d'écran", tmp_path / "前景 ü"
    bg.mkdir(), fg.mkdir()
    for i, source in enumerate(sorted(inputs["backgrounds"].iterdir())[:2], 1):
        shutil.copy(source, bg / f"salle à manger {i}.jpg")
    for i, source in enumerate(sorted(inputs["foregrounds"].iterdir())[:2], 1):
        shutil.copy(source, fg / f"chien 🐕 {i}.png")
    out = tmp_path / "ds ü"
    code, _, err = run(capsys, out, bg, fg)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["backgrounds"] == ["salle à manger 1", "salle à manger 2"]
    names = pq.read_table(next((out / "foregrounds").glob("*.parquet")), columns=["name"]).column("name").to_pylist()
    assert set(names) <= {"chien 🐕 1", "chien 🐕 2"}


def test_symlink_loops_are_ignored_without_hanging(capsys, tmp_path, inputs):
    bg, fg = folders(tmp_path, inputs)
    os.symlink("loop.jpg", bg / "loop.jpg")  # a link to itself
    os.symlink(".", bg / "again")  # a folder that contains itself
    os.symlink("missing.png", fg / "dangling.png")
    os.symlink(fg / "fg_1.png", fg / "linked.png")  # a working link is an ordinary input
    code, _, err = run(capsys, tmp_path / "ds", bg, fg)
    assert code == 0, err
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert len(manifest["inputs"]["backgrounds"]) == 4 and "linked" in manifest["inputs"]["foregrounds"]


# --- safety -----------------------------------------------------------------------------------------


def test_input_names_never_become_paths(capsys, tmp_path, inputs):
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    shutil.copytree(inputs["backgrounds"], bg), fg.mkdir()
    cutouts = sorted(inputs["foregrounds"].iterdir())
    odd = ["-rf.png", "\u2025\u2215etc\u2215passwd.png", "\uff0e\uff0e\u29f8x.png"]  # leading dash; '..'/'/' look-alikes
    for source, name in zip(cutouts, odd):
        shutil.copy(source, fg / name)
    out = tmp_path / "ds"
    code, _, err = run(capsys, out, bg, fg)
    assert code == 0, err
    written = {str(p.relative_to(out)) for p in out.rglob("*")}
    assert written == {"README.md", "manifest.json", "stats.json", "gallery", "data", "backgrounds", "foregrounds"} | {
        p for p in written if p.split("/")[0] in ("data", "backgrounds", "foregrounds") and p.endswith(".parquet") and "/" in p
    } | {p for p in written if p.startswith("gallery/") and p.endswith(".png")}
    assert not any(name[:-4] in path for path in written for name in odd)
    assert sorted(tmp_path.iterdir()) == sorted([bg, fg, out])  # nothing written beside OUT
    names = pq.read_table(next((out / "foregrounds").glob("*.parquet")), columns=["name"]).column("name").to_pylist()
    assert set(names) <= {name[:-4] for name in odd}


def test_object_arrays_are_never_unpickled(capsys, tmp_path, inputs):
    depths = tmp_path / "depth"
    depths.mkdir()
    for path in inputs["backgrounds"].iterdir():
        np.save(depths / f"{path.stem}.npy", np.ones((60, 80), np.float32))
    np.save(depths / "bg_img_1.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    code = generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    "--background-depths", str(depths), *SMALL)
    err = capsys.readouterr().err
    assert code == 2 and "bg_img_1.npy" in err and "allow_pickle" in err and len(err.strip().splitlines()) == 1


def test_remote_code_only_with_the_flag():
    from generator.cli import generate_options, parser

    assert TeacherSettings().trust_remote_code is False
    base = ["generate", "--demo", "--out", "x"]
    assert generate_options(parser().parse_args(base))[1].teacher.trust_remote_code is False
    assert generate_options(parser().parse_args([*base, "--trust-remote-code"]))[1].teacher.trust_remote_code is True


def test_hf_token_never_reaches_the_output_or_the_logs(tmp_path, inputs):
    token = "hf_SECRETtokenNEVERlogged0123456789"
    env = {**os.environ, "HF_TOKEN": token, "HUGGING_FACE_HUB_TOKEN": token, "PYTHONPATH": str(REPO)}
    out = tmp_path / "ds"
    base = [sys.executable, "-m", "generator", "generate", "--out", str(out), "--demo", "--num-backgrounds", "2",
            "--num-foregrounds", "2", "--placements", "2", "--bg-size", "64"]
    runs = [subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, timeout=300),
            subprocess.run([*base, "--seed", "1"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)]
    assert runs[0].returncode == 0 and runs[1].returncode == 2  # a success and a refusal, both checked
    for result in runs:
        assert token not in result.stdout + result.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(token.encode() not in p.read_bytes() for p in files)


def test_inputs_load_on_threads_in_file_order(tmp_path, inputs, monkeypatch):
    """Inputs decode on threads, yet the first bad file in file order is the one named, --num-* takes the
    first usable files, and the arrays are those of a serial load."""
    from generator import threads
    from generator.errors import BadInput

    bg, fg = folders(tmp_path, inputs)
    (bg / "bg_img_2b.jpg").write_bytes(b"")  # natural order: bg_img_1, 2, 2b, 3, 3b, 4
    (bg / "bg_img_3b.png").write_text("not a PNG")
    monkeypatch.setattr(threads, "cores", lambda: 4)  # threads even where the runner has one core
    with pytest.raises(BadInput, match="bg_img_2b"):
        load_sources(options(bg, fg), threads=4)
    loaded = load_sources(options(bg, fg, num_backgrounds=3), skip_bad=True, threads=4)
    assert [b.name for b in loaded.backgrounds] == ["bg_img_1", "bg_img_2", "bg_img_3"]
    assert [Path(s.file).name for s in loaded.skipped] == ["bg_img_2b.jpg"]  # bg_img_3b never needed
    serial = load_sources(options(bg, fg, num_backgrounds=3), skip_bad=True)
    for a, b in zip(loaded.backgrounds, serial.backgrounds):
        np.testing.assert_array_equal(a.rgb, b.rgb)
    for a, b in zip(loaded.foregrounds, serial.foregrounds):
        np.testing.assert_array_equal(a.rgba, b.rgba)
