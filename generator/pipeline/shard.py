"""One shard, end to end: plan (or floor placement) -> composite -> depth -> encode -> rows. A pure
function of the options, the sources and the shard's spec; the local engine, the `datasets` builder and
remote engines all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..config import BuildOptions, DepthPlan, placement_rule
from .composite import Cutout, amodal_masks, composite, mask_bbox, object_masks, placed_bbox, reach_box
from .cutouts import CUTOUTS
from .effects import Effects, SampleKey, composite_with_effects, union_box
from .depth import DepthStage, ObjectDepth, label_backgrounds, load_teacher, make_depth_stage
from .geometry import upright_plane_depth
from .placement import FloorGeometry, attach_floors, floor_placements
from .light import jittered
from .encode import encode_image, encode_png
from .handover import stored_depth
from .jpeg_splice import BackgroundJpeg, Box
from .plan import Grid, Placement, ShardSpec, placements
from ..schema import COLUMNS, FG_BG, ROW_GROUP_SIZE, SPLITS, sample_name
from .sources import Background, Foreground, Sources, load_sources
from .moments import DEPTH, IMAGE, DatasetStats, MaskMoments
from .table import rows_to_table

if TYPE_CHECKING:
    from .teacher import DepthTeacher


@dataclass
class ShardContext:
    """What every shard of one build shares; built once per worker process."""

    options: BuildOptions
    sources: Sources
    depth: DepthStage
    placement: str = "uniform"  # the rule in force (config.placement_rule): floor, uniform or ground

    @property
    def grid(self) -> Grid:
        o = self.options
        return Grid(len(self.sources.backgrounds), len(self.sources.foregrounds), len(o.flips), o.placements)


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


def build_rows(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None) -> dict[str, list]:
    """The shard's rows as columns in the FG_BG schema; pixel statistics go into `stats` on the way."""
    columns: dict[str, list] = {name: [] for name in COLUMNS[FG_BG]}
    # Samples are numbered background-major, so a shard meets each background in one run: only the
    # current one's encoding is kept.
    bg_id, background = None, None
    jittered_bytes: dict[tuple[int, int], bytes] = {}
    start = 0
    for group in groups(context.grid, spec.samples):
        if group.bg_id != bg_id:
            bg_id, background = group.bg_id, EncodedBackground.of(context.sources.backgrounds[group.bg_id].rgb, context.options)
        stored = jittered_background(context, spec, group.bg_id, start, background, jittered_bytes) if context.options.background_jitter else background
        _add_group(context, group, slice(start, start + len(group.ks)), stored, columns, stats)
        start += len(group.ks)
    return columns


def jittered_background(context: ShardContext, spec: ShardSpec, bg_id: int, row: int, clean: "EncodedBackground",
                        made: dict[tuple[int, int], bytes]) -> "EncodedBackground":
    """`clean` with its stored bytes replaced by a jittered copy (light.jittered), one per background and
    Parquet row group of the group's first row (`made` keeps them for the shard): rows of a row group share
    it, so its dictionary stores it about once. Composites are still spliced from the clean background."""
    o = context.options
    key = (bg_id, row // ROW_GROUP_SIZE)
    if key not in made:
        rng = background_jitter_rng(o.seed, bg_id, spec.split, spec.index, key[1])
        made[key] = encode_image(jittered(context.sources.backgrounds[bg_id].rgb, rng), o.image_format, o.jpeg_quality)
    return EncodedBackground(made[key], clean.jpeg)


_SALT_JITTER = 5


def background_jitter_rng(seed: int, bg_id: int, split: str, shard_index: int, row_group: int) -> np.random.Generator:
    """The draw of one jittered copy: of a background, in one row group of one shard. `validate` draws it
    again to recompute the stored copy exactly."""
    return np.random.default_rng([seed, _SALT_JITTER, bg_id, SPLITS.index(split), shard_index, row_group])


@dataclass
class EncodedBackground:
    """A background's stored bytes and, for JPEG, what its composites are spliced from (jpeg_splice.py)."""

    data: bytes
    jpeg: BackgroundJpeg | None

    @classmethod
    def of(cls, rgb: np.ndarray, options: BuildOptions) -> "EncodedBackground":
        if options.image_format != "jpeg":
            return cls(encode_image(rgb, options.image_format, options.jpeg_quality), None)
        jpeg = BackgroundJpeg(rgb, options.jpeg_quality)
        return cls(jpeg.code.to_bytes(), jpeg)


@dataclass
class GroupComposites:
    """One group's placements, their cut-outs, composites (n, S, S, 3), visible masks (n, S, S), and for
    objects standing on the floor their whole (amodal) masks and depth."""

    places: list[Placement]
    cutouts: list[Cutout]
    images: np.ndarray
    masks: np.ndarray
    amodal: np.ndarray | None = None  # None: nothing hides the cut-outs, the masks are whole
    objects: list[ObjectDepth] | None = None
    hidden: list[np.ndarray | None] | None = None  # per placement: what the scene hides, None for nothing
    effect_boxes: list[list[int]] | None = None  # per placement: where pixels differ from the background
    blends: list[str] | None = None  # per placement: the edge mode; None: alpha


def _group_composites(context: ShardContext, group: Group) -> GroupComposites:
    options = context.options
    foreground = context.sources.foregrounds[group.fg_id]
    background = context.sources.backgrounds[group.bg_id]
    on_floor = context.placement == "floor"
    places = _on_floor(context, group, foreground, background) if on_floor else None
    if places is None:
        plan = placements(options, group.bg_id, group.fg_id, group.flipped, foreground.rgba.shape[:2])
        places = [plan[k] for k in group.ks]
    # Every row's silhouette is the stored cut-out resized to (w, h): the foregrounds config stores the
    # source for floor placement (groups without a floor too), the --fg-size cut-out otherwise.
    rgba = foreground.source if on_floor else foreground.rgba
    # One cut-out per size (one in all for the uniform rule without --scale-jitter), shared by placements.
    by_size = {wh: CUTOUTS.get(rgba, group.flipped, wh, options.soft_mask) for wh in {(p.w, p.h) for p in places}}
    cutouts = [by_size[p.w, p.h] for p in places]
    effects = Effects.of(options)
    if effects.any:
        return _with_effects(context, group, background, places, cutouts, effects)
    if places[0].contact is None:
        images, masks = composite(background.rgb, cutouts, places)
        return GroupComposites(places, cutouts, images, masks)
    objects = [standing_depth(background.floor, place) for place in places]
    hidden = [occluded(background.depth, standing, cutout.alpha) for standing, cutout in zip(objects, cutouts)]
    images, masks = composite(background.rgb, cutouts, places, hidden)
    return GroupComposites(places, cutouts, images, masks, amodal_masks(masks.shape[1:], cutouts, places), objects, hidden)


def _with_effects(context: ShardContext, group: Group, background: Background, places: list[Placement],
                  cutouts: list[Cutout], effects: Effects) -> GroupComposites:
    """_group_composites with shadows, harmonised colours and soft edges (effects.py)."""
    keys = [SampleKey(context.options.seed, group.bg_id, group.fg_id, group.flipped, int(k)) for k in group.ks]
    objects = hidden = amodal = None
    if places[0].contact is not None:
        objects = [standing_depth(background.floor, place) for place in places]
        hidden = [occluded(background.depth, standing, cutout.alpha) for standing, cutout in zip(objects, cutouts)]
    images, masks, boxes, modes = composite_with_effects(background, [c.rgba for c in cutouts], [c.mask for c in cutouts], places, hidden, effects, keys)
    if objects is not None:
        amodal = amodal_masks(masks.shape[1:], cutouts, places)
    return GroupComposites(places, cutouts, images, masks, amodal, objects, hidden, boxes, modes)


def _on_floor(context: ShardContext, group: Group, foreground: Foreground, background: Background) -> list[Placement] | None:
    """The group's floor placements, or None where the background shows no floor or too little of it for
    this cut-out: those groups follow the uniform rule."""
    if background.floor is None:
        return None
    o = context.options
    plan = floor_placements(
        background.floor, o.bg_size, foreground.source.shape[:2], foreground.height_m, o.placements,
        o.fg_longest_side, o.scale_jitter, o.seed, group.bg_id, group.fg_id, group.flipped,
    )
    return None if plan is None else [plan[k] for k in group.ks]


def standing_depth(floor: FloorGeometry, place: Placement) -> ObjectDepth:
    """The depth of the upright cut-out standing at `place` over its silhouette's box."""
    rows, cols = np.arange(place.y, place.y + place.h), np.arange(place.x, place.x + place.w)
    return ObjectDepth(place.y, place.x, upright_plane_depth(np.asarray(place.contact), floor.plane, floor.intrinsics, rows, cols))


def occluded(background_depth: np.ndarray, standing: ObjectDepth, alpha: np.ndarray) -> np.ndarray | None:
    """(h, w) bool: where the scene is nearer than the object by more than max(1 cm, 0.5 % of its depth);
    None where that hides none of the pixels the cut-out blends (`alpha` > 0)."""
    height, width = standing.depth.shape
    scene = background_depth[standing.y : standing.y + height, standing.x : standing.x + width]
    hidden = scene < standing.depth - np.maximum(np.float32(0.01), np.float32(0.005) * standing.depth)
    return hidden if (hidden & (alpha > 0)).any() else None


def shard_composites(context: ShardContext, spec: ShardSpec, reuse: np.ndarray | None = None) -> np.ndarray:
    """All composites of a shard, in row order: what the depth teacher labels. `reuse`: an earlier result
    no longer needed, written over when it is large enough (a shard's composites are 150 MB at 224 px;
    fresh pages for each shard cost the teacher's process more than the copy)."""
    images = [_group_composites(context, group).images for group in groups(context.grid, spec.samples)]
    rows = sum(len(part) for part in images)
    if reuse is None or len(reuse) < rows or reuse.shape[1:] != images[0].shape[1:]:
        return np.concatenate(images)
    return np.concatenate(images, out=reuse[:rows])


def _add_group(context: ShardContext, group: Group, rows: slice, background: EncodedBackground, columns: dict, stats: DatasetStats | None) -> None:
    options = context.options
    made = _group_composites(context, group)
    size = (made.images.shape[2], made.images.shape[1])  # (width, height) of the composites
    # The object's pixels take its depth: the visible masks, unless those are soft (then alpha >= one half).
    solid = object_masks(made.masks.shape[1:], made.cutouts, made.places, made.hidden) if options.soft_mask else made.masks
    depths = context.depth(made.images, solid, np.full(len(made.places), group.bg_id), rows, made.objects)
    mask_moments = _mask_moments(made) if stats is not None else []
    for i, (k, place, cutout) in enumerate(zip(group.ks, made.places, made.cutouts)):
        depth = stored_depth(depths, i) if depths is not None else None
        bbox = placed_bbox(cutout, place) if made.amodal is None else _visible_bbox(made.masks[i], place)
        # Every pixel the composite blends (alpha > 0, below the mask's half too) and every one an effect changed.
        effect_bbox = union_box(bbox, reach_box(cutout, place, made.hidden[i] if made.hidden is not None else None))
        if made.effect_boxes is not None:
            effect_bbox = union_box(effect_bbox, made.effect_boxes[i])
        if background.jpeg is not None:
            # Pixels outside the effects' box are the background's own: only the MCUs of the box are encoded.
            x0, y0, x1, y1 = effect_bbox
            jpeg = background.jpeg.composite(made.images[i], Box(y0, y1, x0, x1))
            image_bytes = jpeg.to_bytes()
        else:
            image_bytes = encode_image(made.images[i], options.image_format, options.jpeg_quality)
        mask_png = encode_png(made.masks[i])
        whole = made.amodal is None or made.hidden[i] is None
        amodal_png = mask_png if whole else encode_png(made.amodal[i])
        depth_png = depth.png() if depth is not None else None
        row = {
            "name": sample_name(group.fg_id, group.bg_id, group.flipped, int(k) + 1),
            "bg_id": group.bg_id,
            "fg_id": group.fg_id,
            "flipped": group.flipped,
            "placement": int(k) + 1,
            "x": place.x,
            "y": place.y,
            "scale": place.scale,
            "w": place.w,
            "h": place.h,
            "bbox": bbox,
            "image": image_bytes,
            "mask": mask_png,
            "amodal_mask": amodal_png,
            "depth": depth_png,
            "depth_min": depth.low if depth is not None else None,
            "depth_max": depth.high if depth is not None else None,
            "background": background.data,
            "blend": made.blends[i] if made.blends is not None else "alpha",
            "effect_bbox": effect_bbox,
        }
        for name, value in row.items():
            columns[name].append(value)
        if stats is not None:
            # JPEG is lossy: count what a user decodes, not the array before encoding.
            if background.jpeg is not None:
                moments = jpeg.moments()
                stats.add_image_moments(IMAGE, moments.sums, moments.squares, size, len(image_bytes))
            else:
                stats.add_rgb(IMAGE, made.images[i], len(image_bytes))
            stats.add_mask_moments(mask_moments[i], len(mask_png), size)
            if depth is not None:
                stats.add_image_moments(DEPTH, *depth.moments(), size, len(depth_png))


def _mask_moments(made: GroupComposites) -> list[MaskMoments]:
    """Each composite's mask moments. A whole mask is its cut-out's mask in its box and zero elsewhere:
    the moments of each cut-out are taken once for all its placements."""
    if made.amodal is None:
        unique = {id(c): c for c in made.cutouts}
        moments = {key: MaskMoments.of(c.mask) for key, c in unique.items()}
        return [moments[id(c)] for c in made.cutouts]
    return [MaskMoments.of(mask[p.y : p.y + p.h, p.x : p.x + p.w]) for mask, p in zip(made.masks, made.places)]


def _visible_bbox(mask: np.ndarray, place: Placement) -> list[int]:
    """mask_bbox of a visible mask, searched in the silhouette's box only."""
    x0, y0, x1, y1 = mask_bbox(mask[place.y : place.y + place.h, place.x : place.x + place.w])
    return [0, 0, 0, 0] if x1 == 0 else [x0 + place.x, y0 + place.y, x1 + place.x, y1 + place.y]


def build_table(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None):
    return rows_to_table(FG_BG, build_rows(context, spec, stats))


def placement_without_teacher(options: BuildOptions) -> str:
    """The placement rule of a build whose backgrounds no teacher labels: known from the options alone."""
    return placement_rule(options, bool(options.demo or options.background_depths))


def make_context(options: BuildOptions, plan: DepthPlan, skip_bad: bool = False, threads: int = 1) -> tuple[ShardContext, "DepthTeacher | None"]:
    """Sources (decoded on `threads` threads), and the plan's depth model if any, loaded once, in this
    process. The backgrounds get the model's depth too: the backgrounds config carries it, and --depth
    scene builds on it."""
    sources = load_sources(options, skip_bad=skip_bad, threads=threads)
    teacher = load_teacher(plan.teacher) if plan.teacher is not None else None
    if teacher is not None:
        label_backgrounds(sources, teacher)
    # The backgrounds' depth is the teacher's where one labelled them, else the demo's or the user's metres.
    rule = placement_rule(options, not teacher.near_is_large) if teacher is not None else placement_without_teacher(options)
    if rule == "floor":
        attach_floors(sources.backgrounds, options.seed, threads)
    return ShardContext(options, sources, make_depth_stage(plan, sources, teacher), rule), teacher
