"""`relabel-depth`: recompute only the depth of an existing dataset with another teacher.

No recompositing: the teacher sees the composites as stored (decoded from the shards), so the inputs need
not be at hand. Each shard is rewritten atomically with new `depth`, `depth_min` and `depth_max` columns;
every other column keeps its exact bytes. The manifest and card follow.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from .card import write_card
from .depth import load_teacher
from .encode import encode_depth
from .manifest import load_manifest
from .options import TeacherSettings
from .outdir import build_lock
from .schema import BACKGROUNDS, FEATURES, FG_BG, MANIFEST
from .writer import image_cell, sha256_file, write_json, write_table

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


def relabel_table(table: pa.Table, config: str, predict) -> pa.Table:
    """`table` with its depth columns recomputed by `predict` from its `image` column."""
    encoded = [encode_depth(depth) for depth in predict(decode_images(table.column("image")))]
    schema = FEATURES[config].arrow_schema
    new_columns = {
        "depth": [image_cell(png) for png, _, _ in encoded],
        "depth_min": [low for _, low, _ in encoded],
        "depth_max": [high for _, _, high in encoded],
    }
    for name, values in new_columns.items():
        index = schema.get_field_index(name)
        table = table.set_column(index, schema.field(name), pa.array(values, type=schema.field(name).type))
    return table


def relabel(out: Path, model: str, settings: TeacherSettings, progress: bool = True) -> RelabelSummary:
    started = time.perf_counter()
    out = Path(out)
    manifest = load_manifest(out)
    teacher = load_teacher(model, settings)
    shards = [s for s in manifest["shards"] if s["config"] in (FG_BG, BACKGROUNDS)]
    rows = 0
    with build_lock(out):  # no generate or other relabel may write OUT meanwhile
        for shard in tqdm(shards, unit="shard", desc="relabel-depth", disable=not progress, dynamic_ncols=True):
            path = out / shard["path"]
            table = relabel_table(pq.read_table(path), shard["config"], teacher.predict)
            write_table(table, path, shard["config"])
            shard.update(bytes=path.stat().st_size, sha256=sha256_file(path))
            rows += table.num_rows if shard["config"] == FG_BG else 0
        manifest["options"].update(depth="model", depth_model=model, background_depth_model=None)
        manifest["depth"] = {"mode": "model", "meaning": teacher.info["meaning"], "teacher": teacher.info, "relabelled": True}
        write_json(out / MANIFEST, manifest)
        write_card(out)
    return RelabelSummary(out, len(shards), rows, time.perf_counter() - started)
