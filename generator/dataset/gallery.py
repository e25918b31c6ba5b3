"""OUT/gallery/: contact sheets and distribution plots for the card, drawn from a few rows of the shards.

The samples shown are a deterministic choice (seeded by the manifest's seed) of fg_bg rows; only the row
groups holding them are read, so the gallery costs a few tenths of a second whatever the dataset's size. The mask
coverage histogram uses every row (accumulated while generating, from stats.json); the depth histograms use
the depth maps of the sampled rows plus the depth range (depth_min, depth_max) of every row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import BuildOptions
from ..output.model import DatasetRules
from ..rules import BlendMode
from ..output import folder as storage
from ..output.folder import atomic_path
from ..output.manifest import load_manifest
from ..output.reader import read_shard
from ..pipeline.encode import decode_depth
from ..pipeline.moments import COVERAGE_BINS, decode
from ..threads import cores, ordered_map
from ..schema import BACKGROUNDS, FG_BG, FOREGROUNDS, GALLERY_DIR, ROW_GROUP_SIZE, STATS
from ..baseline.report import baseline_figures
from .gallery_instances import instances_sheet
from .drawing import BLUE, ORANGE, ColourBar, Panel, Steps, mosaic, percent_text, plot, turbo

SAMPLES = 8  # composites, masks and depth maps shown
ROWS = 4  # rows of the background | composite | mask | depth sheet
INPUTS = 12  # backgrounds and foregrounds shown
COLUMNS = 4
_SALT_GALLERY = 3  # keeps the gallery's random stream apart from placement and split streams
PNG_LEVEL = 3  # zlib level: 6 (the default) costs twice the time for ~10 % smaller sheets


@dataclass
class Sample:
    name: str
    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray | None  # float, in the manifest's depth units
    background: np.ndarray


@dataclass(frozen=True)
class EdgesAndLight:
    """The edges-and-light sheet drawn ahead (while the shards build: it needs the inputs only); None: none."""
    sheet: Image.Image | None


def edges_and_light(rules: DatasetRules, build: BuildOptions | None) -> Image.Image | None:
    """The sheet of edge and light options, for floor placement with any of them on, where the inputs are
    at hand: user inputs only while their build draws the gallery (`build`); the demo is remade."""
    o = rules.build
    if not rules.on_floor or not (o.blend != BlendMode.ALPHA or o.shadow or o.harmonize or o.decontaminate):
        return None
    from .gallery_effects import effects_sheet

    build = build or (o if o.demo else None)
    return effects_sheet(build, mosaic) if build is not None else None


def write_gallery(out: Path, shards_root: str | Path | None = None, manifest: dict | None = None,
                  build: BuildOptions | None = None, edges: EdgesAndLight | None = None) -> list[Path]:
    """Draw OUT/gallery/*.png; `shards_root` is where the fg_bg shards are when not in OUT (a URL);
    `manifest`: the one a build holds before it marks OUT complete (else OUT's, which must be finished);
    `build`: the options of the build drawing it, whose inputs are at hand (the manifest names them only);
    `edges`: its edges-and-light sheet, drawn ahead (else drawn here).
    The pictures are drawn in a new folder swapped in whole, so old pictures of another build never
    linger beside new ones and a kill leaves one gallery or the other."""
    out = Path(out)
    manifest = manifest or load_manifest(out)
    names: list[str] = []
    storage.replace_folder(out / GALLERY_DIR, lambda folder: names.extend(_draw(out, shards_root or out, manifest, folder, build, edges)))
    return [out / GALLERY_DIR / name for name in names]


def _draw(out: Path, root: str | Path, manifest: dict, folder: Path, build: BuildOptions | None,
          edges: EdgesAndLight | None) -> list[str]:
    rng = np.random.default_rng([manifest["options"]["seed"], _SALT_GALLERY])
    samples = read_samples(root, manifest, rng, SAMPLES)
    unit = depth_unit(manifest)
    backgrounds = _input_rows(out, manifest, BACKGROUNDS, "bg_id", rng)
    foregrounds = _input_rows(out, manifest, FOREGROUNDS, "fg_id", rng)
    figures = {
        "01-backgrounds": _sheet([decode(r["image"]["bytes"]) for r in backgrounds], [f"bg {r['bg_id']}: {r['name']}" for r in backgrounds], "Backgrounds"),
        "02-foregrounds": _sheet([_on_checkerboard(decode(r["image"]["bytes"])) for r in foregrounds], [f"fg {r['fg_id']}: {r['name']}" for r in foregrounds], "Foregrounds (cut-outs on a checkerboard)"),
        "03-composites": _sheet([s.image for s in samples], [s.name for s in samples], "Composites (image)"),
        "04-masks": _sheet([s.mask for s in samples], [s.name for s in samples], "Masks"),
    }
    if all(s.depth is not None for s in samples):
        figures["05-depth"] = _depth_sheet(samples, unit)
    figures["06-samples"] = _samples_sheet(samples[:ROWS], unit)
    if DatasetRules.of(manifest).on_floor:
        figures["06b-geometry"] = _geometry_sheet(root, manifest)
        sheet = edges_and_light(DatasetRules.of(manifest), build) if edges is None else edges.sheet
        if sheet is not None:
            figures["06c-edges-and-light"] = sheet
    if manifest["options"].get("objects", "1") != "1":
        sheet = instances_sheet(root, manifest, mosaic)
        if sheet is not None:
            figures["06d-instances"] = sheet
    figures["07-mask-coverage"] = _coverage_plot(out, samples)
    if all(s.depth is not None for s in samples):
        figures["08-depth-distribution"] = _depth_plot(root, manifest, samples, unit)
    figures.update(baseline_figures(out))  # the reference model's pictures, while OUT has its baseline.json

    def save(item) -> str:
        path = folder / f"{item[0]}.png"
        with atomic_path(path) as temporary:
            item[1].save(temporary, format="PNG", compress_level=PNG_LEVEL)  # no timestamp: same dataset, same files
        return path.name

    return ordered_map(save, figures.items(), threads=cores())  # PNG encoding releases the GIL


def depth_unit(manifest: dict) -> str:
    meaning = manifest["depth"].get("meaning") or ""
    return "depth (m)" if "metres" in meaning else "depth (model units)"


# --- reading a few rows -------------------------------------------------------------------------------


def read_samples(root: str | Path, manifest: dict, rng: np.random.Generator, count: int) -> list[Sample]:
    shards = [s for s in manifest["shards"] if s["config"] == FG_BG]
    starts = np.cumsum([0] + [s["rows"] for s in shards])
    chosen = np.sort(rng.choice(starts[-1], size=min(count, starts[-1]), replace=False))
    samples = []
    columns = ["name", "image", "mask", "depth", "depth_min", "depth_max", "depth_known", "background"]
    for index in chosen:
        shard = int(np.searchsorted(starts, index, side="right") - 1)
        row = int(index - starts[shard])
        group = read_shard(root, shards[shard]["path"], columns, row_group=row // ROW_GROUP_SIZE)
        r = group.slice(row % ROW_GROUP_SIZE, 1).to_pylist()[0]
        depth = decode_depth(r["depth"]["bytes"], r["depth_min"], r["depth_max"]) if r["depth"] else None
        if r.get("depth_known"):  # holes are NaN: drawn black, in no histogram
            depth[decode(r["depth_known"]["bytes"]) == 0] = np.nan
        samples.append(Sample(r["name"], decode(r["image"]["bytes"]), decode(r["mask"]["bytes"]), depth, decode(r["background"]["bytes"])))
    return samples


def _input_rows(out: Path, manifest: dict, config: str, key: str, rng: np.random.Generator) -> list[dict]:
    rows: dict[int, dict] = {}
    for shard in manifest["shards"]:
        if shard["config"] == config:
            table = read_shard(out, shard["path"], [key, "name", "image"])
            for r in table.to_pylist():
                rows.setdefault(r[key], r)
    ids = sorted(rows)
    if len(ids) > INPUTS:
        ids = sorted(rng.choice(ids, size=INPUTS, replace=False).tolist())
    return [rows[i] for i in ids]


# --- drawing --------------------------------------------------------------------------------------------


def _sheet(pictures: list[np.ndarray], labels: list[str], title: str):
    return mosaic([_rgb(p) for p in pictures], labels, title, COLUMNS)


def _rgb(picture: np.ndarray) -> np.ndarray:
    return np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture


def _on_checkerboard(rgba: np.ndarray, cell: int = 8) -> np.ndarray:
    h, w = rgba.shape[:2]
    checks = ((np.arange(h)[:, None] // cell + np.arange(w)[None, :] // cell) % 2).astype(np.float32)
    board = (200 + 40 * checks)[..., None]
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + board * (1 - alpha)).astype(np.uint8)


# Above this ratio between the widest and the narrowest depth range of the maps shown, one shared colour
# scale would paint the narrow (near) maps in nearly one colour: each map gets its own scale instead.
SHARED_SCALE_MAX_RATIO = 3.0


def own_scales(depths: list[np.ndarray]) -> bool:
    ranges = [float(np.nanmax(d)) - float(np.nanmin(d)) for d in depths]
    positive = [r for r in ranges if r > 0]
    return bool(positive) and max(positive) / min(positive) > SHARED_SCALE_MAX_RATIO


def depth_colouring(depths: list[np.ndarray], unit: str):
    """(colour bar, colour function, title note): one colour scale for the whole sheet, so the same colour is
    the same depth in every tile, unless the maps' ranges differ widely; then each map spans the colour
    map from its own minimum to its own maximum (its range is in its label)."""
    holes = "; black: unknown" if any(np.isnan(d).any() for d in depths) else ""
    if own_scales(depths):
        return (ColourBar(0.0, 1.0, f"{unit}: each map's min to max{holes}"),
                lambda depth: turbo(depth, float(np.nanmin(depth)), float(np.nanmax(depth))), " (each map on its own scale)")
    low, high = min(float(np.nanmin(d)) for d in depths), max(float(np.nanmax(d)) for d in depths)
    return ColourBar(low, high, unit + holes), lambda depth: turbo(depth, low, high), ""


def _range_label(depth: np.ndarray) -> str:
    return f"{float(np.nanmin(depth)):.3g} to {float(np.nanmax(depth)):.3g}"


def _depth_sheet(samples: list[Sample], unit: str):
    colorbar, colour, note = depth_colouring([s.depth for s in samples], unit)
    labels = [f"{s.name} ({_range_label(s.depth)})" if note else s.name for s in samples]
    return mosaic([colour(s.depth) for s in samples], labels, "Depth" + note, COLUMNS, colour_bar=colorbar)


def _samples_sheet(samples: list[Sample], unit: str):
    has_depth = all(s.depth is not None for s in samples)
    headings = ["background", "composite", "mask"] + (["depth"] if has_depth else [])
    colorbar, colour, note = depth_colouring([s.depth for s in samples], unit) if has_depth else (None, None, "")
    tiles, labels = [], []
    for s in samples:
        tiles += [s.background, s.image, _rgb(s.mask)] + ([colour(s.depth)] if has_depth else [])
        depth_label = _range_label(s.depth) if note else ""
        labels += ["", s.name, "", depth_label][: len(headings)]
    return mosaic(tiles, labels, "Samples: " + " | ".join(headings) + note, len(headings), headings, colorbar)


def _geometry_sheet(root: str | Path, manifest: dict):
    """Occlusion and scale on the floor: the first shard's first occluded composites (the part of the
    silhouette the scene hides tinted red), then one cut-out at its placements from nearest to farthest."""
    first = next(s for s in manifest["shards"] if s["config"] == FG_BG and s["rows"])  # strict floor may leave one empty
    rows = read_shard(root, first["path"], ["name", "fg_id", "h", "image", "mask", "amodal_mask"], row_group=0).to_pylist()
    hidden = [r for r in rows if r["amodal_mask"]["bytes"] != r["mask"]["bytes"]][:COLUMNS]
    group = sorted((r for r in rows if r["name"].rsplit("_", 1)[0] == rows[0]["name"].rsplit("_", 1)[0]), key=lambda r: -r["h"])
    scale = [group[round(i * (len(group) - 1) / (COLUMNS - 1))] for i in range(COLUMNS)] if len(group) >= COLUMNS else group
    tiles = [_hidden_tinted(r) for r in hidden + scale]
    labels = [f"{r['name']}: hidden" for r in hidden] + [f"{r['name']}: {r['h']} px" for r in scale]
    return mosaic(tiles, labels, "Standing on the floor: hidden parts (red), one cut-out near to far", COLUMNS)


def _hidden_tinted(row: dict) -> np.ndarray:
    image = decode(row["image"]["bytes"]).astype(np.float32)
    hidden = (decode(row["amodal_mask"]["bytes"]) > 0) & (decode(row["mask"]["bytes"]) == 0)
    image[hidden] = 0.45 * image[hidden] + 0.55 * np.array([255, 0, 0], np.float32)
    return image.astype(np.uint8)


def _coverage_plot(out: Path, samples: list[Sample]):
    """Histogram of the fraction of each composite inside its mask: every row (from stats.json) when the
    statistics exist, else the sampled rows."""
    edges = np.linspace(0, 1, COVERAGE_BINS + 1)
    path = out / STATS
    stats = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if "mask_coverage" in stats:
        counts, source = np.asarray(stats["mask_coverage"]["counts"]), "all rows"
    else:
        counts, source = np.histogram([np.count_nonzero(s.mask) / s.mask.size for s in samples], edges)[0], f"{len(samples)} sampled rows"
    used = np.flatnonzero(counts)
    return plot([Panel(f"Mask coverage ({source}, {int(counts.sum()):,} composites)",
                       "mask coverage (share of the image inside the mask)", "composites",
                       [Steps(counts, edges, "composites")], (0.0, edges[used[-1] + 1] * 1.05 if used.size else 1.0), percent_text)])


def _depth_plot(root: str | Path, manifest: dict, samples: list[Sample], unit: str):
    known = [np.isfinite(s.depth) for s in samples]
    foreground = np.concatenate([s.depth[(s.mask > 0) & k] for s, k in zip(samples, known)])
    background = np.concatenate([s.depth[(s.mask == 0) & k] for s, k in zip(samples, known)])
    bins = _bins(min(foreground.min(), background.min()), max(foreground.max(), background.max()))
    pixels = Panel(f"Depth of the pixels of {len(samples)} sampled composites", unit, "density",
                   [_histogram(background, bins, "background pixels", BLUE, density=True),
                    _histogram(foreground, bins, "foreground pixels", ORANGE, density=True)], legend=True)
    ranges = []
    for shard in (s for s in manifest["shards"] if s["config"] == FG_BG):
        ranges.append(read_shard(root, shard["path"], ["depth_min", "depth_max"]))
    lows = np.concatenate([_float32s(t.column("depth_min")) for t in ranges])
    highs = np.concatenate([_float32s(t.column("depth_max")) for t in ranges])
    bins = _bins(min(lows.min(), highs.min()), max(lows.max(), highs.max()))
    per_row = Panel(f"Depth range per composite (all {len(lows):,} rows)", unit, "composites",
                    [_histogram(lows, bins, "depth_min", BLUE), _histogram(highs, bins, "depth_max", ORANGE)], legend=True)
    return plot([pixels, per_row])


def _bins(low: float, high: float) -> np.ndarray:
    """60 bins from `low` to `high`, in their precision (float32 depth gives float32 edges); one unit wide
    in all where every value is the same (a flat depth). At a large magnitude (1e20) a range that the
    precision cannot cut in 60 distinct edges is widened until it can: bins of width 0 would divide by zero."""
    with np.errstate(over="ignore"):
        if not np.isfinite(high - low):  # -3e38 to 3e38 spans more than float32 holds
            low, high = float(low), float(high)
    narrowest = 240 * np.spacing(max(abs(low), abs(high)))  # 60 bins of 4 representable steps
    if high <= low:
        high = low + max(1.0, narrowest)
    elif high - low < narrowest:
        high = low + narrowest
    return np.linspace(low, high, 61)


def _float32s(column) -> np.ndarray:
    """The non-null values of a float32 column, read from its buffers: to_numpy imports pandas and
    drop_null pyarrow.compute, both slow to import."""
    parts = [np.empty(0, np.float32)]
    for chunk in column.chunks:
        validity, data = chunk.buffers()
        values = np.frombuffer(data, np.float32, len(chunk), 4 * chunk.offset)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
            values = values[bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)]
        parts.append(values)
    return np.concatenate(parts)


def _histogram(values: np.ndarray, bins: np.ndarray, label: str, colour, density: bool = False) -> Steps:
    counts, edges = np.histogram(values, bins=bins, density=density)
    return Steps(counts, edges, label, colour, opacity=0.6)
