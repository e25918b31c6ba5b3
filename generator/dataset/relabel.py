"""`relabel-depth`: recompute only the depth of an existing dataset with another teacher.

No recompositing: the teacher sees the composites as stored (decoded from the shards), so the inputs need
not be at hand. Each shard is rewritten atomically with new `depth`, `depth_min` and `depth_max` columns;
every other column keeps its exact bytes. The manifest, the depth statistics, the gallery and the card
follow.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from ..progress import tqdm

from .card import write_card
from ..pipeline.depth import load_teacher
from ..pipeline.encode import encode_png, quantize_depth
from ..output.manifest import load_manifest
from ..config import TeacherSettings

from ..schema import BACKGROUNDS, FEATURES, FG_BG, GALLERY_DIR, MANIFEST, STATS
from ..pipeline.moments import DEPTH, DatasetStats
from ..output.folder import build_lock, sha256_file, write_json
from ..output.parquet import write_table
from ..pipeline.table import column_array

DEPTH_COLUMNS = ("depth", "depth_min", "depth_max")


@dataclass
class RelabelSummary:
    out: Path
    shards: int
    rows: int
    seconds: float

    def describe(self) -> str:
        return f"relabelled {self.rows:,} rows in {self.shards} shards in {self.seconds:,.1f} s ({self.rows / max(self.seconds, 1e-9):,.0f} rows/s) -> {self.out}"


def decode_images(column: pa.ChunkedArray) -> np.ndarray:
    """The stored images of an Image column, decoded to one uint8 (N, H, W, 3) array."""
    cells = column.to_pylist()
    return np.stack([np.asarray(Image.open(io.BytesIO(cell["bytes"])).convert("RGB")) for cell in cells])


def relabel_table(table: pa.Table, config: str, predict, stats: DatasetStats | None = None) -> pa.Table:
    """`table` with its depth columns recomputed by `predict` from its `image` column; the new depth
    maps' statistics go into `stats`."""
    new_columns: dict[str, list] = {"depth": [], "depth_min": [], "depth_max": []}
    for depth in predict(decode_images(table.column("image"))):
        quantized, low, high = quantize_depth(depth)
        png = encode_png(quantized)
        if stats is not None:
            stats.add_depth(quantized, len(png))
        new_columns["depth"].append(png)
        new_columns["depth_min"].append(low)
        new_columns["depth_max"].append(high)
    schema = FEATURES[config].arrow_schema
    for name, values in new_columns.items():
        index = schema.get_field_index(name)
        table = table.set_column(index, schema.field(name), column_array(values, schema.field(name).type))
    return table


def _update_depth_outputs(out: Path, depth_stats: DatasetStats) -> None:
    """Only the depth changed: its statistics are replaced (every other kind's bytes are the same, so
    their entries stand), and the gallery, which shows depth, is redrawn."""
    path = out / STATS
    if path.is_file():
        stats = json.loads(path.read_text(encoding="utf-8"))
        stats["kinds"][DEPTH] = depth_stats.to_json()["kinds"][DEPTH]
        write_json(path, stats)
    if (out / GALLERY_DIR).is_dir():
        from .gallery import write_gallery  # matplotlib, only when there is a gallery to redraw

        write_gallery(out)


def relabel(out: Path, model: str, settings: TeacherSettings, progress: bool = True) -> RelabelSummary:
    started = time.perf_counter()
    out = Path(out)
    manifest = load_manifest(out)
    teacher = load_teacher(replace(settings, model=model))
    shards = [s for s in manifest["shards"] if s["config"] in (FG_BG, BACKGROUNDS)]
    rows = 0
    depth_stats = DatasetStats()
    with build_lock(out):  # no generate or other relabel may write OUT meanwhile
        for shard in tqdm(shards, unit="shard", desc="relabel-depth", disable=not progress, dynamic_ncols=True):
            path = out / shard["path"]
            counted = depth_stats if shard["config"] == FG_BG else None
            table = relabel_table(pq.read_table(path), shard["config"], teacher.predict, counted)
            write_table(table, path, shard["config"])
            shard.update(bytes=path.stat().st_size, sha256=sha256_file(path))
            rows += table.num_rows if shard["config"] == FG_BG else 0
        manifest["options"].update(depth="model", depth_model=model, background_depth_model=None)
        manifest["depth"] = {"mode": "model", "meaning": teacher.info["meaning"], "teacher": teacher.info, "relabelled": True}
        write_json(out / MANIFEST, manifest)
        _update_depth_outputs(out, depth_stats)
        write_card(out)
    return RelabelSummary(out, len(shards), rows, time.perf_counter() - started)
