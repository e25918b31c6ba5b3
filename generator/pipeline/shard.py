"""One shard, end to end: plan -> composite -> depth -> encode -> rows. A pure function of the options,
the sources and the shard's spec; the local engine, the `datasets` builder and remote engines all call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .composite import Cutout, composite, placed_bbox, prepare_cutout
from ..config import BuildOptions, DepthPlan
from .depth import DepthStage, label_backgrounds, load_teacher, make_depth_stage
from .encode import encode_image, encode_png, quantize_depth
from .jpeg_splice import BackgroundJpeg, Box
from .plan import Grid, Placement, ShardSpec, placements
from ..schema import FG_BG, FG_BG_FEATURES, sample_name
from .sources import Sources, load_sources
from .moments import IMAGE, DatasetStats, MaskMoments
from .table import rows_to_table

if TYPE_CHECKING:
    from .teacher import DepthTeacher


@dataclass
class ShardContext:
    """What every shard of one build shares; built once per worker process."""

    options: BuildOptions
    sources: Sources
    depth: DepthStage

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
    columns: dict[str, list] = {name: [] for name in FG_BG_FEATURES}
    # Samples are numbered background-major, so a shard meets each background in one run: only the
    # current one's encoding is kept.
    bg_id, background = None, None
    start = 0
    for group in groups(context.grid, spec.samples):
        if group.bg_id != bg_id:
            bg_id, background = group.bg_id, EncodedBackground.of(context.sources.backgrounds[group.bg_id].rgb, context.options)
        _add_group(context, group, slice(start, start + len(group.ks)), background, columns, stats)
        start += len(group.ks)
    return columns


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
    """One group's placements, their cut-outs, composites (n, S, S, 3) and masks (n, S, S)."""

    places: list[Placement]
    cutouts: list[Cutout]
    images: np.ndarray
    masks: np.ndarray


def _group_composites(context: ShardContext, group: Group) -> GroupComposites:
    options = context.options
    rgba = context.sources.foregrounds[group.fg_id].rgba
    plan = placements(options, group.bg_id, group.fg_id, group.flipped, rgba.shape[:2])
    places = [plan[k] for k in group.ks]
    # One cut-out per scale (one in all without --scale-jitter), shared by the group's placements.
    by_scale = {s: Cutout.of(prepare_cutout(rgba, group.flipped, s), options.soft_mask) for s in {p.scale for p in places}}
    cutouts = [by_scale[p.scale] for p in places]
    images, masks = composite(context.sources.backgrounds[group.bg_id].rgb, cutouts, places)
    return GroupComposites(places, cutouts, images, masks)


def shard_composites(context: ShardContext, spec: ShardSpec) -> np.ndarray:
    """All composites of a shard, in row order: what the depth teacher labels."""
    return np.concatenate([_group_composites(context, group).images for group in groups(context.grid, spec.samples)])


def _add_group(context: ShardContext, group: Group, rows: slice, background: EncodedBackground, columns: dict, stats: DatasetStats | None) -> None:
    options = context.options
    made = _group_composites(context, group)
    size = (made.images.shape[2], made.images.shape[1])  # (width, height) of the composites
    depths = context.depth(made.images, made.masks, np.full(len(made.places), group.bg_id), rows)
    # Cut-outs repeat across the group's placements: each one's mask moments are taken once.
    unique = {id(c): c for c in made.cutouts} if stats is not None else {}
    mask_moments = {key: MaskMoments.of(c.mask) for key, c in unique.items()}
    for i, (k, place, cutout) in enumerate(zip(group.ks, made.places, made.cutouts)):
        depth_q, depth_min, depth_max = quantize_depth(depths[i]) if depths is not None else (None, None, None)
        bbox = placed_bbox(cutout, place)
        if background.jpeg is not None:
            # Pixels outside the mask's box are the background's own: only the MCUs of the box are encoded.
            x0, y0, x1, y1 = bbox
            jpeg = background.jpeg.composite(made.images[i], Box(y0, y1, x0, x1))
            image_bytes = jpeg.to_bytes()
        else:
            image_bytes = encode_image(made.images[i], options.image_format, options.jpeg_quality)
        mask_png = encode_png(made.masks[i])
        depth_png = encode_png(depth_q) if depth_q is not None else None
        row = {
            "name": sample_name(group.fg_id, group.bg_id, group.flipped, int(k) + 1),
            "bg_id": group.bg_id,
            "fg_id": group.fg_id,
            "flipped": group.flipped,
            "placement": int(k) + 1,
            "x": place.x,
            "y": place.y,
            "scale": place.scale,
            "bbox": bbox,
            "image": image_bytes,
            "mask": mask_png,
            "depth": depth_png,
            "depth_min": depth_min,
            "depth_max": depth_max,
            "background": background.data,
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
            # The composite's mask is the cut-out's mask in its box and zero elsewhere: same moments.
            stats.add_mask_moments(mask_moments[id(cutout)], len(mask_png), size)
            if depth_q is not None:
                stats.add_depth(depth_q, len(depth_png))


def build_table(context: ShardContext, spec: ShardSpec, stats: DatasetStats | None = None):
    return rows_to_table(FG_BG, build_rows(context, spec, stats))


def make_context(options: BuildOptions, plan: DepthPlan, skip_bad: bool = False, threads: int = 1) -> tuple[ShardContext, "DepthTeacher | None"]:
    """Sources (decoded on `threads` threads), and the plan's depth model if any, loaded once, in this
    process. The backgrounds get the model's depth too: the backgrounds config carries it, and --depth
    scene builds on it."""
    sources = load_sources(options, skip_bad=skip_bad, threads=threads)
    teacher = load_teacher(plan.teacher) if plan.teacher is not None else None
    if teacher is not None:
        label_backgrounds(sources, teacher)
    return ShardContext(options, sources, make_depth_stage(plan, sources, teacher)), teacher
