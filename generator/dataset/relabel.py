"""`relabel-depth`: recompute only the depth of an existing dataset with another teacher.

No recompositing: the teacher sees the composites as stored (decoded from the shards), so the inputs need
not be at hand. Each shard is rewritten atomically with new `depth`, `depth_min` and `depth_max` columns;
every other column keeps its exact bytes. The manifest, the depth statistics, the gallery and the card
follow once every shard is done; until then the manifest records the relabel's progress and marks the
dataset unfinished.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image
from ..progress import tqdm

from .card import write_card
from .stats import fg_bg_table_stats, shard_stats
from ..pipeline.depth import load_teacher
from ..pipeline.teacher import teacher_run
from ..pipeline.encode import encode_png, quantize_depth
from ..output.manifest import check_shard_paths, load_manifest, read_manifest, shard_file, unfinished_relabel
from ..output.model import ShardRecord, stats_from_record, stats_record
from ..output.reader import read_shard, shard_problem, verify_shards
from ..config import TeacherSettings, recorded_model
from ..errors import UserError

from ..schema import ARROW_SCHEMAS, BACKGROUNDS, DATASET_DIRS, FG_BG, GALLERY_DIR, MANIFEST, STATS
from ..pipeline.moments import DEPTH, DatasetStats, input_table_stats
from ..output.folder import atomic_path, build_lock, remove_temporaries, repair_folder_swap, sha256_file, write_json
from ..output.parquet import write_table
from ..pipeline.table import column_array

DEPTH_COLUMNS = ("depth", "depth_min", "depth_max", "depth_known")


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
    # A teacher's map is known at every pixel: the holes of the depth it replaces are gone.
    new_columns: dict[str, list] = {"depth": [], "depth_min": [], "depth_max": [], "depth_known": []}
    for depth in predict(decode_images(table.column("image"))):
        quantized, low, high = quantize_depth(depth)
        png = encode_png(quantized)
        if stats is not None:
            stats.add_depth(quantized, len(png))
        new_columns["depth"].append(png)
        new_columns["depth_min"].append(low)
        new_columns["depth_max"].append(high)
        new_columns["depth_known"].append(None)
    schema = ARROW_SCHEMAS[config]
    for name, values in new_columns.items():
        index = schema.get_field_index(name)
        table = table.set_column(index, schema.field(name), column_array(values, schema.field(name).type))
    return table


def relabel(out: Path, model: str, settings: TeacherSettings, progress: bool = True) -> RelabelSummary:
    """Relabel OUT's depth with `model`, atomically as a whole and resumably: before any shard changes, the
    manifest is marked unfinished with a `relabel` section (the target teacher, then each shard done with
    its new size, sha256 and statistics); the depth options, the statistics, the gallery and the card
    change only once every shard is relabelled. Rerunning the same command after a kill skips the shards
    done and ends byte-identical to an uninterrupted relabel."""
    started = time.perf_counter()
    out = Path(out)
    _open_for(out, model)  # a clear line before taking the lock
    with build_lock(out):  # no generate or other command may write OUT meanwhile
        manifest = _open_for(out, model)
        remove_temporaries(out, DATASET_DIRS)  # a killed relabel's half-written shard
        shards = [s for s in manifest["shards"] if s["config"] in (FG_BG, BACKGROUNDS)]
        todo = [s for s in shards if not _relabelled(out, s, manifest.get("relabel", {}).get("done", {}))]
        verify_shards(out, manifest, todo)  # before the model loads: a damaged dataset is the user's to repair
        settings = replace(settings, model=model)
        teacher = load_teacher(settings)
        # The resolved run settings too: the new depth's last bits depend on them, as a build's do.
        target = {"model": model, "teacher": teacher.info, "teacher_run": teacher_run(settings).recorded()}
        state = manifest.setdefault("relabel", {"target": target, "done": {}})
        if state["target"] != target:
            todo = _restart(manifest, target, shards)
        manifest["complete"] = False
        write_json(out / MANIFEST, manifest)
        for shard in tqdm(todo, unit="shard", desc="relabel-depth", disable=not progress, dynamic_ncols=True):
            _relabel_shard(out, manifest, shard, teacher.predict)
        _finish(out, manifest, model, teacher.info, target["teacher_run"])
    rows = sum(s["rows"] for s in shards if s["config"] == FG_BG)
    return RelabelSummary(out, len(shards), rows, time.perf_counter() - started)


def _open_for(out: Path, model: str) -> dict:
    """OUT's manifest: a finished dataset, or one whose relabel to `model` was interrupted; a relabel to
    another model is refused until that one is finished (its shards are half one teacher, half the other)."""
    manifest = read_manifest(out)
    if manifest is None or "relabel" not in manifest:
        return load_manifest(out)
    started = manifest["relabel"]["target"]["model"]
    if started != model:
        raise UserError(f"{unfinished_relabel(out, manifest)} before relabelling with {model}")
    check_shard_paths(out, manifest)
    repair_folder_swap(out / GALLERY_DIR)
    return manifest


def _restart(manifest: dict, target: dict, shards: list[dict]) -> list[dict]:
    """An unfinished relabel rerun on other settings (a --dtype fp32 after fp16 overflowed): the shards
    it relabelled are listed as they now are, and every shard is relabelled again with the new settings
    (their images, all the teacher reads, are unchanged), so no dataset mixes two settings."""
    done = manifest["relabel"]["done"]
    for shard in shards:
        shard.update(done.get(shard["path"], {}))
    manifest["relabel"] = {"target": target, "done": {}}
    return shards


def _relabelled(out: Path, shard: dict, done: dict) -> bool:
    """Relabelled by an earlier run of this relabel: recorded, and the file is the one recorded."""
    entry = done.get(shard["path"])
    relabelled = replace(ShardRecord.from_manifest(shard), bytes=entry["bytes"], sha256=entry["sha256"]) if entry else None
    return relabelled is not None and shard_problem(out, relabelled) is None


def _relabel_shard(out: Path, manifest: dict, shard: dict, predict) -> None:
    """The new shard is recorded before it replaces the old one: killed in between, the old file (still
    matching the manifest's entry) is relabelled again by the rerun, to the same bytes."""
    path = shard_file(out, shard["path"])
    depth = DatasetStats()

    def label(images: np.ndarray) -> np.ndarray:
        return predict(images, where=lambda row: f"row {row} of {shard['path']}")

    table = relabel_table(read_shard(out, shard["path"]), shard["config"], label, depth)
    with atomic_path(path) as temporary:
        write_table(table, temporary, shard["config"])
        stats = _new_stats(shard, table, depth)
        entry = {"bytes": temporary.stat().st_size, "sha256": sha256_file(temporary), "stats": stats_record(stats)}
        manifest["relabel"]["done"][shard["path"]] = entry
        write_json(out / MANIFEST, manifest)


def _new_stats(shard: dict, table: pa.Table, depth: DatasetStats) -> DatasetStats:
    """The shard's statistics with the new depth: only the depth kind changes (a backgrounds shard's
    statistics count its images only). A shard recorded without statistics is counted from its table."""
    if not shard.get("stats"):
        return fg_bg_table_stats(table) if shard["config"] == FG_BG else input_table_stats(shard["config"], table)
    stats = stats_from_record(shard["stats"])
    if shard["config"] == FG_BG:
        stats.kinds.pop(DEPTH, None)
        stats.merge(depth)
    return stats


def _finish(out: Path, manifest: dict, model: str, info: dict, run: dict) -> None:
    """Every shard is relabelled: the manifest's entries, options and depth, then the statistics, the
    gallery and the card (from the manifest in memory), and last the manifest, marked complete."""
    done = manifest.pop("relabel")["done"]
    for shard in manifest["shards"]:
        shard.update(done.get(shard["path"], {}))
    # The labels change; the placement, and the background depth model it stood on (if any), stay.
    background = {"background_model": manifest["depth"]["background_model"]} if manifest["depth"].get("background_model") else {}
    manifest["options"].update(depth="model", depth_model=recorded_model(model))
    manifest["depth"] = {"mode": "model", "meaning": info["meaning"], "teacher": info, "relabelled": True, **background}
    manifest["teacher_run"] = run
    manifest["complete"] = True
    stats = DatasetStats()
    for shard in manifest["shards"]:
        stats.merge(stats_from_record(shard["stats"]) if shard.get("stats") else shard_stats(out, shard["path"], shard["config"]))
    write_json(out / STATS, stats.to_json())
    if (out / GALLERY_DIR).is_dir():
        from .gallery import write_gallery

        write_gallery(out, manifest=manifest)
    write_card(out, manifest=manifest)
    write_json(out / MANIFEST, manifest)
