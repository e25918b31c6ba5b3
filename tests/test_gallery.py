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
    assert generate(out, *input_args(inputs), *SMALL, "--workers", "1", "--depth", "none", "--placement", "uniform") == 0
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
    from generator.dataset.drawing import TURBO

    ends = TURBO[[0, -1]]
    for depth in (near, far):  # each map spans the whole colour map, from its first colour to its last
        tile = colour(depth)
        assert np.array_equal(tile[0, 0], ends[0]) and np.array_equal(tile[-1, -1], ends[1])
        assert len({tuple(p) for p in tile.reshape(-1, 3)}) > 200
    _, _, note = depth_colouring([near, 1.5 + 5 * ramp], "depth (m)")  # similar ranges: one shared scale
    assert not note


def test_the_colour_map_is_matplotlibs_turbo():
    import matplotlib
    import numpy as np

    from generator.dataset.drawing import TURBO, turbo

    reference = matplotlib.colormaps["turbo"]
    assert np.array_equal(TURBO, (np.asarray(reference(np.arange(256)))[:, :3] * 255).astype(np.uint8))
    values = np.linspace(-0.1, 1.1, 1001)  # the ends clip, as matplotlib's do
    assert np.array_equal(turbo(values, 0.0, 1.0), (np.asarray(reference(np.clip(values, 0, 1)))[:, :3] * 255).astype(np.uint8))


def test_small_builds_import_neither_matplotlib_nor_pandas_nor_arrow_compute(tmp_path):
    """Each is a large part of a small build (0.4, 0.35 and 0.09 s to import)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from generator.cli import main\n"
        f"assert main(['generate', '--demo', '--num-backgrounds', '1', '--num-foregrounds', '1', '--placements', '1', '--no-flip', '--no-progress', '--out', {str(tmp_path / 'ds')!r}]) == 0\n"
        "heavy = {'matplotlib', 'pandas', 'pyarrow.compute'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "ds" / "gallery" / "06-samples.png").is_file()


def test_float_columns_are_read_from_their_buffers_as_pyarrow_reads_them():
    import numpy as np
    import pyarrow as pa

    from generator.dataset.gallery import _float32s

    column = pa.chunked_array([pa.array([1.5, None, 3.0], pa.float32()), pa.array([None, 4.0, None, 5.0, 6.0], pa.float32()).slice(1, 3),
                               pa.array([7.0, 8.0], pa.float32()).slice(1)])
    assert np.array_equal(_float32s(column), column.drop_null().to_numpy())
    assert _float32s(pa.chunked_array([], pa.float32())).size == 0


def test_ticks_are_round_numbers_covering_the_range():
    from generator.dataset.drawing import nice_ticks, percent_text, tick_text

    assert nice_ticks(0.0, 1.0, 5) == ([0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0], 0.2)
    ticks, step = nice_ticks(1.3, 8.7, 6)
    assert step == 2.0 and ticks == [2.0, 4.0, 6.0, 8.0]
    ticks, step = nice_ticks(0.0, 36.75, 5)
    assert step == 10.0 and ticks[-1] == 30.0
    assert nice_ticks(3.0, 3.0, 5) == ([3.0], 1.0)
    assert tick_text(12000.0, 5000.0) == "12,000" and tick_text(0.25, 0.25) == "0.25" and tick_text(0.4, 0.2) == "0.4"
    assert percent_text(0.05, 0.05) == "5%"


def test_plots_and_sheets_draw_degenerate_inputs():
    """A flat depth (every value equal) gives a density of NaN, and a colour bar of one value: drawn, not raised."""
    import numpy as np

    from generator.dataset.drawing import ColourBar, Panel, Steps, mosaic, plot

    with np.errstate(all="ignore"):
        counts, edges = np.histogram(np.full(10, 2.0), bins=np.linspace(2.0, 2.0, 61), density=True)
    picture = plot([Panel("flat", "depth (m)", "density", [Steps(counts, edges, "flat")], legend=True)])
    assert picture.size[0] > 300
    tile = np.zeros((8, 8, 3), np.uint8)
    sheet = mosaic([tile], ["a label longer than its tile, cut short"], "title", 1, colour_bar=ColourBar(2.0, 2.0, "m"))
    assert sheet.width > 160


def test_the_edges_and_light_sheet_shows_each_case_enlarged():
    from generator.config import BuildOptions
    from generator.dataset.gallery_effects import CASES, TILE, effects_sheet

    drawn = {}

    def capture(tiles, labels, title, columns):
        drawn.update(tiles=tiles, labels=labels)
        return "figure"

    # At --bg-size 96 the objects are 10-40 px tall: each crop is enlarged to within a factor of 2 of TILE.
    build = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=3, bg_size=96, blend="gaussian", shadow=True)
    assert effects_sheet(build, capture) == "figure"
    assert len(drawn["tiles"]) % (len(CASES) + 1) == 0
    assert all(TILE // 2 < max(tile.shape[:2]) <= TILE for tile in drawn["tiles"])
