"""The local engine: load sources once, plan the shards, build them on a pool of worker processes (one job
per shard file), then write the input configs, the manifest and the card."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import manifest as manifest_io
from .card import write_card
from .depth import make_depth_stage
from .encode import encode_depth, encode_image, encode_png
from .options import BuildOptions, RunOptions
from .plan import ShardSpec, plan_shards
from .schema import BACKGROUNDS, FG_BG, FOREGROUNDS, STATS, shard_path
from .shard import ShardContext, build_table
from .sources import Sources, load_sources
from .stats import DatasetStats, input_table_stats
from .writer import image_cell, rows_to_table, sha256_file, write_json, write_table


@dataclass
class ShardResult:
    path: str  # relative to the output folder
    config: str
    split: str
    rows: int
    bytes: int
    sha256: str
    stats: DatasetStats | None = None  # pixel statistics of this shard, merged in build()

    def to_manifest(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "stats"}


@dataclass
class BuildSummary:
    out: Path
    shards: list[ShardResult]
    seconds: float
    rows_per_split: dict[str, int] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(self.rows_per_split.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def describe(self) -> str:
        splits = ", ".join(f"{split} {rows:,}" for split, rows in self.rows_per_split.items())
        rate = self.samples / self.seconds if self.seconds else 0.0
        return (
            f"{self.samples:,} samples ({splits}) in {len(self.shards)} files, {self.bytes / 1e6:,.1f} MB, "
            f"{self.seconds:,.1f} s, {rate:,.0f} samples/s -> {self.out}"
        )


def build(options: BuildOptions, run: RunOptions) -> BuildSummary:
    started = time.perf_counter()
    options.validate()
    out = Path(run.out)
    manifest_io.prepare_output(out, options, run.overwrite)
    sources = load_sources(options)
    context = ShardContext(options, sources, make_depth_stage(options.depth, sources))
    shards = plan_shards(context.grid, options)
    results = _build_shards(context, shards, out, run)
    results += _write_input_configs(context, shards, out)
    rows = {split: sum(r.rows for r in results if r.config == FG_BG and r.split == split) for split in _splits(shards)}
    summary = BuildSummary(out, results, time.perf_counter() - started, rows)
    manifest_io.write_manifest(out, options, sources, context.depth.meaning, summary)
    write_json(out / STATS, merge_stats(results).to_json())
    if run.gallery:
        from .gallery import write_gallery  # matplotlib is imported only when a gallery is drawn

        write_gallery(out)
    write_card(out)
    return summary


def merge_stats(results: list[ShardResult]) -> DatasetStats:
    """Histograms add exactly, so the order shards finish in does not change a bit of stats.json."""
    merged = DatasetStats()
    for result in results:
        if result.stats is not None:
            merged.merge(result.stats)
    return merged


def _splits(shards: list[ShardSpec]) -> list[str]:
    return list(dict.fromkeys(s.split for s in shards))


# --- fg_bg shards on worker processes ---------------------------------------------------------------

_worker_context: ShardContext | None = None


def _init_worker(context: ShardContext) -> None:
    global _worker_context
    _worker_context = context


def _build_one(spec: ShardSpec, out: Path) -> ShardResult:
    return write_shard(_worker_context, spec, out)


def write_shard(context: ShardContext, spec: ShardSpec, out: Path) -> ShardResult:
    relative = shard_path(FG_BG, spec.split, spec.index, spec.count)
    path = out / relative
    stats = DatasetStats()
    write_table(build_table(context, spec, stats), path, FG_BG)
    return ShardResult(relative, FG_BG, spec.split, spec.rows, path.stat().st_size, sha256_file(path), stats)


def _build_shards(context: ShardContext, shards: list[ShardSpec], out: Path, run: RunOptions) -> list[ShardResult]:
    total = sum(s.rows for s in shards)
    bar = tqdm(total=total, unit="sample", desc="fg_bg", disable=not run.progress, dynamic_ncols=True)
    results: list[ShardResult] = []
    with bar:
        if run.workers <= 1:
            for spec in shards:
                results.append(write_shard(context, spec, out))
                bar.update(spec.rows)
            return results
        # spawn, not fork: the parent may hold torch or threads that a fork would copy half-locked.
        pool = ProcessPoolExecutor(
            max_workers=min(run.workers, len(shards)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(context,),
        )
        with pool:
            futures = [pool.submit(_build_one, spec, out) for spec in shards]
            for future in as_completed(futures):
                bar.update(future.result().rows)
    return [future.result() for future in futures]


# --- backgrounds and foregrounds configs ------------------------------------------------------------


def _write_input_configs(context: ShardContext, shards: list[ShardSpec], out: Path) -> list[ShardResult]:
    """One small shard per split for each input config, holding the inputs that split's samples use."""
    grid, options, sources = context.grid, context.options, context.sources
    results = []
    for split in _splits(shards):
        samples = [s.samples for s in shards if s.split == split]
        bg, fg, _, _ = grid.decompose(np.concatenate(samples))
        tables = {
            BACKGROUNDS: _background_table(sources, sorted(set(bg.tolist())), options),
            FOREGROUNDS: _foreground_table(sources, sorted(set(fg.tolist()))),
        }
        for config, table in tables.items():
            relative = shard_path(config, split, 0, 1)
            write_table(table, out / relative, config)
            path = out / relative
            stats = input_table_stats(config, table)
            results.append(ShardResult(relative, config, split, table.num_rows, path.stat().st_size, sha256_file(path), stats))
    return results


def _background_table(sources: Sources, ids: list[int], options: BuildOptions):
    columns: dict[str, list] = {"bg_id": [], "name": [], "image": [], "depth": [], "depth_min": [], "depth_max": []}
    for bg_id in ids:
        background = sources.backgrounds[bg_id]
        depth = encode_depth(background.depth) if background.depth is not None else (None, None, None)
        columns["bg_id"].append(bg_id)
        columns["name"].append(background.name)
        columns["image"].append(image_cell(encode_image(background.rgb, options.image_format, options.jpeg_quality)))
        columns["depth"].append(image_cell(depth[0]))
        columns["depth_min"].append(depth[1])
        columns["depth_max"].append(depth[2])
    return rows_to_table(BACKGROUNDS, columns)


def _foreground_table(sources: Sources, ids: list[int]):
    columns: dict[str, list] = {"fg_id": [], "name": [], "image": [], "mask": []}
    for fg_id in ids:
        foreground = sources.foregrounds[fg_id]
        columns["fg_id"].append(fg_id)
        columns["name"].append(foreground.name)
        columns["image"].append(image_cell(encode_png(foreground.rgba)))
        columns["mask"].append(image_cell(encode_png(foreground.rgba[..., 3])))
    return rows_to_table(FOREGROUNDS, columns)

