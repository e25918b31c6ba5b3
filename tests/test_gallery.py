"""The gallery: pictures written by generate (unless --no-gallery), embedded in the card, redrawn the same."""

from __future__ import annotations

import shutil

from tests.conftest import SMALL, generate, input_args
from PIL import Image

from generator.cli import main

EXPECTED = ["01-backgrounds", "02-foregrounds", "03-composites", "04-masks", "05-depth", "06-samples",
            "07-mask-coverage", "08-depth-distribution"]


def test_generate_draws_the_gallery_and_the_card_embeds_it(small_dataset):
    pictures = sorted((small_dataset / "gallery").glob("*.png"))
    assert [p.stem for p in pictures] == EXPECTED
    card = (small_dataset / "README.md").read_text()
    for picture in pictures:
        with Image.open(picture) as image:
            assert image.format == "PNG" and image.width > 300
        assert f"(gallery/{picture.name})" in card
    assert "## Statistics" in card


def test_gallery_command_redraws_identical_pictures(small_dataset, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(small_dataset, out)
    shutil.rmtree(out / "gallery")
    assert main(["gallery", str(out)]) == 0
    for picture in (small_dataset / "gallery").glob("*.png"):
        assert (out / "gallery" / picture.name).read_bytes() == picture.read_bytes(), picture.name


def test_no_gallery_and_no_depth(inputs, tmp_path):
    out = tmp_path / "plain"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1", "--no-gallery") == 0
    assert not (out / "gallery").exists()
    out = tmp_path / "nodepth"
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1", "--depth", "none") == 0
    names = {p.stem for p in (out / "gallery").glob("*.png")}
    assert "05-depth" not in names and "06-samples" in names
    assert "depth" not in __import__("json").loads((out / "stats.json").read_text())["kinds"]


def test_depth_maps_of_very_different_ranges_each_get_their_own_colour_scale():
    import numpy as np

    from generator.dataset.gallery import depth_colouring

    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    near, far = 1 + 5 * ramp, 5 + 37 * ramp  # 1-6 m and 5-42 m
    _, colour, note = depth_colouring([near, far], "depth (m)")
    assert note
    import matplotlib

    ends = (np.asarray(matplotlib.colormaps["turbo"]([0.0, 1.0]))[:, :3] * 255).astype(np.uint8)
    for depth in (near, far):  # each map spans the whole colour map, from its first colour to its last
        tile = colour(depth)
        assert np.array_equal(tile[0, 0], ends[0]) and np.array_equal(tile[-1, -1], ends[1])
        assert len({tuple(p) for p in tile.reshape(-1, 3)}) > 200
    _, _, note = depth_colouring([near, 1.5 + 5 * ramp], "depth (m)")  # similar ranges: one shared scale
    assert not note
