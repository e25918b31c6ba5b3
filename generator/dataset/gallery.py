"""OUT/gallery/: contact sheets and distribution plots for the card, drawn from a few rows of the shards.

The samples shown are a deterministic choice (seeded by the manifest's seed) of fg_bg rows; only the row
groups holding them are read, so the gallery costs about a second whatever the dataset's size. The mask
coverage histogram uses every row (accumulated while generating, from stats.json); the depth histograms use
the depth maps of the sampled rows plus the depth range (depth_min, depth_max) of every row.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; set before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import matplotlib.cm  # noqa: E402
import matplotlib.colors  # noqa: E402
import matplotlib.ticker  # noqa: E402

from ..output import folder as storage  # noqa: E402
from ..pipeline.encode import decode_depth  # noqa: E402
from ..output.manifest import load_manifest, shard_file  # noqa: E402
from ..config import BuildOptions  # noqa: E402
from ..schema import BACKGROUNDS, FG_BG, FOREGROUNDS, GALLERY_DIR, ROW_GROUP_SIZE, STATS  # noqa: E402
from ..pipeline.moments import COVERAGE_BINS, decode  # noqa: E402
from ..output.folder import atomic_path  # noqa: E402

SAMPLES = 8  # composites, masks and depth maps shown
ROWS = 4  # rows of the background | composite | mask | depth sheet
INPUTS = 12  # backgrounds and foregrounds shown
COLUMNS = 4
CMAP = "turbo"
_SALT_GALLERY = 3  # keeps the gallery's random stream apart from placement and split streams
DPI = 80
PNG_LEVEL = 3  # zlib level: 6 (the default) costs twice the time for ~10 % smaller sheets


@dataclass
class Sample:
    name: str
    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray | None  # float, in the manifest's depth units
    background: np.ndarray


def write_gallery(out: Path, shards_root: str | Path | None = None, manifest: dict | None = None,
                  build: BuildOptions | None = None) -> list[Path]:
    """Draw OUT/gallery/*.png; `shards_root` is where the fg_bg shards are when not in OUT (a URL);
    `manifest`: the one a build holds before it marks OUT complete (else OUT's, which must be finished);
    `build`: the options of the build drawing it, whose inputs are at hand (the manifest names them only).
    The pictures are drawn in a new folder swapped in whole, so old pictures of another build never
    linger beside new ones and a kill leaves one gallery or the other."""
    out = Path(out)
    manifest = manifest or load_manifest(out)
    names: list[str] = []
    storage.replace_folder(out / GALLERY_DIR, lambda folder: names.extend(_draw(out, shards_root or out, manifest, folder, build)))
    return [out / GALLERY_DIR / name for name in names]


def _draw(out: Path, root: str | Path, manifest: dict, folder: Path, build: BuildOptions | None) -> list[str]:
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
    if (manifest.get("geometry") or {}).get("placement") == "floor":
        figures["06b-geometry"] = _geometry_sheet(root, manifest)
        options = manifest["options"]
        if options.get("blend", "alpha") != "alpha" or options.get("shadow") or options.get("harmonize") or options.get("decontaminate"):
            from .gallery_effects import effects_sheet

            # User inputs are at hand only while their build draws the gallery; the demo is remade.
            build = build or (BuildOptions.from_dict(options) if options.get("demo") else None)
            sheet = effects_sheet(build, _mosaic) if build is not None else None
            if sheet is not None:
                figures["06c-edges-and-light"] = sheet
    figures["07-mask-coverage"] = _coverage_plot(out, samples)
    if all(s.depth is not None for s in samples):
        figures["08-depth-distribution"] = _depth_plot(root, manifest, samples, unit)
    names = []
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        with atomic_path(path) as temporary, warnings.catch_warnings():
            # Input names may hold characters the font lacks: drawn as boxes, not worth a warning each.
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
            # No timestamp in the PNG: the same dataset gives the same gallery files.
            figure.savefig(temporary, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": PNG_LEVEL})
        plt.close(figure)
        names.append(path.name)
    return names


def depth_unit(manifest: dict) -> str:
    meaning = manifest["depth"].get("meaning") or ""
    return "depth (m)" if "metres" in meaning else "depth (model units)"


# --- reading a few rows -------------------------------------------------------------------------------


def read_samples(root: str | Path, manifest: dict, rng: np.random.Generator, count: int) -> list[Sample]:
    shards = [s for s in manifest["shards"] if s["config"] == FG_BG]
    starts = np.cumsum([0] + [s["rows"] for s in shards])
    chosen = np.sort(rng.choice(starts[-1], size=min(count, starts[-1]), replace=False))
    samples = []
    columns = ["name", "image", "mask", "depth", "depth_min", "depth_max", "background"]
    for index in chosen:
        shard = int(np.searchsorted(starts, index, side="right") - 1)
        row = int(index - starts[shard])
        with _open_shard(root, shards[shard]["path"]) as stream:
            group = pq.ParquetFile(stream).read_row_group(row // ROW_GROUP_SIZE, columns=columns)
        r = group.slice(row % ROW_GROUP_SIZE, 1).to_pylist()[0]
        depth = decode_depth(r["depth"]["bytes"], r["depth_min"], r["depth_max"]) if r["depth"] else None
        samples.append(Sample(r["name"], decode(r["image"]["bytes"]), decode(r["mask"]["bytes"]), depth, decode(r["background"]["bytes"])))
    return samples


def _open_shard(root: str | Path, relative: str):
    """A shard of the manifest: in OUT (and refused if its path leads out of it), or at a build's URL."""
    return storage.open_input(root, relative) if storage.is_url(root) else open(shard_file(root, relative), "rb")


def _input_rows(out: Path, manifest: dict, config: str, key: str, rng: np.random.Generator) -> list[dict]:
    rows: dict[int, dict] = {}
    for shard in manifest["shards"]:
        if shard["config"] == config:
            for r in pq.read_table(shard_file(out, shard["path"]), columns=[key, "name", "image"]).to_pylist():
                rows.setdefault(r[key], r)
    ids = sorted(rows)
    if len(ids) > INPUTS:
        ids = sorted(rng.choice(ids, size=INPUTS, replace=False).tolist())
    return [rows[i] for i in ids]


# --- drawing: contact sheets are one mosaic image per figure (one imshow, text labels), which is ~10x
# faster than a grid of matplotlib axes with tight_layout ----------------------------------------------

GAP, LABEL, TITLE, BAR = 8, 16, 34, 80  # px
MIN_TILE = 160  # small images (tests, --bg-size 64) are enlarged so their labels fit


def _mosaic(tiles: list[np.ndarray], labels: list[str], title: str, columns: int,
            headings: list[str] | None = None, colorbar: tuple | None = None):
    """Figure with `tiles` (RGB uint8) in a grid, a label under each, optional column headings and an
    optional colour bar (norm, cmap, label) on the right."""
    tile_h, tile_w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    zoom = max(1, -(-MIN_TILE // max(tile_h, tile_w)))
    tile_h, tile_w = tile_h * zoom, tile_w * zoom
    rows = -(-len(tiles) // columns)
    top = TITLE + (LABEL if headings else 0)
    image_w = columns * (tile_w + GAP) + GAP
    height = top + rows * (tile_h + LABEL + GAP)
    width = image_w + (BAR if colorbar else 0)
    canvas = np.full((height, image_w, 3), 255, dtype=np.uint8)
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        tile = np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1)
        row, column = divmod(i, columns)
        y = top + row * (tile_h + LABEL + GAP) + (tile_h - tile.shape[0]) // 2
        x = GAP + column * (tile_w + GAP) + (tile_w - tile.shape[1]) // 2
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        label_y = top + row * (tile_h + LABEL + GAP) + tile_h + LABEL / 2
        figure.text((GAP + column * (tile_w + GAP) + tile_w / 2) / width, 1 - label_y / height, label,
                    ha="center", va="center", fontsize=8, parse_math=False)  # names are text, never mathtext
    figure.figimage(canvas, 0, 0, origin="upper")  # raw pixels, 1:1: no resampling
    figure.text(image_w / 2 / width, 1 - TITLE / 2 / height, title, ha="center", va="center", fontsize=12, fontweight="bold")
    for column, heading in enumerate(headings or []):
        figure.text((GAP + column * (tile_w + GAP) + tile_w / 2) / width, 1 - (TITLE + LABEL / 2) / height, heading,
                    ha="center", va="center", fontsize=10, fontweight="bold")
    if colorbar:
        norm, cmap, label = colorbar
        cax = figure.add_axes(((image_w + 8) / width, (GAP + LABEL) / height, 16 / width, 1 - (top + GAP + LABEL) / height))
        figure.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax).set_label(label)
    return figure


def _sheet(pictures: list[np.ndarray], labels: list[str], title: str):
    return _mosaic([_rgb(p) for p in pictures], labels, title, COLUMNS)


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
    ranges = [float(d.max()) - float(d.min()) for d in depths]
    positive = [r for r in ranges if r > 0]
    return bool(positive) and max(positive) / min(positive) > SHARED_SCALE_MAX_RATIO


def depth_colouring(depths: list[np.ndarray], unit: str):
    """(colour bar, colour function, title note): one colour scale for the whole sheet, so the same colour is
    the same depth in every tile, unless the maps' ranges differ widely; then each map spans the colour
    map from its own minimum to its own maximum (its range is in its label)."""
    cmap = matplotlib.colormaps[CMAP]
    if own_scales(depths):
        def colour(depth: np.ndarray) -> np.ndarray:
            norm = matplotlib.colors.Normalize(float(depth.min()), float(depth.max()))
            return (cmap(norm(depth))[..., :3] * 255).astype(np.uint8)

        return (matplotlib.colors.Normalize(0, 1), cmap, f"{unit}: each map's min to max"), colour, " (each map on its own scale)"
    norm = matplotlib.colors.Normalize(min(float(d.min()) for d in depths), max(float(d.max()) for d in depths))
    return (norm, cmap, unit), lambda depth: (cmap(norm(depth))[..., :3] * 255).astype(np.uint8), ""


def _range_label(depth: np.ndarray) -> str:
    return f"{float(depth.min()):.3g} to {float(depth.max()):.3g}"


def _depth_sheet(samples: list[Sample], unit: str):
    colorbar, colour, note = depth_colouring([s.depth for s in samples], unit)
    labels = [f"{s.name} ({_range_label(s.depth)})" if note else s.name for s in samples]
    return _mosaic([colour(s.depth) for s in samples], labels, "Depth" + note, COLUMNS, colorbar=colorbar)


def _samples_sheet(samples: list[Sample], unit: str):
    has_depth = all(s.depth is not None for s in samples)
    headings = ["background", "composite", "mask"] + (["depth"] if has_depth else [])
    colorbar, colour, note = depth_colouring([s.depth for s in samples], unit) if has_depth else (None, None, "")
    tiles, labels = [], []
    for s in samples:
        tiles += [s.background, s.image, _rgb(s.mask)] + ([colour(s.depth)] if has_depth else [])
        depth_label = _range_label(s.depth) if note else ""
        labels += ["", s.name, "", depth_label][: len(headings)]
    return _mosaic(tiles, labels, "Samples: " + " | ".join(headings) + note, len(headings), headings, colorbar)


def _geometry_sheet(root: str | Path, manifest: dict):
    """Occlusion and scale on the floor: the first shard's first occluded composites (the part of the
    silhouette the scene hides tinted red), then one cut-out at its placements from nearest to farthest."""
    first = next(s for s in manifest["shards"] if s["config"] == FG_BG)
    with storage.open_input(root, first["path"]) as stream:
        rows = pq.ParquetFile(stream).read_row_group(0, columns=["name", "fg_id", "h", "image", "mask", "amodal_mask"]).to_pylist()
    hidden = [r for r in rows if r["amodal_mask"]["bytes"] != r["mask"]["bytes"]][:COLUMNS]
    group = sorted((r for r in rows if r["name"].rsplit("_", 1)[0] == rows[0]["name"].rsplit("_", 1)[0]), key=lambda r: -r["h"])
    scale = [group[round(i * (len(group) - 1) / (COLUMNS - 1))] for i in range(COLUMNS)] if len(group) >= COLUMNS else group
    tiles = [_hidden_tinted(r) for r in hidden + scale]
    labels = [f"{r['name']}: hidden" for r in hidden] + [f"{r['name']}: {r['h']} px" for r in scale]
    return _mosaic(tiles, labels, "Standing on the floor: hidden parts (red), one cut-out near to far", COLUMNS)


def _hidden_tinted(row: dict) -> np.ndarray:
    image = decode(row["image"]["bytes"]).astype(np.float32)
    hidden = (decode(row["amodal_mask"]["bytes"]) > 0) & (decode(row["mask"]["bytes"]) == 0)
    image[hidden] = 0.45 * image[hidden] + 0.55 * np.array([255, 0, 0], np.float32)
    return image.astype(np.uint8)


def _coverage_plot(out: Path, samples: list[Sample]):
    """Histogram of the fraction of each composite inside its mask: every row (from stats.json) when the
    statistics exist, else the sampled rows."""
    figure, ax = plt.subplots(figsize=(6, 3.2))
    edges = np.linspace(0, 1, COVERAGE_BINS + 1)
    path = out / STATS
    stats = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if "mask_coverage" in stats:
        counts, source = np.asarray(stats["mask_coverage"]["counts"]), "all rows"
    else:
        counts, source = np.histogram([np.count_nonzero(s.mask) / s.mask.size for s in samples], edges)[0], f"{len(samples)} sampled rows"
    used = np.flatnonzero(counts)
    ax.stairs(counts, edges, fill=True, color="tab:blue")  # one artist, not a bar per bin: 10x faster to draw
    ax.set_xlim(0, edges[used[-1] + 1] * 1.05 if used.size else 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("mask coverage (share of the image inside the mask)")
    ax.set_ylabel("composites")
    ax.set_title(f"Mask coverage ({source}, {int(counts.sum()):,} composites)", fontsize=10)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
    return figure


def _depth_plot(root: str | Path, manifest: dict, samples: list[Sample], unit: str):
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    foreground = np.concatenate([s.depth[s.mask > 0] for s in samples])
    background = np.concatenate([s.depth[s.mask == 0] for s in samples])
    bins = np.linspace(min(foreground.min(), background.min()), max(foreground.max(), background.max()), 60)
    _histogram(left, background, bins, "background pixels", density=True)
    _histogram(left, foreground, bins, "foreground pixels", density=True)
    left.set_xlabel(unit)
    left.set_ylabel("density")
    left.set_title(f"Depth of the pixels of {len(samples)} sampled composites", fontsize=10)
    left.legend(fontsize=8)
    ranges = []
    for shard in (s for s in manifest["shards"] if s["config"] == FG_BG):
        with _open_shard(root, shard["path"]) as stream:
            ranges.append(pq.read_table(stream, columns=["depth_min", "depth_max"]))
    lows = np.concatenate([t.column("depth_min").to_numpy() for t in ranges])
    highs = np.concatenate([t.column("depth_max").to_numpy() for t in ranges])
    bins = np.linspace(min(lows.min(), highs.min()), max(lows.max(), highs.max()), 60)
    _histogram(right, lows, bins, "depth_min")
    _histogram(right, highs, bins, "depth_max")
    right.set_xlabel(unit)
    right.set_ylabel("composites")
    right.set_title(f"Depth range per composite (all {len(lows):,} rows)", fontsize=10)
    right.legend(fontsize=8)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
    return figure


def _histogram(ax, values: np.ndarray, bins: np.ndarray, label: str, density: bool = False) -> None:
    """ax.hist drawn as one filled step outline instead of a patch per bin (the same picture, far fewer
    artists to draw)."""
    counts, edges = np.histogram(values, bins=bins, density=density)
    ax.stairs(counts, edges, fill=True, alpha=0.6, label=label)
