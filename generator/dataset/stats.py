"""The statistics of a built dataset recomputed from its stored shards (the `stats` command, resume):
equal, bit for bit, to the ones accumulated while generating (pipeline/moments.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from ..progress import tqdm

from ..output.manifest import load_manifest
from ..pipeline.moments import IMAGE, DatasetStats, decode, input_table_stats
from ..schema import FG_BG


def fg_bg_table_stats(table) -> DatasetStats:
    """Statistics of an fg_bg shard recomputed from its stored bytes (the `stats` command)."""
    stats = DatasetStats()
    images, masks = table.column("image").to_pylist(), table.column("mask").to_pylist()
    depths = table.column("depth").to_pylist()
    for image, mask, depth in zip(images, masks, depths):
        stats.add_rgb(IMAGE, decode(image["bytes"]), len(image["bytes"]))
        stats.add_mask(decode(mask["bytes"]), len(mask["bytes"]))
        if depth is not None:
            stats.add_depth(decode(depth["bytes"]), len(depth["bytes"]))
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
    table = pq.read_table(Path(out) / path)
    return fg_bg_table_stats(table) if config == FG_BG else input_table_stats(config, table)
