"""`mono-depth-mask validate OUT`: check a built dataset against its manifest and the data contract.

Files: every listed shard exists with its row count and sha256, no unlisted shard lies beside them. Rows:
images decode with the expected size and mode, masks are binary (unless --soft-mask) and non-empty, the
bbox is the mask's, `amodal_mask` is the foregrounds config's cut-out placed by the row (silhouette_rule.py), the
composite equals its background exactly outside the mask and effect_bbox (PNG) or outside the
JPEG MCUs re-encoded for the cut-out (JPEG, with compression noise bounded in them), a jittered background
(--background-jitter) is the seeded jitter of the clean one, ids are in range, names are unique and follow schema.sample_name, and the splits keep apart
what --split-by says.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from ..progress import tqdm

from ..pipeline.composite import mask_bbox
from .coco import annotation_problems
from .depth_known_check import check_depth_known
from .instances_check import check_instances
from .placement_check import check_placement_rules
from .silhouette_rule import SilhouetteRule
from ..pipeline.light import jittered
from ..pipeline.rows.background import background_jitter_rng
from ..rules import DepthMode
from ..output.manifest import load_manifest
from ..output.model import DatasetRules, ShardRecord
from ..output.reader import read_shard, shard_problem, shard_rows, unlisted_files
from ..schema import BACKGROUNDS, FG_BG, FOREGROUNDS, ROW_GROUP_SIZE, sample_name

# A JPEG composite is its background's JPEG with the 16 x 16 MCUs (4:2:0) of the mask's box re-encoded, each
# MCU coded alone (a restart marker after each, jpeg_splice.py). Decoded, it equals the background exactly
# except in those MCUs and a ring of one pixel, where chroma upsampling blends in the next MCU's chroma
# (tests/test_reliability_inputs.py shows one pixel is exact and none is not). In that region, outside the
# mask, only compression noise may differ: at most ~9 on average on saturated cut-outs over smooth
# gradients, far below what a misplaced or foreign image gives.
JPEG_MCU = 16
JPEG_UPSAMPLING_RING = 1
JPEG_REGION_MEAN_ABS_DIFF = 24.0
MAX_REPORTED = 20  # failures listed per check; the rest are counted


@dataclass
class Failure:
    file: str
    row: int | None
    check: str
    detail: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        return f"{where}: {self.check}: {self.detail}"


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    rows: int = 0
    samples: int = 0  # fg_bg rows; the backgrounds and foregrounds configs' rows are inputs, not samples
    files: int = 0

    def fail(self, file: str, row: int | None, check: str, detail: str) -> None:
        self.failures.append(Failure(file, row, check, detail))

    @property
    def ok(self) -> bool:
        return not self.failures

    def text(self) -> str:
        if self.ok:
            return f"OK: {self.files} files, {self.samples:,} samples ({self.rows:,} rows with the inputs): manifest, images, masks, bboxes, composites, ids, names and splits all hold"
        by_check: dict[str, list[Failure]] = defaultdict(list)
        for failure in self.failures:
            by_check[failure.check].append(failure)
        lines = [f"FAILED: {len(self.failures)} problems in {len(by_check)} checks ({self.files} files, {self.samples:,} samples, {self.rows:,} rows read)"]
        for check, failures in by_check.items():
            lines += [f"  {f}" for f in failures[:MAX_REPORTED]]
            if len(failures) > MAX_REPORTED:
                lines.append(f"  ... and {len(failures) - MAX_REPORTED} more {check} failures")
        return "\n".join(lines)


def validate(out: Path, progress: bool = True) -> Report:
    out = Path(out)
    manifest = load_manifest(out)
    report = Report()
    present = _check_files(out, manifest, report)
    context = _Context(manifest, silhouettes=SilhouetteRule.read(out, manifest, present), out=out)
    shards = [s for s in manifest["shards"] if s["path"] in present]
    for shard in tqdm(shards, desc="validate", unit="shard", disable=not progress, dynamic_ncols=True):
        try:
            table = read_shard(out, shard["path"])
        except Exception as error:  # a damaged data page under a good footer: pyarrow raises several kinds
            report.fail(shard["path"], None, "unreadable", str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            continue
        report.files += 1
        report.rows += table.num_rows
        report.samples += table.num_rows if shard["config"] == FG_BG else 0
        {FG_BG: _check_fg_bg, BACKGROUNDS: _check_backgrounds, FOREGROUNDS: _check_foregrounds}[shard["config"]](
            shard, table, context, report)
    _check_splits(context, report)
    return report


# --- files --------------------------------------------------------------------------------------------


def _check_files(out: Path, manifest: dict, report: Report) -> set[str]:
    """Listed shards that exist with their row count (the others are not read), each checked to be the
    file the manifest lists (size and sha256); its rows are still read, to show what changed. Files under
    the configs' folders that it does not list are reported: load_dataset would read their rows."""
    good = set()
    for shard in manifest["shards"]:
        problem = shard_problem(out, ShardRecord.from_manifest(shard))
        check = {"missing": "missing", "size differs": "size", "sha256 differs": "sha256"}.get(problem, "unreadable")
        if problem is not None:
            report.fail(shard["path"], None, check, "listed in the manifest but not present" if check == "missing" else problem)
            if check in ("missing", "unreadable"):
                continue
        try:
            rows = shard_rows(out, shard["path"])
        except Exception as error:  # a damaged footer: pyarrow raises several kinds
            report.fail(shard["path"], None, "unreadable", str(error))
            continue
        if rows != shard["rows"]:
            report.fail(shard["path"], None, "rows", f"{rows} rows, the manifest says {shard['rows']}")
            continue
        good.add(shard["path"])
    for relative in unlisted_files(out, manifest):
        report.fail(relative, None, "unlisted", "a file the manifest does not list (load_dataset would read it as data)")
    for name, problem in (annotation_problems(out, manifest) if report.ok else []):  # read from whole shards only
        report.fail(f"annotations/{name}", None, "coco", problem)
    return good


# --- rows ---------------------------------------------------------------------------------------------


@dataclass
class _Context:
    manifest: dict
    names: dict[str, str] = field(default_factory=dict)  # name -> file it was first seen in
    ids: dict[str, dict[str, set]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))  # split -> key -> ids
    silhouettes: SilhouetteRule | None = None
    out: Path | None = None
    _clean: dict[int, np.ndarray] | None = None  # bg_id -> the background as composited, read once
    _jittered: dict[tuple, np.ndarray] = field(default_factory=dict)  # (shard, bg_id, row group) -> its copy

    @property
    def options(self) -> dict:
        return self.manifest["options"]

    @property
    def size(self) -> int:
        return self.options["bg_size"]

    @property
    def rules(self) -> DatasetRules:
        return DatasetRules.of(self.manifest)

    def clean_background(self, bg_id: int) -> np.ndarray | None:
        """A background as composites were made from it: the backgrounds config's image (None when that
        config cannot be read; its own checks report it)."""
        if self._clean is None:
            self._clean = {}
            for shard in self.manifest["shards"]:
                if shard["config"] == BACKGROUNDS:
                    try:
                        table = read_shard(self.out, shard["path"], ["bg_id", "image"])
                    except Exception:  # reported where the backgrounds config is checked
                        continue
                    for found, cell in zip(table.column("bg_id").to_pylist(), table.column("image").to_pylist()):
                        if found not in self._clean and cell and cell.get("bytes"):
                            with Image.open(io.BytesIO(cell["bytes"])) as image:
                                self._clean[found] = np.asarray(image.convert("RGB"))
        return self._clean.get(bg_id)

    def jittered(self, shard: dict, bg_id: int, row_group: int, clean: np.ndarray) -> np.ndarray:
        """The jittered copy of a clean background that the build drew for this shard and row group."""
        key = (shard["path"], bg_id, row_group)
        if key not in self._jittered:
            index = int(re.search(r"-(\d+)-of-\d+\.parquet$", shard["path"]).group(1))
            rng = background_jitter_rng(self.options["seed"], bg_id, shard["split"], index, row_group)
            self._jittered[key] = jittered(clean, rng)
        return self._jittered[key]


def _open(cell: dict | None, file: str, row: int, column: str, mode: str, size: tuple[int, int] | None, report: Report) -> np.ndarray | None:
    if cell is None or not cell.get("bytes"):
        report.fail(file, row, "decode", f"{column} is empty")
        return None
    try:
        with Image.open(io.BytesIO(cell["bytes"])) as image:
            image.load()
            if image.mode != mode:
                report.fail(file, row, "mode", f"{column} is {image.mode}, expected {mode}")
            if size is not None and image.size != size:
                report.fail(file, row, "size", f"{column} is {image.size[0]}x{image.size[1]}, expected {size[0]}x{size[1]}")
            return np.asarray(image)
    except Exception as error:  # PIL raises many kinds on damaged bytes
        report.fail(file, row, "decode", f"{column}: {error}")
        return None


def _check_fg_bg(shard: dict, table, context: _Context, report: Report) -> None:
    file, o = shard["path"], context.options
    size = (context.size, context.size)
    inputs = context.manifest["inputs"]
    split_ids = context.ids[shard["split"]]
    backgrounds: dict[bytes, np.ndarray | None] = {}  # the background repeats: decode it once
    rows = table.to_pylist()
    jitter_rows = _jitter_row_groups(rows) if o.get("background_jitter") else []
    several = o.get("objects", "1") != "1"  # masks are unions: the row's own object is one of them
    check_placement_rules(shard, rows, o, report)
    for row, r in enumerate(rows):
        image = _open(r["image"], file, row, "image", "RGB", size, report)
        mask = _open(r["mask"], file, row, "mask", "L", size, report)
        key = r["background"]["bytes"] if r["background"] else b""
        if key not in backgrounds:
            backgrounds[key] = _open(r["background"], file, row, "background", "RGB", size, report)
        background = backgrounds[key]
        if context.rules.depth == DepthMode.NONE:
            if r["depth"] is not None:
                report.fail(file, row, "depth", "present although the build has --depth none")
        else:
            _open(r["depth"], file, row, "depth", "I;16", size, report)
        check_depth_known(file, row, r, size, report)
        amodal = _open(r["amodal_mask"], file, row, "amodal_mask", "L", size, report)
        if mask is not None and amodal is not None and mask.shape == amodal.shape == size:
            _check_amodal(file, row, r, mask, amodal, several, report)
        if amodal is not None and amodal.shape == size and context.silhouettes is not None:
            _check_silhouette_rule(file, row, r, amodal, context.silhouettes, several, report)
        if mask is not None and mask.shape == size:
            _check_mask(file, row, r, mask, o["soft_mask"], amodal is not None and amodal.any(), report)
            check_instances(file, row, r, mask, report)
            effect = _effect_box(file, row, r, mask, report)
            if image is not None and background is not None and image.shape == background.shape == (*size, 3):
                if o.get("background_jitter"):
                    clean = context.clean_background(r["bg_id"])
                    if clean is not None:  # composites are made from the clean background: compare with it
                        _check_outside(file, row, image, clean, mask, o["image_format"], report, effect)
                        _check_jittered(file, row, background, context.jittered(shard, r["bg_id"], jitter_rows[row], clean), o["image_format"], report)
                else:
                    # The blend reaches past the mask (alpha below one half): effect_bbox holds all it changed.
                    _check_outside(file, row, image, background, mask, o["image_format"], report, effect)
        if not (0 <= r["bg_id"] < len(inputs["backgrounds"]) and 0 <= r["fg_id"] < len(inputs["foregrounds"])
                and 1 <= r["placement"] <= o["placements"] and (o["flip"] or not r["flipped"])):
            report.fail(file, row, "ids", f"bg_id {r['bg_id']}, fg_id {r['fg_id']}, placement {r['placement']}, flipped {r['flipped']} out of range")
        expected = sample_name(r["fg_id"], r["bg_id"], r["flipped"], r["placement"])
        if r["name"] != expected:
            report.fail(file, row, "name", f"{r['name']!r}, expected {expected!r}")
        if r["name"] in context.names:
            report.fail(file, row, "unique names", f"{r['name']!r} also in {context.names[r['name']]}")
        context.names.setdefault(r["name"], file)
        split_ids["background"].add(r["bg_id"])
        split_ids["foreground"].add(r["fg_id"])
        split_ids["sample"].add(r["name"])


def _check_mask(file: str, row: int, r: dict, mask: np.ndarray, soft: bool, silhouette: bool, report: Report) -> None:
    """`silhouette`: the row's whole (amodal) silhouette is there, so an empty mask means the scene hides
    all of the object."""
    if not soft and not ((mask == 0) | (mask == 255)).all():
        values = np.unique(mask[(mask != 0) & (mask != 255)])
        report.fail(file, row, "binary mask", f"values other than 0/255: {values[:5].tolist()}")
    if not mask.any():
        if not silhouette:
            report.fail(file, row, "mask area", "the mask is empty")
        elif r["bbox"] != [0, 0, 0, 0]:
            report.fail(file, row, "bbox", f"{r['bbox']} for an object hidden whole (must be [0, 0, 0, 0])")
    elif r["bbox"] != mask_bbox(mask):
        report.fail(file, row, "bbox", f"{r['bbox']}, the mask's is {mask_bbox(mask)}")


def _check_amodal(file: str, row: int, r: dict, mask: np.ndarray, amodal: np.ndarray, several: bool, report: Report) -> None:
    """The whole silhouette lies in the row's (x, y, w, h) box (unless it is several objects') and holds
    the visible mask, value for value."""
    x0, y0, x1, y1 = mask_bbox(amodal)
    if not amodal.any():
        report.fail(file, row, "amodal mask", "the whole silhouette is empty")
    elif several:
        pass
    elif x0 < r["x"] or y0 < r["y"] or x1 > r["x"] + r["w"] or y1 > r["y"] + r["h"]:
        report.fail(file, row, "amodal mask", f"box {[x0, y0, x1, y1]} outside the silhouette's x, y, w, h")
    visible = mask > 0
    if (mask[visible] != amodal[visible]).any():
        report.fail(file, row, "amodal mask", f"{int((mask[visible] != amodal[visible]).sum())} visible mask pixels not in the whole silhouette")


def _check_silhouette_rule(file: str, row: int, r: dict, amodal: np.ndarray, silhouettes: SilhouetteRule, several: bool, report: Report) -> None:
    """`amodal_mask` is, pixel for pixel, what the foregrounds config and the row's placement give (holds
    it, where the row shows several objects)."""
    differs = silhouettes.differences(r, amodal, several)
    if differs:
        report.fail(file, row, "amodal rule", f"{differs} pixels differ from the foregrounds config's cut-out placed by the row (x, y, w, h, flipped)")


def _effect_box(file: str, row: int, r: dict, mask: np.ndarray, report: Report) -> list[int] | None:
    """The row's effect_bbox (None in datasets from before it), which must hold the mask's box."""
    box = r.get("effect_bbox")
    if box is not None and mask.any():
        x0, y0, x1, y1 = mask_bbox(mask)
        if not (box[0] <= x0 and box[1] <= y0 and box[2] >= x1 and box[3] >= y1):
            report.fail(file, row, "effect_bbox", f"{box} does not hold the mask's box {[x0, y0, x1, y1]}")
    return box


def _jitter_row_groups(rows: list[dict]) -> list[int]:
    """The row group each row's jittered background was drawn for: that of the first row of its run of
    rows with one (bg_id, fg_id, flipped), as the shard builder draws it (shard.jittered_background)."""
    groups, start = [], 0
    for row, r in enumerate(rows):
        if row and (r["bg_id"], r["fg_id"], r["flipped"]) != (rows[row - 1]["bg_id"], rows[row - 1]["fg_id"], rows[row - 1]["flipped"]):
            start = row
        groups.append(start // ROW_GROUP_SIZE)
    return groups


def _check_jittered(file: str, row: int, stored: np.ndarray | None, expected: np.ndarray, image_format: str, report: Report) -> None:
    """With --background-jitter the stored background is the seeded jittered copy of the clean one, drawn
    again here: equal (PNG), or within JPEG noise of it (JPEG: drawn from the clean background's JPEG
    decode, not its pixels)."""
    if stored is None or stored.shape != expected.shape:
        return
    diff = np.abs(stored.astype(np.int16) - expected.astype(np.int16))
    if image_format == "png" and diff.any():
        report.fail(file, row, "jittered background", f"{int(np.count_nonzero(diff))} values differ from the seeded jitter of its clean background")
    elif diff.mean() >= JPEG_REGION_MEAN_ABS_DIFF:
        report.fail(file, row, "jittered background", f"mean abs diff {diff.mean():.2f} from the seeded jitter (< {JPEG_REGION_MEAN_ABS_DIFF})")


def _check_outside(file: str, row: int, image: np.ndarray, background: np.ndarray, mask: np.ndarray, image_format: str, report: Report,
                   effect: list[int] | None = None) -> None:
    """The composite equals its background outside the mask and the effects' box (PNG) or outside the
    re-encoded MCUs of that box and their ring (JPEG, where the rest of that region, outside the mask, may
    differ by compression noise only)."""
    diff = np.maximum(image, background) - np.minimum(image, background)  # |a - b| in uint8, no widening
    inside = mask > 0
    if effect is not None:
        inside = inside | _box_region(mask.shape, effect)
    may_differ = inside if image_format == "png" else _jpeg_spliced_region(inside)
    changed = int(np.count_nonzero(diff[~may_differ]))
    if changed:
        where = "the mask" if image_format == "png" else "the mask's re-encoded MCUs"
        report.fail(file, row, "composite outside mask", f"{changed} values outside {where} differ from the background (must be equal)")
    noise = diff[may_differ & ~inside]
    if noise.size and noise.mean() >= JPEG_REGION_MEAN_ABS_DIFF:
        report.fail(file, row, "composite outside mask", f"mean abs diff {noise.mean():.2f} beside the mask, in its MCUs (< {JPEG_REGION_MEAN_ABS_DIFF})")


def _box_region(shape: tuple[int, int], box: list[int]) -> np.ndarray:
    region = np.zeros(shape, bool)
    region[max(box[1], 0) : max(box[3], 0), max(box[0], 0) : max(box[2], 0)] = True
    return region


def _jpeg_spliced_region(mask: np.ndarray) -> np.ndarray:
    """Where a spliced JPEG composite may decode differently from its background: the MCUs covering the
    mask's box, grown by the chroma upsampling ring; nothing for an empty mask."""
    region = np.zeros(mask.shape, bool)
    if mask.any():
        x0, y0, x1, y1 = mask_bbox(mask)
        top, left = y0 // JPEG_MCU * JPEG_MCU - JPEG_UPSAMPLING_RING, x0 // JPEG_MCU * JPEG_MCU - JPEG_UPSAMPLING_RING
        bottom = -(-y1 // JPEG_MCU) * JPEG_MCU + JPEG_UPSAMPLING_RING
        right = -(-x1 // JPEG_MCU) * JPEG_MCU + JPEG_UPSAMPLING_RING
        region[max(top, 0) : bottom, max(left, 0) : right] = True
    return region


def _check_backgrounds(shard: dict, table, context: _Context, report: Report) -> None:
    for row, r in enumerate(table.to_pylist()):
        _open(r["image"], shard["path"], row, "image", "RGB", (context.size, context.size), report)
        check_depth_known(shard["path"], row, r, (context.size, context.size), report)
        if not 0 <= r["bg_id"] < len(context.manifest["inputs"]["backgrounds"]):
            report.fail(shard["path"], row, "ids", f"bg_id {r['bg_id']} out of range")


def _check_foregrounds(shard: dict, table, context: _Context, report: Report) -> None:
    for row, r in enumerate(table.to_pylist()):
        _open(r["image"], shard["path"], row, "image", "RGBA", None, report)
        _open(r["mask"], shard["path"], row, "mask", "L", None, report)
        if not 0 <= r["fg_id"] < len(context.manifest["inputs"]["foregrounds"]):
            report.fail(shard["path"], row, "ids", f"fg_id {r['fg_id']} out of range")


def _check_splits(context: _Context, report: Report) -> None:
    by = context.options["split_by"]
    splits = list(context.ids)
    for i, first in enumerate(splits):
        for second in splits[i + 1 :]:
            shared = context.ids[first][by] & context.ids[second][by]
            if shared:
                report.fail(f"{first}/{second}", None, "disjoint splits", f"{len(shared)} {by}s in both, e.g. {sorted(shared)[:5]}")
