"""The statistics of a built dataset (the `stats` command): merged from the per-shard statistics the
manifest records, or recomputed from the stored shards, which gives the same integers, bit for bit, as
the ones accumulated while generating (pipeline/moments.py)."""

from __future__ import annotations

from pathlib import Path

from ..progress import tqdm

from ..output.folder import write_json
from ..output.manifest import load_manifest
from ..output.reader import read_shard
from ..output.model import stats_from_record, stats_record
from ..schema import MANIFEST
from ..pipeline.moments import IMAGE, DatasetStats, decode, input_table_stats
from ..schema import FG_BG


def fg_bg_table_stats(table) -> DatasetStats:
    """Statistics of an fg_bg shard recomputed from its stored bytes (the `stats` command)."""
    stats = DatasetStats()
    images, masks = table.column("image").to_pylist(), table.column("mask").to_pylist()
    depths = table.column("depth").to_pylist()
    knowns = table.column("depth_known").to_pylist() if "depth_known" in table.column_names else [None] * len(depths)
    for image, mask, depth, known in zip(images, masks, depths, knowns):
        stats.add_rgb(IMAGE, decode(image["bytes"]), len(image["bytes"]))
        stats.add_mask(decode(mask["bytes"]), len(mask["bytes"]))
        if depth is not None:
            stats.add_depth(decode(depth["bytes"]), len(depth["bytes"]), decode(known["bytes"]) if known else None)
    return stats


def recompute(out, progress: bool = False) -> DatasetStats:
    """The statistics of a built dataset from its shards alone (after a relabel, or a dataset built
    elsewhere); equal to the ones accumulated while generating."""
    out = Path(out)
    stats = DatasetStats()
    shards = load_manifest(out)["shards"]
    for shard in tqdm(shards, desc="stats", unit="shard", disable=not progress, dynamic_ncols=True):
        stats.merge(shard_stats(out, shard["path"], shard["config"]))
    return stats


def shard_stats(out, path: str, config: str) -> DatasetStats:
    """Statistics of one stored shard, from its bytes."""
    table = read_shard(out, path)
    return fg_bg_table_stats(table) if config == FG_BG else input_table_stats(config, table)


def dataset_stats(out, manifest: dict, recompute: bool = False, progress: bool = False) -> tuple[DatasetStats, list[str]]:
    """The dataset's statistics, merged from the manifest's per-shard records. A shard recorded without
    them (by an older version), or with `recompute` every shard, is decoded; a shard whose decoded
    statistics were missing from or differ from the manifest gets them recorded. Returns the merged
    statistics and the paths of those shards."""
    merged, changed = DatasetStats(), []
    for shard in tqdm(manifest["shards"], desc="stats", unit="shard", disable=not (progress and recompute), dynamic_ncols=True):
        if shard.get("stats") and not recompute:
            merged.merge(stats_from_record(shard["stats"]))
            continue
        record = stats_record(shard_stats(out, shard["path"], shard["config"]))
        if record != shard.get("stats"):
            shard["stats"] = record
            changed.append(shard["path"])
        merged.merge(stats_from_record(record))
    if changed:
        write_json(Path(out) / MANIFEST, manifest)
    return merged, changed
