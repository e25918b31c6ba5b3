"""The shortcuts the shard builder takes for speed give exactly what the plain computation gives."""

from __future__ import annotations

import io
import json
import pickle
import zlib

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from generator.pipeline.composite import (Cutout, amodal_masks, composite, mask_bbox, object_masks, placed_bbox, prepare_cutout,
                                         reach_box)
from generator.pipeline.cutouts import CutoutCache
from generator.pipeline.depth import ObjectDepth, SceneDepth
from generator.pipeline.depth_splice import BackgroundDepth, PlainDepth, SplicedDepth
from generator.pipeline.encode import encode_image, encode_jpeg, encode_png
from generator.pipeline.jpeg_splice import BackgroundJpeg, Box, Moments
from generator.pipeline.plan import Placement
from generator.pipeline.sources import Background
from generator.schema import ARROW_SCHEMAS, COLUMNS, FG_BG, features, yaml_features
from generator import threads
from generator.pipeline.demo import demo_backgrounds
from generator.pipeline.moments import IMAGE, MASK, DatasetStats, MaskMoments, decode, exact_moments
from generator.pipeline.table import column_array, rows_to_table


def _plain_feature(kind):
    import datasets

    if isinstance(kind, list):
        return datasets.List({name: _plain_feature(k) for name, k in kind[0].items()})
    if kind == "image":
        return datasets.Image()
    value, _, length = kind.partition("[")
    return datasets.Value(value) if not length else datasets.List(datasets.Value(value), length=int(length[:-1]))


@pytest.mark.parametrize("config", list(COLUMNS))
def test_the_schema_written_out_is_the_one_datasets_builds(config):
    """The Arrow schema (with the features in its metadata) and the card's feature lines, built here without
    `datasets`, are what datasets.Features of the same columns gives, byte for byte."""
    import datasets

    plain = datasets.Features({name: _plain_feature(kind) for name, kind in COLUMNS[config].items()})
    assert ARROW_SCHEMAS[config].equals(plain.arrow_schema, check_metadata=True)
    assert yaml_features(config) == plain._to_yaml_list()
    assert features(config) == plain


def test_rows_to_table_stores_image_bytes_with_no_path_and_none_as_null():
    columns = {name: [None, None] for name in COLUMNS[FG_BG]}
    columns.update(name=["a", "b"], bbox=[[0, 0, 1, 1]] * 2, image=[b"\x01\x02", b"\x03"], depth=[None, b"\x04"])
    rows = rows_to_table(FG_BG, columns).to_pylist()
    assert rows[0]["image"] == {"bytes": b"\x01\x02", "path": None} and rows[1]["image"] == {"bytes": b"\x03", "path": None}
    assert rows[0]["depth"] is None and rows[1]["depth"] == {"bytes": b"\x04", "path": None}


COLUMN_VALUES = {
    pa.string(): ["fg_bg_1_2_0_3", None, "", "ünïcode ✓"],
    pa.binary(): [b"\x89PNG\x00", None, b"", bytes(range(256)) * 40],
    pa.bool_(): [True, False, None, True, True, False, False, True, True],
    pa.int32(): [0, -7, None, 2**31 - 1, np.int32(12), np.int64(-3)],
    pa.float32(): [0.5, None, 1e-8, np.float32(3.25), np.float64(2.0000001), -7, float("inf")],
    pa.list_(pa.int32(), 4): [[0, 0, 1, 1], None, (3, 4, 5, 6), np.array([7, 8, 9, 10])],
    pa.list_(pa.float32(), 4): [[500.5, 500.25, 112.0, 112.0], None, None, [0.1, 0.2, 0.3, 0.4]],
}


@pytest.mark.parametrize("arrow_type", list(COLUMN_VALUES), ids=str)
def test_column_arrays_from_buffers_equal_pa_array(arrow_type):
    for values in (COLUMN_VALUES[arrow_type], [v for v in COLUMN_VALUES[arrow_type] if v is not None], []):
        built, plain = column_array(values, arrow_type), pa.array(values, arrow_type)
        built.validate(full=True)
        assert built.type == plain.type and built.null_count == plain.null_count
        assert built.equals(plain), (arrow_type, built, plain)
        if arrow_type in (pa.string(), pa.binary()):  # the shard's footer records the table's size
            assert built.nbytes == plain.nbytes
        if pa.types.is_fixed_size_list(arrow_type):  # the items under a null list are null too: same Parquet bytes
            assert built.values.equals(plain.values)


def test_every_schema_type_has_a_column_builder_and_tables_need_no_pandas():
    """Building a shard's table must not import pandas (pa.array does, at 0.2-0.35 s a process)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from generator.schema import ARROW_SCHEMAS, COLUMNS\n"
        "from generator.pipeline.table import rows_to_table\n"
        "for config in COLUMNS:\n"
        "    rows_to_table(config, {f.name: [None] for f in ARROW_SCHEMAS[config]}).validate(full=True)\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _cutout_rgba(rng: np.random.Generator) -> np.ndarray:
    rgba = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    rgba[:2, :, 3] = 0  # transparent rows, so the mask's box is smaller than the cut-out
    rgba[4, 3, 3] = 255
    return rgba


@pytest.mark.parametrize("soft", [False, True])
def test_batched_composite_equals_the_float_alpha_blend(soft):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rgba = _cutout_rgba(rng)
    cutout = Cutout.of(rgba, rgba[..., 3] if soft else None)
    places = [Placement(0, 0, 1.0, 7, 9), Placement(9, 7, 1.0, 7, 9), Placement(3, 5, 1.0, 7, 9)]
    images, masks = composite(background, [cutout] * len(places), places)
    a = rgba[..., 3:4] / 255.0
    for image, mask, place in zip(images, masks, places):
        box = np.s_[place.y : place.y + 9, place.x : place.x + 7]
        expected = background.astype(np.float64)
        expected[box] = rgba[..., :3] * a + background[box] * (1 - a)
        assert np.abs(image - expected).max() <= 0.5 + 1e-9
        outside = np.ones((16, 16), bool)
        outside[box] = False
        np.testing.assert_array_equal(image[outside], background[outside])
        expected_mask = np.zeros((16, 16), np.uint8)
        expected_mask[box] = rgba[..., 3] if soft else np.where(rgba[..., 3] >= 128, 255, 0)
        np.testing.assert_array_equal(mask, expected_mask)
        assert placed_bbox(cutout, place) == mask_bbox(mask)
        # Every pixel the blend changed lies in reach_box (alpha > 0 reaches past the mask's half).
        changed = (image != background).any(axis=2)
        blended = np.zeros((16, 16), bool)
        blended[box] = rgba[..., 3] > 0
        assert reach_box(cutout, place) == mask_bbox(blended)
        assert not (changed & ~blended).any()


def test_pils_paste_is_the_integer_blend_rounded_to_nearest_for_every_value():
    """Every (alpha, foreground, background) byte triple: the composite equals
    round((fg * a + bg * (255 - a)) / 255) computed in exact integers."""
    alpha, over, under = (v.astype(np.uint8).reshape(4096, 4096) for v in np.indices((256, 256, 256)))
    rgba = np.stack([over, over[::-1], over.T, alpha], axis=-1)
    below = np.stack([under, under.T, under[::-1]], axis=-1)
    a = alpha[..., None].astype(np.int32)
    want = (rgba[..., :3] * a + below * (255 - a) + 127) // 255
    [image], _ = composite(below, [Cutout.of(rgba)], [Placement(0, 0, 1.0, 4096, 4096)])
    np.testing.assert_array_equal(image, want)


@pytest.mark.parametrize("soft", [False, True])
def test_a_hidden_part_keeps_the_background_and_leaves_the_mask(soft):
    """Occlusion by the scene: the composite is the plain blend where visible and the background where
    hidden, the mask is the cut-out's mask where visible and 0 where hidden."""
    rng = np.random.default_rng(3)
    background = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rgba = _cutout_rgba(rng)
    cutout = Cutout.of(rgba, rgba[..., 3] if soft else None)
    place = Placement(4, 3, 1.0, 7, 9)
    hidden = rng.random((9, 7)) < 0.4
    [plain], [plain_mask] = composite(background, [cutout], [place])
    [image], [mask] = composite(background, [cutout], [place], [hidden])
    box = np.s_[3:12, 4:11]
    np.testing.assert_array_equal(image[box][hidden], background[box][hidden])
    np.testing.assert_array_equal(image[box][~hidden], plain[box][~hidden])
    np.testing.assert_array_equal(mask[box], np.where(hidden, 0, plain_mask[box]))
    outside = np.ones((16, 16), bool)
    outside[box] = False
    np.testing.assert_array_equal(image[outside], background[outside])
    np.testing.assert_array_equal(amodal_masks((16, 16), [cutout], [place])[0], plain_mask)
    # The object's visible pixels (its depth) and the box of what the blend reaches, against the plain way.
    solid = np.zeros((16, 16), np.uint8)
    solid[box] = np.where((rgba[..., 3] >= 128) & ~hidden, 255, 0)
    np.testing.assert_array_equal(object_masks((16, 16), [cutout], [place], [hidden])[0], solid)
    blended = np.zeros((16, 16), bool)
    blended[box] = (rgba[..., 3] > 0) & ~hidden
    assert reach_box(cutout, place, hidden) == mask_bbox(blended)


def test_the_cutout_cache_gives_what_prepare_cutout_gives():
    rng = np.random.default_rng(4)
    source = rng.integers(0, 256, (40, 24, 4), dtype=np.uint8)
    cache = CutoutCache(limit=2 * (20 * 12 * 4 + 400))  # room for two packed 12 x 20 cut-outs (noise packs to its size)
    for size, flipped, soft in [((12, 20), False, False), ((12, 20), True, False), ((7, 11), False, True), ((12, 20), False, False), ((10, 16), True, True), ((24, 40), True, False)] * 2:
        got, plain = cache.get(source, flipped, size, soft), Cutout.placed(source, flipped, size, soft)
        again = cache.get(source, flipped, size, soft)  # unpacked from the cache this time
        for cutout in (got, again):
            for field in ("rgba", "alpha", "solid", "mask"):
                np.testing.assert_array_equal(getattr(cutout, field), getattr(plain, field))
            assert cutout.bbox == plain.bbox and cutout.reach == plain.reach and cutout.mask_png == plain.mask_png
            assert not cutout.rgba.flags.writeable and not cutout.mask.flags.writeable  # shared between placements
        np.testing.assert_array_equal(cache.get(source, flipped, size, soft_mask=False).rgba, prepare_cutout(source, flipped, size))
        assert cache.bytes <= cache.limit
    assert len(cache) < 4  # of the four cut-outs asked for, the least recently used went
    cache.get(source, False, (12, 20), soft_mask=False)
    misses = cache.misses
    cache.get(source, False, (12, 20), soft_mask=False)
    assert cache.misses == misses  # a hit: nothing resized
    other = source.copy()  # same shape and values, another array: never mixed up
    cache.get(other, False, (12, 20), soft_mask=False)
    assert cache.misses == misses + 1


def test_jpeg_statistics_equal_those_of_the_decoded_image():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    data = encode_image(image, "jpeg", 90)
    fast, plain = DatasetStats(), DatasetStats()
    fast.add_jpeg(IMAGE, data, (48, 32))
    plain.kind(IMAGE).add(decode(data), (48, 32), len(data))  # the numpy moments, not the histogram
    assert vars(fast.kind(IMAGE)) == vars(plain.kind(IMAGE))


def test_mask_statistics_from_the_cutouts_box_equal_those_of_the_whole_mask():
    rng = np.random.default_rng(2)
    rgba = _cutout_rgba(rng)
    cutout = Cutout.of(rgba, rgba[..., 3])
    mask = np.zeros((20, 30), np.uint8)
    mask[5:14, 11:18] = cutout.mask
    boxed, whole = DatasetStats(), DatasetStats()
    boxed.add_mask(cutout.mask, 123, size=(30, 20))
    whole.add_mask(mask, 123)
    assert vars(boxed.kind(MASK)) == vars(whole.kind(MASK))
    np.testing.assert_array_equal(boxed.coverage, whole.coverage)


def test_mask_moments_taken_once_add_up_as_the_mask_does():
    mask = np.zeros((20, 30), np.uint8)
    mask[3:9, 4:20] = 255
    mask[9, 4] = 7
    once, each = DatasetStats(), DatasetStats()
    moments = MaskMoments.of(mask)
    for nbytes in (10, 20, 30):
        once.add_mask_moments(moments, nbytes, (30, 20))
        each.add_mask(mask, nbytes)
    assert vars(once.kind(MASK)) == vars(each.kind(MASK)) and moments.area == 6 * 16 + 1
    np.testing.assert_array_equal(once.coverage, each.coverage)


def test_ordered_map_keeps_order_and_raises_the_first_error(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    assert threads.ordered_map(lambda x: x * x, range(50), threads=4) == [x * x for x in range(50)]

    def fail_on_odd(x):
        if x % 2:
            raise ValueError(f"odd {x}")
        return x

    with pytest.raises(ValueError, match="odd 1"):
        threads.ordered_map(fail_on_odd, range(10), threads=4)


def test_demo_rooms_rendered_on_threads_equal_a_serial_rendering(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    parallel = demo_backgrounds(6, 48, seed=3, threads=4)
    for (rgb, depth), (rgb1, depth1) in zip(parallel, demo_backgrounds(6, 48, seed=3)):
        np.testing.assert_array_equal(rgb, rgb1)
        np.testing.assert_array_equal(depth, depth1)


def test_a_shard_takes_each_cutouts_mask_moments_once(monkeypatch):
    """Under the uniform rule, 20 placements of a (foreground, flip) share one cut-out: its mask is summed
    once, not 20 times."""
    from generator.pipeline import shard
    from generator.pipeline.rows import encoder
    from generator.pipeline.shard import make_context
    from generator.config import BuildOptions, DepthPlan
    from generator.pipeline.plan import plan_shards

    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=2, bg_size=64, placements=20, placement="uniform")
    context, _ = make_context(options, DepthPlan.of(options))
    calls = []
    original = MaskMoments.of
    monkeypatch.setattr(encoder.MaskMoments, "of", classmethod(lambda cls, mask: calls.append(1) or original(mask)))
    stats = DatasetStats()
    rows = sum(len(shard.build_rows(context, spec, stats)["name"]) for spec in plan_shards(context.grid, options))
    assert rows == 2 * 2 * 2 * 20 and stats.kind(MASK).count == rows
    assert len(calls) == 2 * 2 * 2  # one cut-out per (background, foreground, flip) group


def _spliced_cases(rng):
    """(background depth, ObjectDepth, visible) covering objects inside the background's range, beyond
    it, and over the pixels where the background reaches its minimum and its maximum."""
    rows, cols = np.mgrid[0:40, 0:48].astype(np.float32)
    background = (2.0 + 0.05 * rows + 0.01 * cols + rng.uniform(0, 0.02, (40, 48))).astype(np.float32)
    low_at, high_at = np.unravel_index(background.argmin(), background.shape), np.unravel_index(background.argmax(), background.shape)
    for case in range(60):
        height, width = rng.integers(1, 20), rng.integers(1, 20)
        if case % 3 == 0:  # over a minimum or a maximum pixel
            y, x = (low_at, high_at)[case % 2]
            y, x = int(min(max(y - height // 2, 0), 40 - height)), int(min(max(x - width // 2, 0), 48 - width))
        else:
            y, x = int(rng.integers(0, 40 - height + 1)), int(rng.integers(0, 48 - width + 1))
        span = (2.5, 3.5) if case % 5 else (0.5, 9.0)  # sometimes beyond the background's range
        depth = np.repeat(rng.uniform(*span, (height, 1)), width, axis=1).astype(np.float32)
        visible = rng.random((height, width)) < 0.7
        yield background, ObjectDepth(y, x, depth), visible


def test_spliced_depth_is_the_plain_quantised_map_its_png_and_its_moments():
    rng = np.random.default_rng(5)
    kinds = set()
    for background, standing, visible in _spliced_cases(rng):
        stored = BackgroundDepth(background).with_object(standing, visible)
        whole = background.copy()
        box = whole[standing.y : standing.y + visible.shape[0], standing.x : standing.x + visible.shape[1]]
        box[visible] = standing.depth[visible]
        plain = PlainDepth.of(whole)
        kinds.add(type(stored))
        np.testing.assert_array_equal(stored.quantized, plain.quantized)
        assert (stored.low, stored.high) == (plain.low, plain.high)
        assert stored.png() == encode_png(plain.quantized)
        assert stored.moments() == exact_moments(plain.quantized.reshape(-1, 1))
    assert kinds == {PlainDepth, SplicedDepth}  # both ways were taken


def test_scene_depth_of_standing_objects_equals_the_plain_composite_depth():
    rng = np.random.default_rng(6)
    background, standing, visible = next(_spliced_cases(rng))
    mask = np.zeros(background.shape, np.uint8)
    mask[standing.y : standing.y + visible.shape[0], standing.x : standing.x + visible.shape[1]] = visible * 255
    stage = SceneDepth([Background("room", np.zeros((*background.shape, 3), np.uint8), background)])
    (stored,) = stage(None, mask[None], np.array([0]), slice(0, 1), [standing])
    want = BackgroundDepth(background).with_object(standing, visible)
    np.testing.assert_array_equal(stored.quantized, want.quantized)
    assert pickle.loads(pickle.dumps(stage))._spliceable == {}  # workers build their own


@pytest.mark.parametrize("quality", [50, 90, 95])
def test_jpeg_from_the_encoder_directly_is_what_save_writes(quality):
    rng = np.random.default_rng(quality)
    for shape in [(16, 16, 3), (33, 65, 3), (224, 224, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality, restart_marker_blocks=1)
        assert encode_jpeg(image[:, :], quality) == buffer.getvalue()
    assert encode_jpeg(image[5:30, 7:40], quality) == encode_jpeg(image[5:30, 7:40].copy(), quality)  # a view


def test_background_moments_from_summed_areas_equal_a_crops_histogram():
    rng = np.random.default_rng(7)
    background = BackgroundJpeg(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), 90)
    decoded = Image.open(io.BytesIO(background.code.to_bytes()))
    for box in [Box(0, 48, 0, 64), Box(3, 17, 5, 40), Box(47, 48, 63, 64), Box(10, 10, 4, 9)]:
        crop = decoded.crop((box.left, box.top, box.right, box.bottom))
        want = Moments.of_histogram(crop.histogram()) if not box.empty else Moments(np.zeros(3), np.zeros(3))
        got = background.moments(box)
        np.testing.assert_array_equal(got.sums, want.sums)
        np.testing.assert_array_equal(got.squares, want.squares)


def test_one_label_map_is_encoded_from_its_box_as_the_whole_map_is():
    from generator.pipeline.encode import encode_label_png, encode_one_label_png

    rng = np.random.default_rng(0)
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        h, w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))  # boxes at every edge too
        seen = rng.random((h, w)) < rng.random()
        labels = np.zeros((height, width), np.uint16)
        labels[y : y + h, x : x + w][seen] = 1
        assert encode_one_label_png(seen, x, y, (height, width)) == encode_label_png(labels)


def test_a_label_map_decodes_to_itself_with_its_zero_rows_deflated_once():
    from generator.pipeline.encode import encode_label_png

    rng = np.random.default_rng(1)
    for case in range(300):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        labels = np.zeros((height, width), np.uint16)
        if case % 4:  # a band of labelled rows anywhere, the top and bottom rows included; else none
            y0, y1 = sorted(int(v) for v in rng.integers(0, height + 1, 2))
            values = rng.integers(1, 70_000 if case % 2 else 3, (y1 - y0, width))
            labels[y0:y1] = np.where(rng.random((y1 - y0, width)) < 0.5, values, 0).astype(np.uint16)
        png = encode_label_png(labels)
        idat = png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8]
        zlib.decompress(idat)  # checks the stream's Adler-32
        decoded = np.asarray(Image.open(io.BytesIO(png)))
        assert decoded.shape == labels.shape and np.array_equal(decoded.astype(np.int64), labels)


def _plain_object_columns(rendered, categories):
    """The per-object columns the plain way: a map of every labelled object, each record from its masks."""
    from generator.pipeline.encode import encode_label_png

    records, instances = [], np.zeros(rendered.image.shape[:2], np.uint16)
    for obj in (o for o in rendered.objects if o.placed.labelled):
        seen = obj.visible >= 128
        whole = obj.visible if obj.whole is None else obj.whole
        if not seen.any():
            continue
        instances[seen] = len(records) + 1
        x0, y0, x1, y1 = mask_bbox(whole)
        records.append({"id": len(records) + 1, "fg_id": obj.placed.fg_id, "bbox": mask_bbox(seen), "area": int(seen.sum()),
                        "visible_fraction": int(seen.sum()) / max(int((whole >= 128).sum()), 1),
                        "category": categories[obj.placed.fg_id], "amodal_bbox": [x0, y0, x1, y1],
                        "amodal": encode_png(whole[y0:y1, x0:x1]), "placement_rule": str(obj.placed.rule)})
    return records, encode_label_png(instances)


@pytest.mark.parametrize("args", [dict(), dict(soft_mask=True), dict(placement="uniform"), dict(objects="3"), dict(distractors=1)])
def test_the_object_columns_boxes_and_mask_moments_are_the_plain_ones(args):
    import itertools

    from generator.config import BuildOptions, DepthPlan
    from generator.pipeline.moments import MaskMoments
    from generator.pipeline.rows.encoder import _mask_moments, _union_masks
    from generator.pipeline.rows.objects import object_columns
    from generator.pipeline.shard import Group, make_context, render_group
    from generator.rules import DepthMode

    options = BuildOptions(demo=True, num_backgrounds=2, num_foregrounds=3, bg_size=96, placements=4, **args)
    context, _ = make_context(options, DepthPlan(DepthMode.SCENE))
    categories = [fg.category for fg in context.sources.foregrounds]
    hidden = 0
    for bg_id, fg_id, flipped in itertools.product(range(2), range(3), (False, True)):
        drawn = render_group(context, Group(bg_id, fg_id, flipped, np.arange(4)))[1]
        plain_moments = [MaskMoments.of(_union_masks([o for o in rendered.objects if o.placed.labelled])[0]) for rendered in drawn]
        taken = {}
        fast_moments = [_mask_moments(r, _union_masks([o for o in r.objects if o.placed.labelled])[0], taken) for r in drawn]
        assert fast_moments == plain_moments  # a mask's moments taken once per cut-out where nothing hides it
        for rendered in drawn:
            assert object_columns(rendered, categories) == _plain_object_columns(rendered, categories)
            assert all(obj.bbox == mask_bbox(obj.visible) for obj in rendered.objects)  # render's boxes, searched
            hidden += rendered.objects[0].whole is not None
    assert hidden > 0 or args.get("placement") == "uniform"  # hidden parts met on the floor


def test_the_progress_manifest_is_the_plain_manifest_byte_for_byte(tmp_path, monkeypatch):
    """Each time a shard is finished, the progress manifest (entries turned into text once, running totals)
    is the plain manifest (write_json of manifest_data) of the shards so far: placement counts and hidden objects included."""
    import dataclasses

    from generator.cli import main
    from generator.output import manifest as manifest_io
    from generator.output.folder import write_json
    from generator.schema import MANIFEST

    written, shards = [], []
    plain_write = manifest_io.ProgressManifest.write

    def write_and_compare(self, added):
        # Every other shard said to hide an object: a record of them is written only where there are any.
        added = [dataclasses.replace(record, hidden_objects=len(shards) % 2) for record in added]
        plain_write(self, added)
        shards.extend(added)
        options, sources, depth_info, splits, _, card, geometry, teacher_run = self._context
        plain = manifest_io.manifest_data(options, sources, depth_info, splits, shards, complete=False, card=card,
                                          geometry=geometry, teacher_run=teacher_run)
        write_json(tmp_path / MANIFEST, plain)
        assert (self.out / MANIFEST).read_bytes() == (tmp_path / MANIFEST).read_bytes()
        written.append(len(shards))

    monkeypatch.setattr(manifest_io.ProgressManifest, "write", write_and_compare)
    main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "96", "--placements", "4",
          "--shard-size", "8", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(tmp_path / "out")])
    assert written[0] == 0 and written[-1] == len(manifest_io.read_manifest(tmp_path / "out")["shards"]) > 5
    progress = json.loads((tmp_path / MANIFEST).read_text())
    assert progress["hidden_objects"] > 0 and progress["placements"]["rules"] and not progress["complete"]


def test_upright_planes_give_upright_plane_depth_bit_for_bit():
    """The floor's UprightPlanes (terms computed once, sliced per box, grown as boxes reach further) against
    upright_plane_depth, on pitched and rolled cameras, boxes anywhere, contacts in front and behind."""
    from generator.pipeline.geometry import Intrinsics
    from generator.pipeline.upright import UprightPlanes, upright_plane_depth

    rng = np.random.default_rng(5)
    for case in range(12):
        size = int(rng.integers(40, 300))
        intrinsics = Intrinsics.from_fov(size, size, float(rng.uniform(40, 90)))
        pitch, roll = np.radians(rng.uniform(-40, 5)), np.radians(rng.uniform(-15, 15))
        normal = np.array([np.sin(roll), np.cos(roll) * np.cos(pitch), np.cos(roll) * np.sin(pitch)])
        plane = np.append(normal, -rng.uniform(0.5, 2.0))
        planes = UprightPlanes(plane, intrinsics)
        for _ in range(20):
            height, width = (int(v) for v in rng.integers(1, size // 2, 2))
            y, x = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
            contact = tuple(float(v) for v in rng.uniform(-3, 3, 3))
            plain = upright_plane_depth(np.asarray(contact), plane, intrinsics, np.arange(y, y + height), np.arange(x, x + width))
            fast = planes.box_depth(contact, y, x, height, width)
            assert fast.dtype == plain.dtype and np.array_equal(fast, plain, equal_nan=True), (case, y, x, height, width)
