"""One shard job, the same for every engine and for the `datasets` builder: a shard's rows (with the
teacher's depth maps when they were computed elsewhere) written as one Parquet file, published atomically.
The input configs (backgrounds, foregrounds) are written by the same means."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..config import BuildOptions
from ..output.folder import sha256_file, write_file
from ..rules import PlacementRule
from ..output.manifest import ShardRecord
from ..output.parquet import write_row_groups, write_table
from ..pipeline.depth_splice import PlainDepth
from ..pipeline.encode import encode_image, encode_png
from ..pipeline.moments import DatasetStats, input_table_stats
from ..pipeline.placement_counts import PlacementCounts
from ..pipeline.plan import ShardSpec
from ..pipeline.shard import ShardContext, build_table, build_tables
from ..pipeline.sources import Sources
from ..pipeline.table import rows_to_table
from ..schema import BACKGROUNDS, COLUMNS, FG_BG, FOREGROUNDS, shard_path

BACKGROUND_COLUMNS = tuple(COLUMNS[BACKGROUNDS])


def shard_table(context: ShardContext, spec: ShardSpec, depths: np.ndarray | None = None, stats: DatasetStats | None = None,
                counts: PlacementCounts | None = None) -> pa.Table:
    """The shard's table; `depths` are the teacher's maps of its rows when a teacher labelled it."""
    return build_table(_with_depths(context, depths), spec, stats, counts)


def _with_depths(context: ShardContext, depths: np.ndarray | None) -> ShardContext:
    return context if depths is None else replace(context, depth=replace(context.depth, depths=depths))


def write_shard(context: ShardContext, spec: ShardSpec, out: Path | str, depths: np.ndarray | None = None) -> ShardRecord:
    """Build one fg_bg shard and publish it atomically at `out` (a folder or a URL), a row group at a time."""
    relative = shard_path(FG_BG, spec.split, spec.index, spec.count)
    stats, counts = DatasetStats(), PlacementCounts()
    tables = build_tables(_with_depths(context, depths), spec, stats, counts)
    size, digest = write_file(out, relative, lambda path: write_row_groups(tables, path, FG_BG))
    # The strict floor rule may leave samples out: the shard holds the rows it counted, not the spec's.
    return ShardRecord(relative, FG_BG, spec.split, counts.rows, size, digest, stats, counts, stats.hidden_objects)


def write_input_configs(context: ShardContext, shards: list[ShardSpec], out: Path, on_done=None) -> list[ShardRecord]:
    """One small shard per split for each input config, holding the inputs that split's samples use;
    `on_done(record)` as each is written."""
    grid, options, sources = context.grid, context.options, context.sources
    records = []
    for split in dict.fromkeys(s.split for s in shards):
        samples = [s.samples for s in shards if s.split == split]
        bg, fg, _, _ = grid.decompose(np.concatenate(samples))
        tables = {
            BACKGROUNDS: _background_table(sources, sorted(set(bg.tolist())), options),
            FOREGROUNDS: _foreground_table(sources, sorted(set(fg.tolist())), context.placement == PlacementRule.FLOOR),
        }
        for config, table in tables.items():
            relative = shard_path(config, split, 0, 1)
            path = out / relative
            write_table(table, path, config)
            stats = input_table_stats(config, table)
            records.append(ShardRecord(relative, config, split, table.num_rows, path.stat().st_size, sha256_file(path), stats))
            if on_done:
                on_done(records[-1])
    return records


def _background_table(sources: Sources, ids: list[int], options: BuildOptions) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in BACKGROUND_COLUMNS}
    for bg_id in ids:
        background = sources.backgrounds[bg_id]
        stored = background.stored_depth if background.stored_depth is not None else background.depth
        depth = PlainDepth.of(stored) if stored is not None else None
        columns["bg_id"].append(bg_id)
        columns["name"].append(background.name)
        columns["image"].append(encode_image(background.rgb, options.image_format, options.jpeg_quality))
        columns["depth"].append(depth.png() if depth else None)
        columns["depth_min"].append(depth.low if depth else None)
        columns["depth_max"].append(depth.high if depth else None)
        columns["depth_known"].append(depth.known_png() if depth else None)
        columns["intrinsics"].append(background.intrinsics.as_list() if background.intrinsics else None)
        columns["intrinsics_source"].append(background.intrinsics_source)
        columns["ground_plane"].append(background.floor.plane.tolist() if background.floor else None)
    return rows_to_table(BACKGROUNDS, columns)


def _foreground_table(sources: Sources, ids: list[int], on_floor: bool) -> pa.Table:
    """The cut-outs the placements are resized from: at their own resolution (up to --bg-size) for floor
    placement, at --fg-size for the uniform and ground rules."""
    columns: dict[str, list] = {"fg_id": [], "name": [], "image": [], "mask": [], "height_m": [], "category": [], "height_source": []}
    for fg_id in ids:
        foreground = sources.foregrounds[fg_id]
        rgba = foreground.source if on_floor else foreground.rgba
        columns["fg_id"].append(fg_id)
        columns["name"].append(foreground.name)
        columns["image"].append(encode_png(rgba))
        columns["mask"].append(encode_png(rgba[..., 3]))
        columns["height_m"].append(foreground.height_m if on_floor else None)
        columns["category"].append(foreground.category)
        columns["height_source"].append(foreground.height_source if on_floor else None)
    return rows_to_table(FOREGROUNDS, columns)
