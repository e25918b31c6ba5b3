"""A build, start to end: load sources (and the teacher) once, plan the shards, keep the intact ones of an
interrupted build, build the rest on an engine (here: the local one, a pool of worker processes, one job
per shard file; engine_ray.py: a Ray cluster), then write the input configs, statistics, gallery,
manifest and card."""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.forkserver
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from tqdm import tqdm

from .output import manifest as manifest_io
from .output import folder as storage
from .dataset.card import write_card
from .pipeline.depth import NoDepth, PrecomputedDepth, label_backgrounds, load_teacher, make_depth_stage
from .pipeline.encode import encode_depth, encode_image, encode_png
from .errors import OutputError, describe_os_error
from .config import BuildOptions, RunOptions, TeacherSettings
from .outdir import build_lock, remove_temporaries
from .pipeline.plan import ShardSpec, check_positions, plan_shards
from .schema import BACKGROUNDS, CONFIG_DIRS, FG_BG, FOREGROUNDS, GALLERY_DIR, STATS, shard_path
from .pipeline.shard import ShardContext, build_table, shard_composites
from .pipeline.sources import Sources, load_sources
from .pipeline.moments import DatasetStats, input_table_stats, shard_stats
from .output.parquet import rows_to_table, sha256_file, write_json, write_table

if TYPE_CHECKING:
    from .pipeline.teacher import DepthTeacher


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
    out: Path | str  # a folder or a URL
    shards: list[ShardResult]
    seconds: float
    rows_per_split: dict[str, int] = field(default_factory=dict)
    kept: int = 0  # fg_bg shards of an earlier (interrupted) build kept after checking their sha256
    built: int = 0  # fg_bg shards built by this run
    skipped: list[dict] = field(default_factory=list)  # bad inputs left out (--skip-bad-inputs)

    @property
    def samples(self) -> int:
        return sum(self.rows_per_split.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def describe(self) -> str:
        splits = ", ".join(f"{split} {rows:,}" for split, rows in self.rows_per_split.items())
        rate = self.samples / self.seconds if self.seconds else 0.0
        resumed = f"; resumed: kept {self.kept} verified shards, built {self.built}" if self.kept else ""
        skipped = f"; skipped {len(self.skipped)} bad input files (listed in the manifest)" if self.skipped else ""
        return (
            f"{self.samples:,} samples ({splits}) in {len(self.shards)} files, {self.bytes / 1e6:,.1f} MB, "
            f"{self.seconds:,.1f} s, {rate:,.0f} samples/s -> {self.out}{resumed}{skipped}"
        )


def build(options: BuildOptions, run: RunOptions) -> BuildSummary:
    """Build into `run.out`, or finish an interrupted build there: shards already written and intact are
    kept, the others built. One build at a time per folder (outdir.build_lock)."""
    started = time.perf_counter()
    options.validate()
    storage.check_engine(run.out, run.engine, run.workers)
    if run.engine == "ray":
        from .engines.ray import import_ray

        import_ray()  # without Ray: one line on how to install it, before any work
    elif run.workers > 1:
        worker_processes()  # the workers' server starts up beside the loading of the inputs
    with storage.OutputFolder(run.out) as folder:
        if folder.url:
            storage.prepare_remote(folder.url, options, run.overwrite)
        summary = _build_into(options, run, folder)
        folder.publish()  # a URL: the input configs, then the manifest, then the card
    summary.seconds = time.perf_counter() - started
    return summary


def _build_into(options: BuildOptions, run: RunOptions, folder: storage.OutputFolder) -> BuildSummary:
    """`folder.local` is the output folder, or for a URL a local staging folder for everything but the
    fg_bg shards, which go to `folder.shards` (a URL build starts afresh: no resume, no lock)."""
    out = folder.local
    existing = manifest_io.check_output(out, options, run.overwrite)  # refuse before creating anything
    card = (existing or {}).get("card")  # the card's repo id, title and license outlive a rebuild
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(describe_os_error(error, out)) from None
    with build_lock(out):
        previous = manifest_io.prepare_output(out, options, run.overwrite)
        remove_temporaries(out, [*CONFIG_DIRS.values(), GALLERY_DIR])
        context, teacher = make_context(options, run.teacher, run.skip_bad_inputs, threads=run.workers)
        sources = context.sources
        for skipped in sources.skipped:
            named = "" if skipped["file"] in skipped["reason"] else f"{skipped['file']}: "
            print(f"warning: skipping {skipped['input']} {named}{skipped['reason']}", file=sys.stderr)
        check_positions(options, [fg.rgba.shape[:2] for fg in sources.foregrounds])
        shards = plan_shards(context.grid, options)
        rows = {split: sum(s.rows for s in shards if s.split == split) for split in _splits(shards)}
        kept = manifest_io.reusable_shards(out, previous, manifest_io.inputs_record(options, sources))
        _remove_unplanned(out, shards)
        depth_info = {"meaning": context.depth.meaning, **({"teacher": teacher.info} if teacher else {})}
        progress = _Progress(out, options, sources, depth_info, rows, list(kept.values()), card)
        todo = [s for s in shards if shard_path(FG_BG, s.split, s.index, s.count) not in kept]
        model = teacher if options.depth == "model" else None
        with ThreadPoolExecutor(max_workers=1) as beside:
            # With worker processes (or Ray) this process mostly waits while the shards are built: it
            # writes the input configs meanwhile (they need no shard) and imports the gallery's
            # matplotlib. With --workers 1 it is the worker, and everything runs in series on one core.
            overlap = run.workers > 1 or run.engine == "ray"
            input_configs = beside.submit(_write_input_configs, context, shards, out, progress.add) if overlap else None
            if overlap and run.gallery:
                beside.submit(importlib.import_module, f"{__package__}.dataset.gallery")
            built = {r.path: r for r in _run_engine(context, todo, folder.shards, run, model, progress.add)}
            results = [
                built.get(path) or ShardResult(**kept[path])
                for path in (shard_path(FG_BG, s.split, s.index, s.count) for s in shards)
            ]
            results += input_configs.result() if input_configs else _write_input_configs(context, shards, out, progress.add)
        summary = BuildSummary(folder.url or out, results, 0.0, rows, kept=len(kept), built=len(todo), skipped=sources.skipped)
        manifest_io.write_manifest(out, options, sources, depth_info, summary, card=card)
        write_json(out / STATS, merge_stats(out, results).to_json())
        if run.gallery:
            from .dataset.gallery import write_gallery  # matplotlib is imported only when a gallery is drawn

            write_gallery(out, folder.shards)
        write_card(out)
    return summary


def _run_engine(context: ShardContext, shards: list[ShardSpec], out, run: RunOptions, teacher, on_done) -> list[ShardResult]:
    """Every engine has the same contract: build `shards` with write_shard, call `on_done(result)` as each
    is published, return the results in shard order."""
    if run.engine == "ray":
        from .engines.ray import run_shards

        return run_shards(context, shards, out, run, teacher, on_done)
    return _build_shards(context, shards, out, run, teacher, on_done)


def make_context(options: BuildOptions, settings: TeacherSettings, skip_bad: bool = False, threads: int = 1) -> tuple[ShardContext, "DepthTeacher | None"]:
    """Sources (decoded on `threads` threads), and the depth model if any, loaded once, in this process.
    The backgrounds get the model's depth too: the backgrounds config carries it, and --depth scene
    builds on it."""
    sources = load_sources(options, skip_bad=skip_bad, threads=threads)
    model = {"model": options.depth_model, "scene": options.background_depth_model}.get(options.depth)
    teacher = load_teacher(model, settings) if model else None
    if teacher is not None:
        label_backgrounds(sources, teacher)
    return ShardContext(options, sources, make_depth_stage(options.depth, sources, teacher)), teacher


class _Progress:
    """The progress record: the manifest, rewritten atomically with `complete: false` and the files
    finished so far each time one is written (in the parent process, after the file's rename), so every
    Parquet file in OUT is in the manifest even if the build is killed."""

    def __init__(self, out: Path, options: BuildOptions, sources: Sources, depth_info: dict, rows: dict, done: list, card: dict | None):
        self.args = (out, options, sources, depth_info)
        self.rows = rows
        self.done = list(done)
        self.card = card
        self._lock = threading.Lock()  # shards and input configs finish on different threads
        self._write()

    def add(self, result: ShardResult) -> None:
        with self._lock:
            self.done.append(result)
            self._write()

    def _write(self) -> None:
        summary = BuildSummary(self.args[0], self.done, 0.0, self.rows)
        manifest_io.write_manifest(*self.args, summary, complete=False, card=self.card)


def _remove_unplanned(out: Path, shards: list[ShardSpec]) -> None:
    """fg_bg files this plan does not write (left by a build from other inputs) would be read as data."""
    planned = {Path(shard_path(FG_BG, s.split, s.index, s.count)).name for s in shards}
    folder = out / CONFIG_DIRS[FG_BG]
    if folder.is_dir():
        for path in folder.glob("*.parquet"):
            if path.name not in planned:
                path.unlink()


def merge_stats(out: Path, results: list[ShardResult]) -> DatasetStats:
    """Sums add exactly, so the order shards finish in does not change a bit of stats.json. Shards kept
    from an interrupted build carry no statistics: they are read back (the only decode pass, resume only)."""
    merged = DatasetStats()
    for result in results:
        merged.merge(result.stats if result.stats is not None else shard_stats(out, result.path, result.config))
    return merged


def _splits(shards: list[ShardSpec]) -> list[str]:
    return list(dict.fromkeys(s.split for s in shards))


# --- fg_bg shards on worker processes ---------------------------------------------------------------

_worker_context: ShardContext | None = None


def _init_worker(context: ShardContext) -> None:
    global _worker_context
    _worker_context = context


def worker_processes() -> multiprocessing.context.BaseContext:
    """Where the local engine's workers come from: a fork server, a clean process that imported this
    module once (about a second: pyarrow, datasets). Each worker is a fork of it, ready at once; not a
    fork of this process, which may hold torch or threads that a fork would copy half-locked, and not a
    fresh interpreter per worker (spawn), which would import everything again, in series with the build.
    Calling this early starts the server while this process loads its inputs."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    multiprocessing.forkserver.ensure_running()
    return context


def _build_one(spec: ShardSpec, out: Path, depths: np.ndarray | None) -> ShardResult:
    return write_shard(_worker_context, spec, out, depths)


def write_shard(context: ShardContext, spec: ShardSpec, out: Path | str, depths: np.ndarray | None = None) -> ShardResult:
    """Build one fg_bg shard and publish it atomically at `out` (a folder or a URL), from any engine's
    worker; `depths` are the teacher's maps for its rows, when a teacher in another process computed them."""
    if depths is not None:
        context = replace(context, depth=PrecomputedDepth(depths))
    relative = shard_path(FG_BG, spec.split, spec.index, spec.count)
    stats = DatasetStats()
    size, digest = storage.write_file(out, relative, lambda path: write_table(build_table(context, spec, stats), path, FG_BG))
    return ShardResult(relative, FG_BG, spec.split, spec.rows, size, digest, stats)


def _build_shards(context: ShardContext, shards: list[ShardSpec], out: Path, run: RunOptions, teacher: "DepthTeacher | None", on_done=None) -> list[ShardResult]:
    """Build `shards`, calling `on_done(result)` as each one is on disk. With a teacher, this process
    composites each shard (a thread, one shard ahead) and runs the model over all of it in full batches
    while the workers encode and write the shards before it: the GPU never waits on encoding. The first failure (in a worker too: the
    pool re-raises it here, and UserError/OutputError keep their one-line message) cancels the shards
    not started yet."""

    on_done = on_done or (lambda result: None)
    if not shards:
        return []
    bar = tqdm(total=sum(s.rows for s in shards), unit="sample", desc="fg_bg", disable=not run.progress, dynamic_ncols=True)
    with bar:
        if run.workers <= 1:
            results = []
            for spec, depths in zip(shards, _depth_maps(context, teacher, shards)):
                results.append(write_shard(context, spec, out, depths))
                on_done(results[-1])
                bar.update(spec.rows)
            return results
        # Longest shards first: the short last shard of each split then fills the end, when the other
        # workers would otherwise wait on one. Results go back in shard order.
        order = sorted(range(len(shards)), key=lambda i: -shards[i].rows)
        shards = [shards[i] for i in order]
        # The teacher stays here: workers get depth maps, never the model.
        worker_context = replace(context, depth=NoDepth()) if teacher is not None else context
        pool = ProcessPoolExecutor(
            max_workers=min(run.workers, len(shards)),
            mp_context=worker_processes(),
            initializer=_init_worker,
            initargs=(worker_context,),
        )
        with pool:
            futures: list[Future] = []
            pending: set[Future] = set()
            try:
                for spec, depths in zip(shards, _depth_maps(context, teacher, shards)):
                    # Bound the shards in flight, so depth maps waiting for a worker do not pile up.
                    while len(pending) >= 2 * run.workers:
                        pending = _advance(pending, bar, on_done)
                    future = pool.submit(_build_one, spec, out, depths)
                    futures.append(future)
                    pending.add(future)
                while pending:
                    pending = _advance(pending, bar, on_done)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    results = [None] * len(futures)
    for position, future in zip(order, futures):
        results[position] = future.result()
    return results


def _depth_maps(context: ShardContext, teacher: "DepthTeacher | None", shards: list[ShardSpec]) -> Iterator[np.ndarray | None]:
    """The teacher's depth maps of each shard in turn (None without a teacher). A thread composites the
    next shard while the model works on this one, so the device does not wait on compositing."""
    if teacher is None:
        yield from (None for _ in shards)
        return
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        upcoming = prefetch.submit(shard_composites, context, shards[0])
        for index in range(len(shards)):
            composites = upcoming.result()
            if index + 1 < len(shards):
                upcoming = prefetch.submit(shard_composites, context, shards[index + 1])
            yield teacher.predict(composites)


def _advance(pending: set[Future], bar: tqdm, on_done) -> set[Future]:
    done, still = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        on_done(future.result())
        bar.update(future.result().rows)
    return still


# --- backgrounds and foregrounds configs ------------------------------------------------------------


def _write_input_configs(context: ShardContext, shards: list[ShardSpec], out: Path, on_done=None) -> list[ShardResult]:
    """One small shard per split for each input config, holding the inputs that split's samples use;
    `on_done(result)` as each is written."""
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
            if on_done:
                on_done(results[-1])
    return results


def _background_table(sources: Sources, ids: list[int], options: BuildOptions):
    columns: dict[str, list] = {"bg_id": [], "name": [], "image": [], "depth": [], "depth_min": [], "depth_max": []}
    for bg_id in ids:
        background = sources.backgrounds[bg_id]
        depth = encode_depth(background.depth) if background.depth is not None else (None, None, None)
        columns["bg_id"].append(bg_id)
        columns["name"].append(background.name)
        columns["image"].append(encode_image(background.rgb, options.image_format, options.jpeg_quality))
        columns["depth"].append(depth[0])
        columns["depth_min"].append(depth[1])
        columns["depth_max"].append(depth[2])
    return rows_to_table(BACKGROUNDS, columns)


def _foreground_table(sources: Sources, ids: list[int]):
    columns: dict[str, list] = {"fg_id": [], "name": [], "image": [], "mask": []}
    for fg_id in ids:
        foreground = sources.foregrounds[fg_id]
        columns["fg_id"].append(fg_id)
        columns["name"].append(foreground.name)
        columns["image"].append(encode_png(foreground.rgba))
        columns["mask"].append(encode_png(foreground.rgba[..., 3]))
    return rows_to_table(FOREGROUNDS, columns)

