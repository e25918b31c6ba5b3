"""Stage 4, depth: a depth map for each composite.

A depth stage takes a batch of composites (with their masks, background ids and their rows in the shard)
and returns their depth maps (handover.stored_depth reads any of its forms by row), or None for `--depth
none`. `SceneDepth` derives them from the backgrounds' own depth maps; with a teacher on every composite,
the teacher labels a whole shard at once (wherever the depth plan runs it) and `TeacherDepth` hands its maps
out by row.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from ..errors import UserError
from ..config import DepthPlan, TeacherSettings
from .depth_splice import BackgroundDepth, PlainDepth, SplicedDepth
from .geometry import DEFAULT_INTRINSICS, MODEL_INTRINSICS
from ..rules import DepthMode
from .sources import Background, Sources

if TYPE_CHECKING:
    from .handover import QuantizedDepth
    from .teacher import DepthTeacher

METRIC_NEAR_SMALL = "metric depth in metres along the optical axis: smaller is nearer"
SPLICEABLE_KEPT = 2  # backgrounds a worker keeps ready to splice (about 0.2 MB each at 224 px)


class DepthStage(Protocol):
    meaning: str | None

    def __call__(
        self, images: np.ndarray, masks: np.ndarray, bg_ids: np.ndarray, rows: slice, objects: list["ObjectDepth | None"] | None = None,
    ) -> "np.ndarray | QuantizedDepth | list[PlainDepth | SplicedDepth] | None":
        """images (N, S, S, 3) uint8, masks (N, S, S) uint8 (the visible masks), bg_ids (N,), their rows of
        the shard, and for objects standing on the floor their own depth -> depth (N, S, S) float32, the
        same already quantised, or (objects given) each row's stored depth."""


@dataclass(frozen=True)
class ObjectDepth:
    """The depth of an upright object standing on the floor, over its silhouette's box at (y, x)."""

    y: int
    x: int
    depth: np.ndarray  # (h, w) float32


@dataclass(frozen=True)
class FlatObjects:
    """Several flat cut-outs (the uniform and ground rules) in their drawn depth order, farthest first:
    each one's pixels that take its depth (alpha >= one half) over its whole silhouette."""

    masks: np.ndarray  # (n, S, S) uint8


class NoDepth:
    meaning = None

    def __call__(self, images, masks, bg_ids, rows, objects=None):
        return None


@dataclass
class SceneDepth:
    """The background's depth, with the foreground standing at the depth of its contact point, or for
    objects standing on the floor, their own depth where they are visible (depth_splice.py)."""

    backgrounds: Sequence[Background]  # the sources' own: their depth maps are the scene's
    meaning: str = METRIC_NEAR_SMALL
    inverse: bool = False  # larger is nearer: a teacher's relative inverse depth (disparity)
    # The last backgrounds' spliceable forms: a shard meets its backgrounds one run after another.
    _spliceable: OrderedDict[int, BackgroundDepth] = field(default_factory=OrderedDict, repr=False, compare=False)

    def __call__(self, images, masks, bg_ids, rows, objects=None):
        if objects is not None:
            return [self._standing(bg_id, mask, standing) for mask, bg_id, standing in zip(masks, bg_ids, objects)]
        depths = np.empty(masks.shape, dtype=np.float32)
        for depth, mask, bg_id in zip(depths, masks, bg_ids):
            scene_depth(self.backgrounds[bg_id].depth, mask, self.inverse, out=depth)
        return depths

    def _standing(self, bg_id: int, mask: np.ndarray, standing: "ObjectDepth | FlatObjects | None") -> "PlainDepth | SplicedDepth":
        """The stored depth of one composite whose object stands on the floor (or, None, is pasted flat)."""
        background_depth = self.backgrounds[bg_id].depth
        if isinstance(standing, FlatObjects):
            return PlainDepth.of(flat_objects_depth(background_depth, standing.masks, self.inverse))
        if standing is None:
            return PlainDepth.of(scene_depth(background_depth, mask, self.inverse))
        height, width = standing.depth.shape
        return self._spliceable_background(bg_id).with_object(standing, mask[standing.y : standing.y + height, standing.x : standing.x + width] > 0)

    def _spliceable_background(self, bg_id: int) -> BackgroundDepth:
        if bg_id in self._spliceable:
            self._spliceable.move_to_end(bg_id)
        else:
            self._spliceable[bg_id] = BackgroundDepth(self.backgrounds[bg_id].depth)
            while len(self._spliceable) > SPLICEABLE_KEPT:
                self._spliceable.popitem(last=False)
        return self._spliceable[bg_id]

    def __getstate__(self) -> dict:
        # Workers build their own spliceable backgrounds, for the backgrounds their shards meet.
        return {**self.__dict__, "_spliceable": OrderedDict()}


def scene_depth(background_depth: np.ndarray, mask: np.ndarray, inverse: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """The foreground is a flat cut-out standing upright where its bottom touches the scene: every
    foreground pixel gets the depth at the bottom centre of the mask, and never lies behind any background
    pixel it covers (a cut-out cannot be occluded by what it is pasted over). Written into `out` if given."""
    depth = np.empty_like(background_depth) if out is None else out
    depth[...] = background_depth
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return depth
    cols = np.flatnonzero(mask.any(axis=0))
    # Work inside the mask's box only: the rest of the map is the background's.
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    covered = mask[box] > 0
    under = background_depth[box]
    bottom_cols = np.flatnonzero(covered[-1])
    contact = under[-1, bottom_cols[len(bottom_cols) // 2]]
    depth[box][covered] = _flat_depth(contact, under[covered], background_depth, inverse)
    return depth


def _flat_depth(contact: np.float32, under: np.ndarray, background_depth: np.ndarray, inverse: bool) -> np.float32:
    """The depth of a flat cut-out touching the scene at `contact` over the pixels `under` it: never
    behind any of them. Holes (NaN) are skipped; over a hole, the object is still known: at its nearest
    known pixel, or over nothing known, at the nearest depth the scene holds."""
    extreme = under.max() if inverse else under.min()
    if np.isnan(extreme):  # a hole under it: the known pixels decide
        known = under[np.isfinite(under)]
        known = known if known.size else background_depth[np.isfinite(background_depth)]
        extreme = known.max() if inverse else known.min()
    nearest = max if inverse else min
    return np.float32(extreme if np.isnan(contact) else nearest(contact, extreme))


def flat_objects_depth(background_depth: np.ndarray, masks: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Flat cut-outs pasted farthest first, each standing as scene_depth stands one on what lies under it
    when it is pasted (the scene and the cut-outs pasted before): so where two overlap, the nearer in the
    drawn order is never deeper, and each pixel takes the depth of the nearest cut-out covering it."""
    depth = background_depth.copy()
    for mask in masks:
        scene_depth(depth, mask, inverse, out=depth)
    return depth


@dataclass(frozen=True)
class TeacherDepth:
    """The teacher's depth maps of one shard, computed before the shard is built (in the process or
    worker that holds the model), handed out by row. Without them (`depths` None) a build has a bug."""

    meaning: str
    depths: "np.ndarray | QuantizedDepth | None" = None  # (N, S, S) float32 or already quantised, one per row

    def __call__(self, images, masks, bg_ids, rows, objects=None):
        if self.depths is None:
            raise RuntimeError("--depth model: the teacher's depth maps of this shard were not computed")
        return self.depths[rows]


def load_teacher(settings: TeacherSettings) -> "DepthTeacher":
    from .teacher import DepthTeacher

    return DepthTeacher.load(settings)


def load_background_model(settings: TeacherSettings) -> "DepthTeacher":
    from .teacher import BACKGROUND_ROLE, DepthTeacher

    return DepthTeacher.load(settings, BACKGROUND_ROLE)


def label_backgrounds(sources: Sources, model: "DepthTeacher") -> None:
    """Give every background the background model's depth (one batched call for all backgrounds): the
    depth placement and the scene rule stand on. The model sees the stored square (what the composites
    show), so a field of view it predicts is the square's; it gives the camera of backgrounds whose
    intrinsics neither --fov nor EXIF gave (depth_pro.model_intrinsics)."""
    from .depth_pro import model_intrinsics

    names = [bg.name for bg in sources.backgrounds]
    predicted, fovs = model.predict_with_fov(np.stack([bg.rgb for bg in sources.backgrounds]), where=lambda i: f"background {names[i]}")
    for index, (background, depth) in enumerate(zip(sources.backgrounds, predicted)):
        background.depth = depth
        if fovs is not None and background.intrinsics_source == DEFAULT_INTRINSICS:
            found = model_intrinsics(depth.shape[1], depth.shape[0], float(fovs[index]))
            if found is not None:
                background.intrinsics, background.intrinsics_source = found, MODEL_INTRINSICS


def store_teacher_depth(sources: Sources, teacher: "DepthTeacher") -> None:
    """With a teacher on every composite, the backgrounds config stores the teacher's depth of each
    background too, so its depth means what the rows' does."""
    names = [bg.name for bg in sources.backgrounds]
    predicted = teacher.predict(np.stack([bg.rgb for bg in sources.backgrounds]), where=lambda i: f"background {names[i]}")
    for background, depth in zip(sources.backgrounds, predicted):
        background.stored_depth = depth


def make_depth_stage(plan: DepthPlan, sources: Sources, background_model: "DepthTeacher | None" = None,
                     teacher: "DepthTeacher | None" = None) -> DepthStage:
    """The depth stage of a build: `background_model` has already labelled the backgrounds where the plan
    runs one; `teacher` is the plan's teacher of every composite, if loaded."""
    if plan.mode == DepthMode.NONE:
        return NoDepth()
    if plan.mode == DepthMode.SCENE:
        if not sources.has_depth:
            raise UserError(
                "--depth scene needs background depth maps: pass --background-depths DIR or "
                "--background-depth-model ID, or use --depth model / --depth none"
            )
        if background_model is not None:
            return SceneDepth(sources.backgrounds, background_model.info["meaning"], background_model.inverse)
        return SceneDepth(sources.backgrounds)
    if plan.teacher is None:
        raise UserError("--depth model needs --depth-model ID_OR_PATH")
    return TeacherDepth(teacher.info["meaning"] if teacher is not None else "")
