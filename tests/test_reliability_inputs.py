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
from generator.output.model import FORMAT
from tests.conftest import SMALL, generate
from tests.inputs import blob_alpha, photo, write_backgrounds, write_cutouts, write_peer_layout

NO_DEPTH = [*SMALL, "--depth", "none", "--placement", "uniform", "--workers", "1"]


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
    from generator.pipeline.matching import match_by_stem_or_number

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


# --- 2. one `error:` line instead of a traceback ------------------------------------------------------


def depth_folder(tmp_path: Path, inputs: dict[str, Path]) -> Path:
    depths = tmp_path / "depth"
    shutil.copytree(inputs["depths"], depths)
    return depths


def generate_with_depths(out: Path, inputs: dict[str, Path], depths: Path, *args: str) -> int:
    return generate(out, "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    "--background-depths", str(depths), *SMALL, "--workers", "1", "--no-gallery", *args)


def npy_claiming(path: Path, shape: tuple[int, ...], descr: str = "<f4") -> None:
    """A .npy whose header claims `shape` but holds only a few bytes."""
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False, "shape": shape})
        stream.write(b"\0" * 64)


BAD_DEPTHS = {
    "empty file": lambda p: p.write_bytes(b""),
    "huge header": lambda p: npy_claiming(p, (100_000, 100_000)),
    "truncated data": lambda p: npy_claiming(p, (60, 80)),
    "negative": lambda p: np.save(p, np.full((60, 80), -1.0, np.float32)),
    "zero": lambda p: np.save(p, np.zeros((60, 80), np.float32)),
    "nan": lambda p: np.save(p, np.full((60, 80), np.nan, np.float32)),
    "inf": lambda p: np.save(p, np.full((60, 80), np.inf)),
    "complex": lambda p: np.save(p, np.ones((60, 80), np.complex64)),
    "wrong shape": lambda p: np.save(p, np.ones((61, 80), np.float32)),
}


@pytest.mark.parametrize("case", BAD_DEPTHS, ids=list(BAD_DEPTHS))
def test_bad_depth_is_refused_or_skipped_in_one_line(capsys, tmp_path, inputs, case):
    depths = depth_folder(tmp_path, inputs)
    BAD_DEPTHS[case](depths / "bg_img_2.npy")
    one_error_line(capsys, generate_with_depths(tmp_path / "ds", inputs, depths), 2, "bg_img_2.npy")
    out = tmp_path / "skip"
    manifest = skipped_once(capsys, generate_with_depths(out, inputs, depths, "--skip-bad-inputs"), out, "bg_img_2.jpg")
    assert "bg_img_2.npy" in manifest["skipped_inputs"][0]["reason"]


def test_negative_seed_is_refused(capsys, tmp_path, inputs):
    code = generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    *NO_DEPTH, "--seed", "-1")
    one_error_line(capsys, code, 2, "--seed")


def test_empty_out_is_refused(capsys, tmp_path, inputs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["generate", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                 *NO_DEPTH, "--out", ""])
    one_error_line(capsys, code, 2, "--out")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    from tests.tiny_models import save_tiny_dpt

    return save_tiny_dpt(tmp_path_factory.mktemp("teacher") / "dpt")


def broken_teacher(tmp_path: Path, tiny_teacher: Path, case: str) -> Path:
    import torch

    folder = tmp_path / "model"
    shutil.copytree(tiny_teacher, folder)
    weights = folder / "model.safetensors"
    if case == "pickled bin":
        weights.unlink()
        torch.save({"weights": Exploit()}, folder / "pytorch_model.bin")
    elif case == "truncated safetensors":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:  # a model type transformers does not know, whose code is in the folder
        config = json.loads((folder / "config.json").read_text())
        config.update(model_type="my_depth", auto_map={"AutoConfig": "custom.Config", "AutoModelForDepthEstimation": "custom.Model"})
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "custom.py").write_text("raise SystemExit('the folder's own code ran')\n")
    return folder


class Exploit:
    def __reduce__(self):
        return (print, ("unpickling ran code",))


@pytest.mark.parametrize("case, names", [("pickled bin", "safetensors"), ("truncated safetensors", "weights"),
                                         ("remote code", "--trust-remote-code")])
def test_bad_teacher_folder_is_refused_in_one_line(capsys, tmp_path, inputs, tiny_teacher, case, names):
    model = broken_teacher(tmp_path, tiny_teacher, case)
    code = generate(tmp_path / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
                    *SMALL, "--workers", "1", "--depth", "model", "--depth-model", str(model), "--placement", "uniform", "--device", "cpu")
    captured = capsys.readouterr()
    assert "unpickling ran code" not in captured.out
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), captured.err
    assert str(model) in err[0] and names in err[0], err[0]


DAMAGED_MANIFESTS = {
    "no shards": lambda m: m.pop("shards"),
    "shards null": lambda m: m.update(shards=None),
    "shards a string": lambda m: m.update(shards="data/train.parquet"),
    "shard without sha256": lambda m: m["shards"][0].pop("sha256"),
    "bytes not an int": lambda m: m["shards"][0].update(bytes="12"),
    "path outside the dataset": lambda m: m["shards"][0].update(path="../../etc/passwd"),
}


def damage(out: Path, case: str) -> None:
    path = out / "manifest.json"
    if case == "nested 100000 deep":
        path.write_text('{"format": "%s", "shards": ' % FORMAT + "[" * 100_000 + "]" * 100_000 + "}")
    elif case == "not JSON":
        path.write_text("{not json")
    else:
        manifest = json.loads(path.read_text())
        DAMAGED_MANIFESTS[case](manifest)
        path.write_text(json.dumps(manifest))


@pytest.fixture
def dataset(tmp_path, small_dataset) -> Path:
    """A writable copy of the small (PNG) dataset."""
    out = tmp_path / "ds"
    shutil.copytree(small_dataset, out)
    return out


@pytest.mark.parametrize("case", [*DAMAGED_MANIFESTS, "nested 100000 deep", "not JSON"])
def test_damaged_manifest_is_one_line_in_every_command(capsys, tmp_path, inputs, dataset, case):
    from tests.conftest import input_args

    damage(dataset, case)
    for argv in (["validate", str(dataset), "--no-progress"], ["stats", str(dataset), "--no-progress"],
                 ["push", str(dataset), "--repo-id", "org/name", "--dry-run"]):
        one_error_line(capsys, main(argv), 2, "manifest.json", "damaged")
    code = generate(dataset, *input_args(inputs), *SMALL, "--image-format", "png", "--workers", "1")
    one_error_line(capsys, code, 2, "manifest.json", "--overwrite")


def test_damaged_manifest_is_replaced_with_overwrite(capsys, inputs, dataset):
    from tests.conftest import input_args

    damage(dataset, "not JSON")
    code = generate(dataset, *input_args(inputs), *SMALL, "--image-format", "png", "--workers", "1", "--overwrite", "--no-gallery")
    assert code == 0, capsys.readouterr().err
    assert json.loads((dataset / "manifest.json").read_text())["complete"] is True
    assert main(["validate", str(dataset), "--no-progress"]) == 0


def test_non_utf8_card_is_refused_by_push(capsys, dataset):
    (dataset / "README.md").write_bytes(b"---\nlicense: mit\n---\n\xff\xfe caf\xe9\n")
    one_error_line(capsys, main(["push", str(dataset), "--repo-id", "org/name", "--dry-run"]), 2, "README.md", "UTF-8")


def first_shard(out: Path) -> Path:
    return out / json.loads((out / "manifest.json").read_text())["shards"][0]["path"]


@pytest.mark.parametrize("command", ["stats", "gallery", "relabel-depth"])
def test_truncated_shard_is_one_line(capsys, dataset, tiny_teacher, command):
    shard = first_shard(dataset)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    extra = ["--depth-model", str(tiny_teacher), "--device", "cpu"] if command == "relabel-depth" else []
    one_error_line(capsys, main([command, str(dataset), "--no-progress", *extra]), 2, shard.name, "cannot read", "validate")


@pytest.mark.parametrize("case", ["a directory", "missing"])
def test_stats_on_a_shard_that_is_no_file_says_cannot_read(capsys, dataset, case):
    shard = first_shard(dataset)
    shard.unlink()
    if case == "a directory":
        shard.mkdir()
    line = one_error_line(capsys, main(["stats", str(dataset), "--no-progress"]), 2, shard.name, "cannot read")
    assert "cannot write" not in line


# --- 3. reads are not writes --------------------------------------------------------------------------


def test_input_folder_that_is_a_file_is_an_input_error(capsys, tmp_path, inputs):
    not_a_folder = tmp_path / "bg.txt"
    not_a_folder.write_text("not a folder")
    code = generate(tmp_path / "ds", "--backgrounds", str(not_a_folder), "--foregrounds", str(inputs["foregrounds"]), *NO_DEPTH)
    one_error_line(capsys, code, 2, "bg.txt")


def test_unreadable_input_folder_is_an_input_error(capsys, tmp_path, inputs):
    import os

    bg = tmp_path / "bg"
    shutil.copytree(inputs["backgrounds"], bg)
    bg.chmod(0)
    try:
        if os.access(bg, os.R_OK):
            pytest.skip("running as root: a mode-000 folder is still readable")
        code = generate(tmp_path / "ds", "--backgrounds", str(bg), "--foregrounds", str(inputs["foregrounds"]), *NO_DEPTH)
        line = one_error_line(capsys, code, 2, str(bg), "cannot read")
        assert "cannot write" not in line
    finally:
        bg.chmod(0o755)


def test_validate_lists_a_shard_with_a_corrupt_data_page(capsys, dataset):
    import pyarrow.parquet as pq

    shard = first_shard(dataset)
    data = bytearray(shard.read_bytes())
    group = pq.ParquetFile(shard).metadata.row_group(0)
    page = next(group.column(c).data_page_offset for c in range(group.num_columns) if group.column(c).path_in_schema == "image.bytes")
    data[page : page + 16] = b"\xff" * 16  # the image column's page header; same size, footer intact
    shard.write_bytes(bytes(data))
    code = main(["validate", str(dataset), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "error:" not in captured.err, captured.err
    assert shard.name in captured.out and "FAILED" in captured.out


# --- 4. validate: JPEG composites equal their background exactly outside the re-encoded MCUs ----------


def gradient_backgrounds(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        left, bottom = np.array([(70 * i) % 256, 255 - 40 * i, 30 + 50 * i]) % 256, np.array([255, (90 * i) % 256, 0])
        rgb = left * (1 - x[..., None]) + bottom * y[..., None] * 0.5 + 20 * i
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / f"grad_{i}.png")


def saturated_cutouts(folder: Path, count: int, size: int = 40) -> None:
    """Opaque ellipses of pure colours, hard-edged: the worst case for chroma subsampling."""
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:size, 0:size]
    alpha = np.where(((x - size / 2) / (size * 0.45)) ** 2 + ((y - size / 2) / (size * 0.3)) ** 2 < 1, 255, 0).astype(np.uint8)
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)][:count]):
        Image.fromarray(np.dstack([np.full((size, size, 3), colour, np.uint8), alpha]), "RGBA").save(folder / f"sat_{i}.png")


def gradient_dataset(root: Path, size: int) -> Path:
    gradient_backgrounds(root / "bg", 4, size)
    saturated_cutouts(root / "fg", 5)
    out = root / "ds"
    assert generate(out, "--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--bg-size", str(size),
                    "--fg-size", "40", "--placements", "5", "--depth", "none", "--placement", "uniform", "--workers", "1", "--no-progress", "--no-gallery") == 0
    return out


@pytest.mark.parametrize("size", [64, 96, 224])
def test_untouched_jpeg_datasets_of_saturated_cutouts_on_gradients_validate(capsys, tmp_path, size):
    out = gradient_dataset(tmp_path, size)
    capsys.readouterr()
    code = main(["validate", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().out


def test_the_one_pixel_upsampling_ring_is_exact_and_needed(tmp_path):
    """Decoded, a composite equals its background outside the mask's MCUs grown by one pixel, and not
    outside the MCUs alone: the ring validate uses is the smallest exact one."""
    import io

    import pyarrow.parquet as pq

    from generator.dataset.validate import _jpeg_spliced_region

    out = gradient_dataset(tmp_path, 96)
    outside_ring, outside_mcus = 0, 0
    for shard in sorted((out / "data").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            image, background, mask = (np.asarray(Image.open(io.BytesIO(row[k]["bytes"]))) for k in ("image", "background", "mask"))
            differs = (image != background).any(axis=2)
            x0, y0, x1, y1 = row["effect_bbox"]  # holds every pixel the blend reaches, past the mask too
            blended = mask > 0
            blended[y0:y1, x0:x1] = True
            region = _jpeg_spliced_region(blended)
            outside_ring += int(differs[~region].sum())
            mcus = np.zeros_like(region)
            mcus[y0 // 16 * 16 : -(-y1 // 16) * 16, x0 // 16 * 16 : -(-x1 // 16) * 16] = True
            outside_mcus += int(differs[~mcus].sum())
    assert outside_ring == 0 and outside_mcus > 0


def rewrite_row(out: Path, shard: Path, row: int, column: str, data: bytes) -> None:
    """Replace one cell's bytes, rewrite the shard and fix its size and sha256 in the manifest, so that only
    the pixel checks can see the change."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[row][column] = {**rows[row][column], "bytes": data}
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = next(s for s in manifest["shards"] if out / s["path"] == shard)
    entry.update(bytes=shard.stat().st_size, sha256=hashlib.sha256(shard.read_bytes()).hexdigest())
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_pixel_edited_far_from_the_cutout_fails_validate(capsys, tmp_path):
    import io

    import pyarrow.parquet as pq

    from generator.dataset.validate import _jpeg_spliced_region

    out = gradient_dataset(tmp_path, 96)
    shard = sorted((out / "data").glob("*.parquet"))[0]
    row = pq.read_table(shard).to_pylist()[0]
    image = np.array(Image.open(io.BytesIO(row["image"]["bytes"])))
    far = np.argwhere(~_jpeg_spliced_region(np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"])))))[0]
    image[tuple(far)] = 255 - image[tuple(far)]
    edited = io.BytesIO()
    Image.fromarray(image).save(edited, "PNG")  # lossless: this one pixel is all that differs
    rewrite_row(out, shard, 0, "image", edited.getvalue())
    capsys.readouterr()
    assert main(["validate", str(out), "--no-progress"]) == 1
    report = capsys.readouterr().out
    assert f"{shard.relative_to(out).as_posix()} row 0: composite outside mask" in report, report


# --- 6. push compares shards with the manifest by sha256 ----------------------------------------------


def test_push_refuses_a_same_size_corrupted_shard(capsys, dataset):
    shard = first_shard(dataset)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    one_error_line(capsys, main(["push", str(dataset), "--repo-id", "org/name", "--dry-run"]), 2, shard.name, "sha256", "validate")


# --- 5. one table of exit codes, in the README and in the CLI -----------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_exit_codes() -> dict[int, str]:
    """The README's exit-code table: {code: meaning}."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("### Exit codes"):].split("\n\n")[2]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {int(code): meaning.strip() for code, meaning in rows}


def test_readme_exit_code_table_is_the_one_the_cli_follows():
    codes = readme_exit_codes()
    assert sorted(codes) == [0, 1, 2, 130]
    assert codes[0].startswith("done") and "user mistake or a bad input" in codes[2] and "interrupted" in codes[130]
    assert "the output, the network or the system failed" in codes[1] and "`validate`" in codes[1] and "not valid" in codes[1]


def test_exit_codes_of_representative_cases(capsys, tmp_path, inputs, dataset, monkeypatch):
    assert main(["validate", str(dataset), "--no-progress"]) == 0
    capsys.readouterr()
    # 1: the output cannot be written (its parent is a file); the network fails; a dataset is not valid
    (tmp_path / "a-file").write_text("")
    code = generate(tmp_path / "a-file" / "ds", "--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]), *NO_DEPTH)
    one_error_line(capsys, code, 1, "a-file")
    import httpx

    def unreachable(*args, **kwargs):
        raise httpx.ConnectError("connection refused")  # what the Hub client raises after its retries

    monkeypatch.setattr("generator.dataset.push.plan_push", unreachable)
    one_error_line(capsys, main(["push", str(dataset), "--repo-id", "org/name", "--dry-run"]), 1, "cannot reach")
    shard = first_shard(dataset)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["validate", str(dataset), "--no-progress"]) == 1
    assert "FAILED" in capsys.readouterr().out
    # 2: a user mistake or a bad input
    one_error_line(capsys, generate(tmp_path / "new", "--backgrounds", str(tmp_path / "nowhere"), "--foregrounds", "x", *NO_DEPTH), 2, "nowhere")
    with pytest.raises(SystemExit) as exit:
        main(["generate", "--demo", "--out", str(tmp_path / "new"), "--depth", "sideways"])
    assert exit.value.code == 2


def test_interrupted_build_exits_130(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "ds"
    # 40,000 samples in shards of 100: the first shard comes soon after a short start-up, and the build is far
    # from its end when the signal comes.
    command = [sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", "10", "--num-foregrounds", "10",
               "--placements", "200", "--shard-size", "100", "--out", str(out), "--workers", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    # As in a terminal, where Ctrl-C is not ignored: a test runner started in the background of a script
    # inherits SIGINT ignored, and so would the build.
    process = subprocess.Popen(command, cwd=README.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("data/*.parquet")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # the 40,000-sample build must not run on after a failure
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
