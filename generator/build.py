"""A build, start to end: decide the depth plan, load the sources (and the teacher) once, plan the shards,
keep the intact ones of an interrupted build, build the rest on an engine with the one scheduling loop
(engines/), then write the input configs, statistics, gallery, manifest and card."""

from __future__ import annotations

from collections import Counter
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .config import BuildOptions, DepthPlan, RunOptions, TeacherRun
from .dataset.card import write_card
from .dataset.stats import shard_stats
from .engines import Engine
from .engines.job import write_input_configs
from .engines.local import InlineEngine, PoolEngine, worker_processes
from .engines.loop import run_shards
from .errors import OutputError, UserError, describe_os_error
from .output import manifest as manifest_io
from .output.folder import OutputFolder, build_lock, check_engine, remove_temporaries, repair_folder_swap, write_json
from .output.manifest import ShardRecord
from .output.reader import intact_shards, reusable_shards, unlisted_files
from .pipeline.moments import DatasetStats
from .pipeline.placement_counts import PlacementCounts
from .progress import StepBar
from .pipeline.plan import ShardSpec, check_positions, plan_shards
from .pipeline.shard import ShardContext, make_context, placement_without_teacher
from .pipeline.sources import Sources
from .schema import BACKGROUNDS, CARD, DATASET_DIRS, FG_BG, FOREGROUNDS, GALLERY_DIR, MANIFEST, STATS, shard_path
from .rules import PlacementRule


@dataclass
class BuildSummary:
    out: Path | str  # a folder or a URL
    shards: list[ShardRecord]
    seconds: float
    rows_per_split: dict[str, int] = field(default_factory=dict)
    kept: int = 0  # fg_bg shards of an earlier (interrupted) build kept after checking their sha256
    built: int = 0  # fg_bg shards built by this run
    skipped: list = field(default_factory=list)  # SkippedInput: files not read (unread types, bad ones with --skip-bad-inputs)
    unchanged: bool = False  # a finished build of the same dataset was found whole: nothing was written
    placements: PlacementCounts | None = None  # how the fg_bg shards' samples were placed

    @classmethod
    def of(cls, out, records: list[ShardRecord], **kwargs) -> "BuildSummary":
        counted = [r.placements for r in records if r.placements is not None]
        return cls(out, records, 0.0, split_rows(records), placements=PlacementCounts.total(counted), **kwargs)

    @property
    def samples(self) -> int:
        return sum(self.rows_per_split.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    @property
    def hidden_objects(self) -> int:
        return sum(s.hidden_objects for s in self.shards)

    def describe(self) -> str:
        if self.unchanged:
            return f"nothing to do: {len(self.shards)} shards verified -> {self.out}"
        splits = ", ".join(f"{split} {rows:,}" for split, rows in self.rows_per_split.items())
        rate = self.samples / self.seconds if self.seconds else 0.0
        resumed = f"; resumed: kept {self.kept} verified shards, built {self.built}" if self.kept else ""
        skipped = f"; skipped {len(self.skipped)} bad input files (listed in the manifest)" if self.skipped else ""
        placed = f"\n{self.placements.describe()}" if self.placements else ""
        hidden = f"; {self.hidden_objects:,} labelled objects hidden entirely, left out of the labels" if self.hidden_objects else ""
        return (
            f"{self.samples:,} samples ({splits}) in {len(self.shards)} files, {self.bytes / 1e6:,.1f} MB, "
            f"{self.seconds:,.1f} s, {rate:,.0f} samples/s -> {self.out}{resumed}{skipped}{hidden}{placed}"
        )


def build(options: BuildOptions, run: RunOptions) -> BuildSummary:
    """Build into `run.out`, or finish an interrupted build there: shards already written and intact are
    kept, the others built. One build at a time per folder (output.folder.build_lock)."""
    started = time.perf_counter()
    options.validate()
    check_engine(run.out, run.engine, run.workers)
    if run.engine == "ray":
        from .engines.ray import import_ray

        import_ray()  # without Ray: one line on how to install it, before any work
    elif run.workers > 1 and not _one_shard(options):
        worker_processes()  # the workers' server starts up beside the loading of the inputs
    plan = DepthPlan.of(options, run.teacher, run.engine)
    _models_reachable(plan)  # offline, a model that cannot be had stops the build before any input is read
    teacher_run = _teacher_run(plan)
    with OutputFolder(run.out) as folder, _removed_if_left_empty(folder.local):
        summary = _build_into(options, run, plan, teacher_run, folder)
        folder.publish()  # a URL: the input configs, then the card, then the manifest
    summary.seconds = time.perf_counter() - started
    return summary


def _build_into(options: BuildOptions, run: RunOptions, plan: DepthPlan, teacher_run: TeacherRun | None, folder: OutputFolder) -> BuildSummary:
    """`folder.local` is the output folder, or for a URL a local staging folder for everything but the
    fg_bg shards, which go to `folder.shards` (a URL build starts afresh: no resume, no lock)."""
    out = folder.local
    existing = manifest_io.check_output(folder.target, options, run.overwrite, teacher_run)  # refuse before creating anything
    card = (existing or {}).get("card")  # the card's repo id, title and license outlive a rebuild
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(describe_os_error(error, out)) from None
    # `beside`: a thread for work that needs only the inputs, done while the inputs load or shards build.
    with build_lock(out) as lock, _folder_loss_explained(lock), _temporaries_removed_on_failure(out), \
            ThreadPoolExecutor(max_workers=1) as beside:
        previous = manifest_io.prepare_output(folder.target, options, run.overwrite, teacher_run)
        remove_temporaries(out, DATASET_DIRS)
        repair_folder_swap(out / GALLERY_DIR)
        # The gallery's sheet of edge and light options is drawn from the inputs alone: from the start where
        # the placement is known without a teacher, else once the teacher has labelled the backgrounds.
        early = placement_without_teacher(options) if run.gallery and not plan.models else None
        edges = beside.submit(_edges_and_light, options, early) if early else None
        context, teacher = make_context(options, plan, run.skip_bad_inputs, threads=run.workers)
        sources = context.sources
        for line in sources.warnings():
            print(line, file=sys.stderr)
        check_positions(options, [fg.rgba.shape[:2] for fg in sources.foregrounds])
        shards = plan_shards(context.grid, options)
        planned = {split: sum(s.rows for s in shards if s.split == split) for split in dict.fromkeys(s.split for s in shards)}
        depth_info = {"meaning": context.depth.meaning, **({"teacher": teacher.info} if teacher else {}),
                      **({"background_model": context.background_model} if context.background_model else {})}
        kept = reusable_shards(out, previous, manifest_io.inputs_record(options, sources, depth_info.get("teacher"), context.background_model))
        _remove_unplanned(out, previous, _planned_paths(shards), run.overwrite)
        geometry = geometry_record(context)
        todo = [s for s in shards if shard_path(FG_BG, s.split, s.index, s.count) not in kept]
        if not todo:
            verified = [*kept.values(), *_intact_inputs(out, previous)]
            if _finished(out, previous, run, manifest_io.manifest_data(options, sources, depth_info, split_rows(verified), verified, card=card, geometry=geometry, teacher_run=teacher_run)):
                return BuildSummary.of(folder.url or out, verified, kept=len(kept), skipped=sources.skipped, unchanged=True)
        progress = _Progress(out, options, sources, depth_info, planned, list(kept.values()), card, geometry, teacher_run, lock.check)
        # The teacher labels shards here, unless the plan gives every worker its own copy.
        labeller = teacher if not plan.teacher_in_workers else None
        if run.gallery and edges is None:
            edges = beside.submit(_edges_and_light, options, context.placement)
        engine = _engine(context, todo, folder.shards, run, plan) if todo else None
        # While worker processes (or Ray) build the shards this process mostly waits: it writes the
        # input configs meanwhile (they need no shard). Building shards itself, it does all in series.
        overlap = engine is not None and not isinstance(engine, InlineEngine)
        input_configs = beside.submit(write_input_configs, context, shards, out, progress.add) if overlap else None
        built = run_shards(engine, context, todo, labeller, run.progress, progress.add) if engine else []
        by_path = {record.path: record for record in built}
        records = [by_path.get(path) or kept[path] for path in (shard_path(FG_BG, s.split, s.index, s.count) for s in shards)]
        records += input_configs.result() if input_configs else write_input_configs(context, shards, out, progress.add)
        summary = BuildSummary.of(folder.url or out, records, kept=len(kept), built=len(todo), skipped=sources.skipped)
        _refuse_empty_splits(summary)
        # The manifest says `complete` only once everything else is written; until then the card and the
        # gallery are drawn from it in memory (readers refuse an unfinished dataset).
        manifest = manifest_io.manifest_data(options, sources, depth_info, summary.rows_per_split, records, card=card, geometry=geometry, teacher_run=teacher_run)
        finishing = StepBar(run.progress, ["statistics", *(["gallery"] if run.gallery else []), "card"])
        finishing.next()
        write_json(out / STATS, merge_stats(out, records).to_json())
        if run.gallery:
            from .dataset.gallery import write_gallery

            finishing.next()
            write_gallery(out, folder.shards, manifest, options, edges.result())
        finishing.next()
        write_card(out, manifest=manifest, shards_root=folder.shards)
        lock.check()  # OUT moved or removed meanwhile: its shards are elsewhere or gone, never `complete`
        write_json(out / MANIFEST, manifest)
        finishing.close()
    return summary


@contextmanager
def _folder_loss_explained(lock):
    """A write that failed because OUT was moved or removed under the build (a shard or the manifest meeting
    a missing folder) ends with the lock's account of that, not "No such file or directory"."""
    try:
        yield
    except (OSError, OutputError):
        lock.check()
        raise


@contextmanager
def _temporaries_removed_on_failure(out: Path):
    """A build that fails or is interrupted leaves nothing half-written: by the time this runs its workers
    are stopped (the engine's close) and its own writes have ended, and it still holds the lock."""
    try:
        yield
    except BaseException:
        remove_temporaries(out, DATASET_DIRS)
        raise


@contextmanager
def _removed_if_left_empty(out: Path):
    """A build that creates OUT and fails before writing a file (a teacher that cannot be downloaded, a bad
    input) leaves no empty folder behind; a folder that existed before is left as it was."""
    created = not out.exists()
    try:
        yield
    except BaseException:
        if created:
            for folder, _, _ in sorted(os.walk(out), key=lambda entry: -len(entry[0])):
                try:
                    os.rmdir(folder)  # only empty folders go: any file written keeps its folders
                except OSError:
                    pass
        raise


def _intact_inputs(out: Path, previous: dict | None) -> list[ShardRecord]:
    """The input configs' shards of a previous build, if every one still matches its manifest entry."""
    entries = [entry for entry in (previous or {}).get("shards", []) if entry["config"] != FG_BG]
    intact = intact_shards(out, {"shards": entries})
    return list(intact.values()) if len(intact) == len(entries) else []


def _teacher_run(plan: DepthPlan) -> TeacherRun | None:
    """The models' settings resolved (device, dtype, threads): part of what the dataset is. The background
    model and the teacher share them (only the model differs)."""
    if not plan.models:
        return None
    from .pipeline.teacher import teacher_run

    return teacher_run(plan.models[0])


def _models_reachable(plan: DepthPlan) -> None:
    """Each model of the plan is a local folder, in the cache, or downloadable: else one line now (naming
    it and the ways out), not after every input has been decoded."""
    if not plan.models:
        return
    from .hub import cached_only
    from .pipeline.teacher import BACKGROUND_ROLE, DEPTH_ROLE

    for settings, role in ((plan.background_model, BACKGROUND_ROLE), (plan.teacher, DEPTH_ROLE)):
        if settings is not None:
            cached_only(settings.model, role.what, role.offline_ways)


def _finished(out: Path, previous: dict | None, run: RunOptions, manifest: dict) -> bool:
    """A rerun of a finished build finds nothing to do when every shard is intact (checked by the caller
    and _intact_inputs), the manifest it would write is the one there, and so are its statistics, card
    and, if asked for, gallery: then no file is touched."""
    if not previous or not previous.get("complete") or {**manifest, "complete": True} != previous:
        return False
    derived = [out / STATS, out / CARD] + ([out / GALLERY_DIR] if run.gallery else [])
    return all(path.exists() for path in derived)


def _edges_and_light(options: BuildOptions, placement: PlacementRule):
    from .dataset.gallery import EdgesAndLight, edges_and_light
    from .output.model import DatasetRules

    return EdgesAndLight(edges_and_light(DatasetRules(options, options.depth, placement), options))


def _one_shard(options: BuildOptions) -> bool:
    """Whether the build is known to fit one shard, so that no worker process will be started."""
    at_most = options.samples_at_most()
    return at_most is not None and at_most <= options.shard_size


def _engine(context: ShardContext, shards: list[ShardSpec], out, run: RunOptions, plan: DepthPlan) -> Engine:
    if run.engine == "ray":
        from .engines.ray import RayEngine

        return RayEngine(context, out, run, len(shards), plan.teacher if plan.teacher_in_workers else None)
    if run.workers <= 1 or len(shards) == 1:  # one shard: building it here beats waiting for a worker to start
        return InlineEngine(context, out)
    return PoolEngine(context, out, min(run.workers, len(shards)))


class _Progress:
    """The progress record: the manifest, rewritten atomically with `complete: false` and the files
    finished so far each time one is written (in the parent process, after the file's rename), so every
    Parquet file in OUT is in the manifest even if the build is killed."""

    def __init__(self, out: Path, options: BuildOptions, sources: Sources, depth_info: dict, rows: dict, done: list, card: dict | None, geometry: dict,
                 teacher_run: TeacherRun | None, check_folder=lambda: None):
        self.check_folder = check_folder  # raises once OUT was moved or removed: the build stops at the next file
        self._manifest = manifest_io.ProgressManifest(out, options, sources, depth_info, rows, card, geometry, teacher_run)
        self._lock = threading.Lock()  # shards and input configs finish on different threads
        self._manifest.write(list(done))

    def add(self, record: ShardRecord) -> None:
        self.check_folder()
        with self._lock:
            self._manifest.write([record])


def geometry_record(context: ShardContext) -> dict:
    """The manifest's account of the placement: the rule in force, where the backgrounds' cameras came
    from, and how many show a floor."""
    backgrounds = context.sources.backgrounds
    origins = Counter(b.intrinsics_source for b in backgrounds if b.intrinsics_source)
    return {"placement": context.placement, "intrinsics": dict(sorted(origins.items())),
            "backgrounds_with_floor": sum(b.floor is not None for b in backgrounds)}


def split_rows(records: list[ShardRecord]) -> dict[str, int]:
    """The rows of each split's fg_bg shards: the planned samples, less those the strict floor rule left out."""
    splits = dict.fromkeys(r.split for r in records if r.config == FG_BG)
    return {split: sum(r.rows for r in records if r.config == FG_BG and r.split == split) for split in splits}


def _refuse_empty_splits(summary: BuildSummary) -> None:
    """A split whose every sample the strict floor rule left out would be a split without data."""
    empty = [split for split, rows in summary.rows_per_split.items() if rows == 0]
    if empty:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in summary.placements.reasons(summary.placements.left_out).items())
        raise UserError(
            f"--placement floor left out every sample of the {' and '.join(empty)} split ({reasons}): no cut-out stands on "
            "the floor at its true size; check --fg-heights, or use --placement auto to place those by the uniform rule"
        )


def _planned_paths(shards: list[ShardSpec]) -> set[str]:
    """Every file this build writes under the configs' folders: its fg_bg shards, and one file of each
    input config per split (engines.job.write_input_configs)."""
    splits = dict.fromkeys(s.split for s in shards)
    return ({shard_path(FG_BG, s.split, s.index, s.count) for s in shards}
            | {shard_path(config, split, 0, 1) for split in splits for config in (BACKGROUNDS, FOREGROUNDS)})


def _remove_unplanned(out: Path, previous: dict | None, planned: set[str], overwrite: bool) -> None:
    """Files under the configs' folders that this build does not write would be read as data. The
    previous manifest's own (a build from other inputs) go; a file no manifest lists (a stray shard, a
    file copied in) is named and goes only with --overwrite, never silently."""
    stray = unlisted_files(out, previous, planned)
    if stray and not overwrite:
        named = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise UserError(
            f"--out {out} holds files its {MANIFEST} does not list: {named} (load_dataset would read them as data); "
            "move them away, or pass --overwrite to remove them"
        )
    for relative in unlisted_files(out, None, planned):
        (out / relative).unlink()
    if stray:
        print(f"removed {len(stray)} files that {MANIFEST} did not list: {', '.join(stray)}", file=sys.stderr)


def merge_stats(out: Path, records: list[ShardRecord]) -> DatasetStats:
    """Sums add exactly, so the order shards finish in does not change a bit of stats.json. Each record
    carries its shard's statistics (kept shards: from the manifest); only a shard recorded without them
    (by an older version) is decoded again."""
    merged = DatasetStats()
    for record in records:
        merged.merge(record.stats if record.stats is not None else shard_stats(out, record.path, record.config))
    return merged
