"""One shard, end to end: its samples' scenes (scene/) -> drawn (render/) -> depth (depth.py) -> rows
(rows/). A pure function of the options, the sources and the shard's spec; the local engine, the
`datasets` builder and remote engines all call it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from ..config import BuildOptions, DepthPlan, placement_rule
from ..rules import PlacementRule
from ..schema import COLUMNS, FG_BG, ROW_GROUP_SIZE
from .composite import object_masks
from .depth import (DepthStage, FlatObjects, ObjectDepth, label_backgrounds, load_background_model, load_teacher, make_depth_stage,
                    store_teacher_depth)
from .moments import DatasetStats
from .placement import attach_floors
from .placement_counts import PlacementCounts
from .plan import Grid, ShardSpec, split_foregrounds
from .render import Rendered, render
from .rows.background import EncodedBackground, background_jitter_rng, jittered_background
from .rows.encoder import encode_rows
from .scene import Scene
from .scene.compose import GroupScenes, group_scenes
from .sources import Background, Sources, load_sources
from .table import rows_to_table

if TYPE_CHECKING:
    import pyarrow as pa

    from .teacher import DepthTeacher

__all__ = ["ShardContext", "background_jitter_rng", "build_rows", "build_table", "build_tables", "make_context", "row_groups", "shard_composites"]


@dataclass
class ShardContext:
    """What every shard of one build shares; built once per worker process."""

    options: BuildOptions
    sources: Sources
    depth: DepthStage
    placement: PlacementRule = PlacementRule.UNIFORM  # the rule in force (config.placement_rule): floor, uniform or ground
    background_model: dict | None = None  # the record of the model that gave the backgrounds' depth, if one did

    @property
    def grid(self) -> Grid:
        o = self.options
        return Grid(len(self.sources.backgrounds), len(self.sources.foregrounds), len(o.flips), o.placements)

    def with_backgrounds(self, backgrounds: Sequence[Background]) -> "ShardContext":
        """This context reading its backgrounds from `backgrounds` (the same ones, held another way), in
        the sources and in a depth stage that reads the sources' backgrounds."""
        depth = self.depth
        if getattr(depth, "backgrounds", None) is self.sources.backgrounds:
            depth = replace(depth, backgrounds=backgrounds)
        return replace(self, sources=replace(self.sources, backgrounds=backgrounds), depth=depth)

    def scenes(self, group: "Group") -> list[Scene]:
        return self.group_scenes(group).scenes

    def group_scenes(self, group: "Group") -> GroupScenes:
        pool = None
        if self.options.several:
            pool = split_foregrounds(len(self.sources.foregrounds), self.options, group.fg_id)
        return group_scenes(self.options, self.sources, self.placement, group.bg_id, group.fg_id, group.flipped, group.ks, pool)


@dataclass
class Group:
    """Consecutive samples of a shard that share (background, foreground, flip)."""

    bg_id: int
    fg_id: int
    flipped: bool
    ks: np.ndarray  # placement indices 0..K-1


def groups(grid: Grid, samples: np.ndarray) -> Iterator[Group]:
    bg, fg, flip, k = grid.decompose(samples)
    key = (bg * grid.foregrounds + fg) * grid.flips + flip
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(samples)]):
        yield Group(int(bg[start]), int(fg[start]), bool(flip[start]), k[start:stop])


def render_group(context: ShardContext, group: Group, out: np.ndarray | None = None,
                 counts: PlacementCounts | None = None) -> tuple[np.ndarray, list[Rendered]]:
    """The group's scenes drawn: their composites (n, S, S, 3), one batch for the depth stage (written
    into the first n of `out` when given), and each drawn scene (its image a row of that batch). A sample
    the strict floor rule left out has none (n may be below the group's size); `counts` counts them all."""
    made = context.group_scenes(group)
    if counts is not None:
        _count(counts, group, made)
    if out is None:
        out = np.empty((len(made.scenes), *context.sources.backgrounds[group.bg_id].rgb.shape), np.uint8)
    out = out[: len(made.scenes)]
    return out, [render(scene, out=image) for scene, image in zip(made.scenes, out)]


def _count(counts: PlacementCounts, group: Group, made: GroupScenes) -> None:
    for scene in made.scenes:
        counts.rules[scene.objects[0].rule] += 1
        if scene.fallback is not None:
            counts.fallbacks[group.fg_id, group.bg_id, scene.fallback] += 1
    for reason in made.left_out:
        counts.left_out[group.fg_id, group.bg_id, reason] += 1


def row_groups(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None,
               counts: PlacementCounts | None = None) -> Iterator[dict[str, list]]:
    """The shard's rows as columns in the FG_BG schema, ROW_GROUP_SIZE rows at a time (the last group may
    be shorter, or, where no sample was drawn, empty): its Parquet file's row groups, so that a worker holds
    one group's rows, not the shard's. Pixel statistics go into `stats` and how each sample was placed (or
    why it was left out) into `counts` on the way."""
    options = context.options
    columns: dict[str, list] = {name: [] for name in COLUMNS[FG_BG]}
    # Samples are numbered background-major, so a shard meets each background in one run: only the
    # current one's encoding is kept.
    bg_id, background = None, None
    jittered_bytes: dict[tuple[int, int], bytes] = {}
    categories = [foreground.category for foreground in context.sources.foregrounds]
    start = 0
    for group in groups(context.grid, spec.samples):
        rgb = context.sources.backgrounds[group.bg_id].rgb
        if group.bg_id != bg_id:
            bg_id, background = group.bg_id, EncodedBackground.of(rgb, options)
        stored = background
        if options.background_jitter:
            stored = jittered_background(options, rgb, group.bg_id, spec.split, spec.index, start, background, jittered_bytes)
        images, drawn = render_group(context, group, counts=counts)
        if not drawn:
            continue
        rows = slice(start, start + len(drawn))
        encode_rows(options, drawn, _depths(context, group, images, drawn, rows), stored, columns, categories, stats)
        start = rows.stop
        while len(columns["name"]) >= ROW_GROUP_SIZE:
            yield _first_rows(columns, ROW_GROUP_SIZE)
    if columns["name"] or not start:
        yield columns


def _first_rows(columns: dict[str, list], count: int) -> dict[str, list]:
    """The first `count` rows of `columns`, taken out of them."""
    first = {name: values[:count] for name, values in columns.items()}
    for values in columns.values():
        del values[:count]
    return first


def build_rows(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None,
               counts: PlacementCounts | None = None) -> dict[str, list]:
    """All the shard's rows (row_groups) as one set of columns."""
    columns: dict[str, list] = {name: [] for name in COLUMNS[FG_BG]}
    for group in row_groups(context, spec, stats, counts):
        for name, values in group.items():
            columns[name] += values
    return columns


def _depths(context: ShardContext, group: Group, images: np.ndarray, drawn: list[Rendered], rows: slice):
    """The depth stage's answer for the group's drawn scenes, whose composites are `images`."""
    if any(len(d.objects) > 1 for d in drawn):
        masks, standing = zip(*(_standing_together(d) for d in drawn))
        return context.depth(images, np.stack(masks), np.full(len(drawn), group.bg_id), rows, list(standing))
    objects = [d.objects[0] for d in drawn]
    if context.options.soft_mask:
        # The object's pixels take its depth: its alpha >= one half where the stored masks are soft.
        masks = object_masks(images.shape[1:3], [o.placed.cutout for o in objects], [o.placed.place for o in objects], [o.hidden for o in objects])
    else:
        masks = np.stack([o.visible for o in objects])
    standing = [o.placed.depth for o in objects]
    return context.depth(images, masks, np.full(len(drawn), group.bg_id), rows, standing if standing[0] is not None else None)


def _standing_together(rendered: Rendered) -> tuple[np.ndarray, ObjectDepth | FlatObjects]:
    """A composite of several objects as the depth stage takes one: the pixels that take an object's
    depth (alpha >= one half, visible), and each object's own depth over the box of them all (flat
    cut-outs: their whole pixels in their drawn order, which the depth stage stands one on another)."""
    objects = rendered.objects
    masks = object_masks(rendered.image.shape[:2], [o.placed.cutout for o in objects], [o.placed.place for o in objects], [o.hidden for o in objects])
    if objects[0].placed.depth is None:  # flat cut-outs: each whole, in the drawn depth order
        layered = masks[np.argsort([o.placed.layer for o in objects], kind="stable")]
        masks[np.stack([o.visible for o in objects]) == 0] = 0
        return masks.max(axis=0), FlatObjects(layered)
    masks[np.stack([o.visible for o in objects]) == 0] = 0  # what a nearer object covers takes its depth
    x0, y0 = min(o.placed.place.x for o in objects), min(o.placed.place.y for o in objects)
    x1 = max(o.placed.place.x + o.placed.place.w for o in objects)
    y1 = max(o.placed.place.y + o.placed.place.h for o in objects)
    depth = np.zeros((y1 - y0, x1 - x0), np.float32)
    for mask, obj in zip(masks, objects):
        own = obj.placed.depth
        h, w = own.depth.shape
        box = np.s_[own.y - y0 : own.y - y0 + h, own.x - x0 : own.x - x0 + w]
        shown = mask[own.y : own.y + h, own.x : own.x + w] > 0
        depth[box][shown] = own.depth[shown]
    return masks.max(axis=0), ObjectDepth(y0, x0, depth)


def shard_composites(context: ShardContext, spec: ShardSpec, reuse: np.ndarray | None = None) -> np.ndarray:
    """All composites of a shard, in row order: what the depth teacher labels. `reuse`: an earlier result
    no longer needed, written over when it is large enough (fresh pages for each shard cost the teacher's
    process more than writing over old ones)."""
    rows = len(spec.samples)
    shape = context.sources.backgrounds[0].rgb.shape
    usable = reuse is not None and len(reuse) >= rows and reuse.shape[1:] == shape
    images = reuse[:rows] if usable else np.empty((rows, *shape), np.uint8)
    start = 0
    for group in groups(context.grid, spec.samples):
        start += len(render_group(context, group, images[start : start + len(group.ks)])[1])
    return images[:start]


def build_table(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None, counts: PlacementCounts | None = None):
    return rows_to_table(FG_BG, build_rows(context, spec, stats, counts))


def build_tables(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None,
                 counts: PlacementCounts | None = None) -> Iterator["pa.Table"]:
    """The shard's table a row group at a time (row_groups), for output.parquet.write_row_groups."""
    for rows in row_groups(context, spec, stats, counts):
        yield rows_to_table(FG_BG, rows)


def placement_without_teacher(options: BuildOptions) -> PlacementRule:
    """The placement rule of a build whose backgrounds no model labels: known from the options alone."""
    return placement_rule(options, bool(options.demo or options.background_depths))


def make_context(options: BuildOptions, plan: DepthPlan, skip_bad: bool = False, threads: int = 1) -> tuple[ShardContext, "DepthTeacher | None"]:
    """Sources (decoded on `threads` threads), and the plan's models, each loaded once, in this process:
    the background model labels the backgrounds, the teacher of every composite is returned. The backgrounds config carries the depth the rows' depth is made like."""
    sources = load_sources(options, skip_bad=skip_bad, threads=threads)
    background_model = load_background_model(plan.background_model) if plan.background_model is not None else None
    if background_model is not None:
        label_backgrounds(sources, background_model)
    teacher = load_teacher(plan.teacher) if plan.teacher is not None else None
    if teacher is not None:
        store_teacher_depth(sources, teacher)
    rule = _placement(options, background_model)
    if rule == PlacementRule.FLOOR:
        attach_floors(sources.backgrounds, options.seed, threads)
    depth = make_depth_stage(plan, sources, background_model, teacher)
    record = background_model.info if background_model is not None else None
    return ShardContext(options, sources, depth, rule, record), teacher


def _placement(options: BuildOptions, background_model: "DepthTeacher | None") -> PlacementRule:
    """The placement rule, from the depth the backgrounds have: a background model's is metric or not by
    its family (teacher_family.py); without one, the demo's and the user's maps are metres."""
    if background_model is None:
        return placement_without_teacher(options)
    why_not = "" if background_model.metric else f"{background_model.options.model} gives {background_model.meaning.text}"
    rule = placement_rule(options, background_model.metric, why_not)
    if why_not and options.placement == PlacementRule.AUTO:
        print(f"warning: the background depth has no metric scale ({why_not}): objects are placed by the uniform "
              "rule, not on the floor; choose a metric --background-depth-model for that", file=sys.stderr)
    return rule
