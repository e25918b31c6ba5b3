"""Edges and light (blend.py, light.py, matting.py, scene/compose.py, render/): each blend mode, halo-free cut-outs,
the shadow's place and box, harmonisation, the background jitter, and whole builds with effects on."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from generator.config import BuildOptions
from generator.dataset.validate import validate
from generator.pipeline.blend import BLENDS, Blend, harmonic_fill, mix_modes
from generator.pipeline.composite import Cutout, composite, mask_bbox, reach_box
from generator.pipeline.render import render
from generator.pipeline.render.boxes import union_box
from generator.pipeline.scene import PlacedObject, Scene
from generator.pipeline.scene.compose import Effects, SampleKey, edge_mode, object_effects
from generator.rules import FIRST_MIX_MODES, BlendMode, PlacementRule
from generator.pipeline.filters import box_blur
from generator.pipeline.light import contact_shadow, harmonized, jittered
from generator.pipeline.matting import decontaminate
from generator.pipeline.plan import Placement
from generator.pipeline.sources import Background, load_sources
from generator.pipeline.placement import attach_floors, floor_placements
from tests.conftest import generate

EFFECTS_DEMO = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "3", "--placements", "4", "--bg-size", "96",
                "--shard-size", "30", "--no-progress", "--no-gallery"]


def _disc(size: int = 40, colour=(200, 60, 50), screen=(0, 255, 0), under_transparent=None) -> tuple[np.ndarray, np.ndarray]:
    """(cut-out matted from a screen: edges = a F + (1 - a) screen, its true colour F)."""
    yy, xx = np.mgrid[:size, :size]
    a = np.clip((size * 0.4 - np.hypot(yy - size / 2, xx - size / 2)) / 5, 0, 1)[..., None]
    true = np.empty((size, size, 3))
    true[:] = colour
    image = a * true + (1 - a) * np.asarray(screen, float)
    if under_transparent is not None:
        image[a[..., 0] == 0] = under_transparent
    return np.dstack([np.rint(image), np.rint(a[..., 0] * 255)]).astype(np.uint8), true


def _scene(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 180, size)
    background = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1) + rng.normal(0, 4, (size, size, 3))
    return np.clip(background, 0, 255).astype(np.uint8)


BLEND_MODES = tuple(FIRST_MIX_MODES)


def _rendered(background: Background, placed: list[np.ndarray], places: list[Placement], effects: Effects):
    """(composites, visible masks, changed boxes, edge modes): each cut-out drawn alone on `background`."""
    images, masks, boxes, modes = [], [], [], []
    for k, (rgba, place) in enumerate(zip(placed, places)):
        drawn = object_effects(effects, SampleKey(0, 0, 0, False, k), background, place)
        scene = Scene(0, background, (PlacedObject(Cutout.of(rgba), place, PlacementRule.FLOOR, None, drawn),), k)
        rendered = render(scene)
        images.append(rendered.image)
        masks.append(rendered.objects[0].visible)
        boxes.append(rendered.changed)
        modes.append(drawn.blend)
    return np.stack(images), np.stack(masks), boxes, modes


def _effects_composite(blend: str, background: np.ndarray, rgba: np.ndarray, place: Placement):
    return _rendered(Background("b", background, None), [rgba], [place], Effects(BlendMode(blend)))


# --- filters and the Poisson solve against the plain way -------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 3, 6])
def test_box_blur_equals_a_plain_window_mean(radius):
    values = np.random.default_rng(radius).uniform(0, 1, (13, 11, 2)).astype(np.float32)
    padded = np.pad(values, ((radius, radius), (radius, radius), (0, 0)))
    k = 2 * radius + 1
    plain = np.array([[padded[i : i + k, j : j + k].mean(axis=(0, 1)) for j in range(11)] for i in range(13)])
    np.testing.assert_allclose(box_blur(values, radius), plain, atol=1e-5)


def test_harmonic_fill_equals_plain_gauss_seidel():
    values = np.random.default_rng(1).uniform(0, 1, (9, 12, 2))
    plain = values.copy()
    plain[1:-1, 1:-1] = plain[1:-1, 1:-1].mean()
    for _ in range(3000):
        for i in range(1, 8):
            for j in range(1, 11):
                plain[i, j] = (plain[i - 1, j] + plain[i + 1, j] + plain[i, j - 1] + plain[i, j + 1]) / 4
    np.testing.assert_allclose(harmonic_fill(values.astype(np.float32)), plain, atol=1e-4)


# --- blend modes ---------------------------------------------------------------------------------------------


def test_alpha_mode_equals_the_plain_composite():
    background, (rgba, _) = _scene(), _disc(24)
    place = Placement(20, 18, 1.0, 24, 24)
    images, masks, boxes, modes = _effects_composite("alpha", background, rgba, place)
    plain_images, plain_masks = composite(background, [Cutout.of(rgba)], [place])
    np.testing.assert_array_equal(images, plain_images)
    np.testing.assert_array_equal(masks, plain_masks)
    # The box holds every pixel the blend may change, which reaches past the mask (alpha below one half).
    assert boxes == [reach_box(Cutout.of(rgba), place)] and modes == ["alpha"]
    assert boxes[0] == union_box(mask_bbox((images[0] != background).any(axis=2)), boxes[0])


@pytest.mark.parametrize("mode", BLEND_MODES)
def test_each_blend_mode_keeps_the_mask_and_changes_nothing_outside_its_box(mode):
    background, (rgba, _) = _scene(), _disc(24)
    place = Placement(20, 18, 1.0, 24, 24)
    images, masks, boxes, _ = _effects_composite(mode, background, rgba, place)
    plain_mask = composite(background, [Cutout.of(rgba)], [place])[1][0]
    np.testing.assert_array_equal(masks[0], plain_mask)  # the stored mask is the object's, whatever the edge
    x0, y0, x1, y1 = boxes[0]
    outside = np.ones(masks[0].shape, bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(images[0][outside], background[outside])
    differs = (images[0] != background).any(axis=2)
    # The smallest such box, with every pixel the cut-out's alpha reaches (they may keep their byte).
    assert boxes[0] == union_box(mask_bbox(differs | (plain_mask > 0)), reach_box(Cutout.of(rgba), place))
    blended = np.zeros(differs.shape, bool)
    blended[place.y : place.y + place.h, place.x : place.x + place.w] = rgba[..., 3] > 0
    spills = (differs & ~blended).any()
    assert spills == (mode in ("gaussian", "box", "motion")), mode  # poisson and alpha stay where alpha > 0


def test_softened_edges_are_softer_than_the_alpha_edge():
    background, (rgba, _) = np.zeros((64, 64, 3), np.uint8), _disc(24, colour=(255, 255, 255))
    place = Placement(20, 18, 1.0, 24, 24)
    sharp = _effects_composite("alpha", background, rgba, place)[0][0, ..., 0].astype(float)
    for mode in ("gaussian", "box", "motion"):
        soft = _effects_composite(mode, background, rgba, place)[0][0, ..., 0].astype(float)
        assert np.abs(np.diff(soft, axis=1)).max() < np.abs(np.diff(sharp, axis=1)).max(), mode


def test_poisson_moves_the_object_towards_the_background_at_its_border():
    background = np.full((64, 64, 3), 40, np.uint8)
    rgba, _ = _disc(24, colour=(220, 220, 220), screen=(220, 220, 220))
    place = Placement(20, 18, 1.0, 24, 24)
    plain = _effects_composite("alpha", background, rgba, place)[0][0]
    poisson = _effects_composite("poisson", background, rgba, place)[0][0]
    edge = (rgba[..., 3] > 200) & (rgba[..., 3] < 255) | (rgba[..., 3] == 255)
    inside = np.s_[18:42, 20:44]
    assert poisson[inside][edge].mean() < plain[inside][edge].mean() - 20


def test_mix_picks_every_mode_as_a_pure_function_of_seed_and_ids():
    mix = Effects(BlendMode.MIX, mix_modes=mix_modes())
    picks = [edge_mode(mix, SampleKey(0, 1, 2, True, k).rng()) for k in range(60)]
    assert set(picks) == set(BLEND_MODES)
    assert picks == [edge_mode(mix, SampleKey(0, 1, 2, True, k).rng()) for k in range(60)]
    assert picks != [edge_mode(mix, SampleKey(1, 1, 2, True, k).rng()) for k in range(60)]


def test_a_registered_new_mode_leaves_the_draw_of_a_recorded_mix_list_unchanged(monkeypatch):
    recorded = Effects(BlendMode.MIX, mix_modes=mix_modes())
    before = [edge_mode(recorded, SampleKey(0, 1, 2, True, k).rng()) for k in range(60)]
    monkeypatch.setitem(BLENDS, "new-mode", Blend(BLENDS[BlendMode.ALPHA].layer))
    assert "new-mode" in mix_modes()  # a new dataset would draw it ...
    assert [edge_mode(recorded, SampleKey(0, 1, 2, True, k).rng()) for k in range(60)] == before  # ... an old one never
    fresh = Effects(BlendMode.MIX, mix_modes=mix_modes())
    assert "new-mode" in {edge_mode(fresh, SampleKey(0, 1, 2, True, k).rng()) for k in range(60)}


def test_mix_modes_are_recorded_and_a_manifest_without_them_draws_from_the_first_list():
    options = BuildOptions(demo=True, blend="mix", mix_modes=mix_modes())
    assert options.recorded()["mix_modes"] == [str(m) for m in mix_modes()]
    assert "mix_modes" not in BuildOptions(demo=True).recorded()
    old = {k: v for k, v in options.recorded().items() if k != "mix_modes"}
    assert BuildOptions.from_dict(old).mix_modes == FIRST_MIX_MODES
    assert BuildOptions.from_dict(options.recorded()) == options


# --- halo-free cut-outs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("under", [None, (0, 0, 0)], ids=["screen-under-transparent", "black-under-transparent"])
def test_decontamination_removes_the_green_screen_halo(under):
    rgba, true = _disc(48, under_transparent=under)
    background = np.full((64, 64, 3), 128, np.uint8)
    place = Placement(8, 8, 1.0, 48, 48)
    edge = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)

    def green_excess(cutout: np.ndarray) -> float:
        image = composite(background, [Cutout.of(cutout)], [place])[0][0, 8:56, 8:56].astype(float)
        return float((image[..., 1] - (image[..., 0] + image[..., 2]) / 2)[edge].mean())

    clean = np.dstack([np.rint(true), rgba[..., 3]]).astype(np.uint8)
    halo = green_excess(rgba) - green_excess(clean)
    left = green_excess(decontaminate(rgba)) - green_excess(clean)
    assert halo > 20 and abs(left) < 0.25 * halo, (halo, left)
    np.testing.assert_array_equal(decontaminate(rgba)[..., 3], rgba[..., 3])
    opaque = rgba[..., 3] == 255
    np.testing.assert_array_equal(decontaminate(rgba)[opaque], rgba[opaque])


def test_decontamination_leaves_clean_cut_outs_as_they_are():
    rgba, true = _disc(48)
    clean = np.dstack([np.rint(true) * (rgba[..., 3:] > 0), rgba[..., 3]]).astype(np.uint8)
    visible = clean[..., 3] > 0
    assert np.abs(decontaminate(clean)[visible].astype(int) - clean[visible]).max() <= 2


# --- shadow and harmonisation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_floor():
    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=2, bg_size=96)
    sources = load_sources(options)
    attach_floors(sources.backgrounds, 0)
    background = next(b for b in sources.backgrounds if b.floor is not None)
    foreground = sources.foregrounds[0]
    places = floor_placements(background.floor, 96, foreground.source.shape[:2], foreground.height_m, 4, 48, 0.0, 0, 0, 0, False)
    return background, foreground, places


def test_the_shadow_lies_on_the_floor_under_the_contact_point(demo_floor):
    background, _, places = demo_floor
    for place in places:
        rows, cols, shade = contact_shadow(background.depth, background.floor, place)
        row, col = place.y + place.h - 1, place.x + place.w // 2  # the contact pixel
        assert rows.start <= row < rows.stop and cols.start <= col < cols.stop
        darkest = np.unravel_index(np.argmax(shade), shade.shape)
        # Darkest under the footprint: at or above (behind) the contact pixel, by at most half the width.
        assert 0 <= row - (darkest[0] + rows.start) <= place.w / 2 + 1 and abs(darkest[1] + cols.start - col) <= 2
        assert shade.max() > 0.8 and shade[0].max() < 0.2  # soft, fading out
        assert shade[-1].max() < 0.2 or rows.stop == background.depth.shape[0]  # unless the picture ends
        assert cols.stop - cols.start <= 2 * 1.25 * place.w + 2  # as wide as the object, not more


def test_shadow_darkens_only_inside_the_effect_box(demo_floor):
    background, foreground, places = demo_floor
    from generator.pipeline.composite import prepare_cutout

    placed = [prepare_cutout(foreground.source, False, (p.w, p.h)) for p in places]
    images, masks, boxes, _ = _rendered(background, placed, places, Effects(BlendMode.ALPHA, shadow=True))
    for image, mask, box, rgba, place in zip(images, masks, boxes, placed, places):
        blended = np.zeros(mask.shape, bool)  # every pixel the cut-out's alpha reaches, below the mask's half too
        blended[place.y : place.y + place.h, place.x : place.x + place.w] = rgba[..., 3] > 0
        darker = (image.astype(int) < background.rgb).any(axis=2) & ~blended
        assert darker.sum() > 10  # the shadow shows outside the object
        x0, y0, x1, y1 = box
        outside = np.ones(mask.shape, bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(image[outside], background.rgb[outside])
        assert not (image.astype(int) > background.rgb)[~blended].any()  # a shadow only darkens


def test_harmonisation_moves_the_object_partway_to_the_scene():
    background = np.full((64, 64, 3), (60, 70, 200), np.uint8)  # a dim blue room
    rgba, _ = _disc(24, colour=(230, 220, 40), screen=(230, 220, 40))
    place = Placement(20, 18, 1.0, 24, 24)
    moved = harmonized(rgba[..., :3], rgba[..., 3], background, place).astype(float)
    solid = rgba[..., 3] == 255
    before, after, scene = rgba[..., :3][solid].mean(0), moved[solid].mean(0), background[0, 0].astype(float)
    assert np.all(np.abs(after - scene) < np.abs(before - scene))  # closer to the scene in every channel
    assert np.all(np.abs(after - before) < np.abs(scene - before))  # but only partway


# --- background jitter --------------------------------------------------------------------------------------


def test_jitter_is_seeded_small_and_never_the_background_itself():
    rgb = _scene(3, 48)
    first, again = jittered(rgb, np.random.default_rng([0, 1])), jittered(rgb, np.random.default_rng([0, 1]))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, jittered(rgb, np.random.default_rng([0, 2])))
    assert (first != rgb).mean() > 0.5 and np.abs(first.astype(int) - rgb).mean() < 12


def _rows(out):
    return [r for path in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(path).to_pylist()]


def _hashes(out):
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def test_background_jitter_builds_deterministically(tmp_path):
    for name in ("a", "b"):
        assert generate(tmp_path / name, *EFFECTS_DEMO, "--background-jitter", "--workers", "1" if name == "a" else "2") == 0
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert validate(tmp_path / "a", progress=False).ok
    rows = _rows(tmp_path / "a")
    backgrounds = {r["background"]["bytes"] for r in rows}
    assert len(backgrounds) > len({r["bg_id"] for r in rows})  # one per background and row group


# --- whole builds ---------------------------------------------------------------------------------------------


def test_mix_shadow_harmonize_build_is_valid_and_equal_to_the_background_outside_effect_bbox(tmp_path):
    args = [*EFFECTS_DEMO, "--blend", "mix", "--shadow", "--harmonize"]
    assert generate(tmp_path / "png", *args, "--image-format", "png", "--workers", "1") == 0
    assert generate(tmp_path / "png2", *args, "--image-format", "png", "--workers", "2") == 0
    assert _hashes(tmp_path / "png") == _hashes(tmp_path / "png2")
    assert generate(tmp_path / "jpeg", *args) == 0
    for out in ("png", "jpeg"):
        report = validate(tmp_path / out, progress=False)
        assert report.ok, report.text()
    rows = _rows(tmp_path / "png")
    assert {r["blend"] for r in rows} == set(BLEND_MODES)
    spilled = 0
    for r in rows:
        image = np.asarray(Image.open(io.BytesIO(r["image"]["bytes"])))
        background = np.asarray(Image.open(io.BytesIO(r["background"]["bytes"])))
        x0, y0, x1, y1 = r["effect_bbox"]
        outside = np.ones(image.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(image[outside], background[outside])
        spilled += r["effect_bbox"] != r["bbox"]
    assert spilled > len(rows) // 2  # shadows and soft edges do spill
    manifest = json.loads((tmp_path / "png" / "manifest.json").read_text())
    assert manifest["options"]["blend"] == "mix" and manifest["options"]["shadow"] and manifest["options"]["harmonize"]


def test_every_entry_point_decides_the_mix_list_once():
    """The CLI, the `datasets` builder and the benchmarks start a `--blend mix` build with the registered
    modes recorded; a build's recorded list and the other blends are left as they are."""
    from generator.pipeline.blend import mix_modes, with_mix_modes

    assert with_mix_modes(BuildOptions(demo=True, blend="mix")).mix_modes == mix_modes()
    recorded = BuildOptions(demo=True, blend="mix", mix_modes=("alpha", "box"))
    assert with_mix_modes(recorded) is recorded
    assert with_mix_modes(BuildOptions(demo=True, blend="gaussian")).mix_modes is None
