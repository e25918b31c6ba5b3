"""Encode drawn scenes as rows of the FG_BG schema (schema.py): the composite (JPEG spliced into its
background's code where it can be, else encoded whole), the masks and depth as PNG, and the object's
numbers. One row per composite: its own object's numbers, and `mask`/`amodal_mask` the union of all its
objects' visible and whole masks (--objects); pixel statistics are added on the way."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...config import BuildOptions
from ...schema import sample_name
from ..composite import mask_bbox
from ..encode import encode_image, encode_png
from ..handover import stored_depth
from ..jpeg_splice import Box
from ..moments import DEPTH, IMAGE, DatasetStats, MaskMoments
from ..render import Rendered
from .background import EncodedBackground
from .objects import object_columns


def encode_rows(options: BuildOptions, drawn: list[Rendered], depths, background: EncodedBackground,
                columns: dict[str, list], categories: Sequence[str | None], stats: DatasetStats | None = None) -> None:
    """Append a row per drawn scene to `columns`. `depths`: the depth stage's answer for them, in order
    (handover.stored_depth takes each one's), or None for --depth none; `categories[fg_id]`: each
    foreground's class or None."""
    taken: dict[int, MaskMoments] = {}  # each cut-out's mask moments, for its placements nothing hides
    size = (drawn[0].image.shape[1], drawn[0].image.shape[0])  # (width, height) of the composites
    if background.jpeg is not None:
        # Pixels outside the changed box are the background's own: only the MCUs of the box are encoded.
        boxes = [Box(y0, y1, x0, x1) for x0, y0, x1, y1 in (rendered.changed for rendered in drawn)]
        jpegs = background.jpeg.composites([rendered.image for rendered in drawn], boxes)
    for i, rendered in enumerate(drawn):
        scene, obj = rendered.scene, rendered.objects[0]
        placed, place = obj.placed, obj.placed.place
        depth = stored_depth(depths, i) if depths is not None else None
        if background.jpeg is not None:
            jpeg = jpegs[i]
            image_bytes = jpeg.to_bytes()
        else:
            image_bytes = encode_image(rendered.image, options.image_format, options.jpeg_quality)
        labelled = _labelled(rendered)
        visible, whole = _union_masks(labelled)
        mask_png = encode_png(visible)
        depth_png = depth.png() if depth is not None else None
        objects, instances = object_columns(rendered, categories)
        row = {
            "name": sample_name(placed.fg_id, scene.bg_id, placed.flipped, scene.index + 1),
            "bg_id": scene.bg_id,
            "fg_id": placed.fg_id,
            "flipped": placed.flipped,
            "placement": scene.index + 1,
            "placement_rule": str(placed.rule),
            "x": place.x,
            "y": place.y,
            "scale": place.scale,
            "w": place.w,
            "h": place.h,
            "bbox": obj.bbox if len(labelled) == 1 else mask_bbox(visible),
            "image": image_bytes,
            "mask": mask_png,
            "amodal_mask": mask_png if whole is None else encode_png(whole),
            "depth": depth_png,
            "depth_min": depth.low if depth is not None else None,
            "depth_max": depth.high if depth is not None else None,
            "depth_known": depth.known_png() if depth is not None else None,
            "background": background.data,
            "blend": str(placed.effects.blend),
            "effect_bbox": rendered.changed,
            "objects": objects,
            "instances": instances,
        }
        for name, value in row.items():
            columns[name].append(value)
        if stats is not None:
            # JPEG is lossy: count what a user decodes, not the array before encoding.
            if background.jpeg is not None:
                moments = jpeg.moments()
                stats.add_image_moments(IMAGE, moments.sums, moments.squares, size, len(image_bytes))
            else:
                stats.add_rgb(IMAGE, rendered.image, len(image_bytes))
            stats.add_mask_moments(_mask_moments(rendered, visible, taken), len(mask_png), size)
            stats.hidden_objects += len(labelled) - len(objects)
            if depth is not None:
                stats.add_image_moments(DEPTH, *depth.moments(), size, len(depth_png), depth.known_pixels)


def _union_masks(objects: list) -> tuple[np.ndarray, np.ndarray | None]:
    """The composite's visible mask and whole mask (None where nothing is hidden: then the visible one),
    each the union of its labelled objects' masks."""
    if len(objects) == 1:
        return objects[0].visible, objects[0].whole
    visible = np.maximum.reduce([o.visible for o in objects])
    if all(o.whole is None for o in objects):
        return visible, None
    return visible, np.maximum.reduce([o.visible if o.whole is None else o.whole for o in objects])


def _labelled(rendered: Rendered) -> list:
    """The drawn objects the labels show (distractors are left out)."""
    return [o for o in rendered.objects if o.placed.labelled]


def _mask_moments(rendered: Rendered, visible: np.ndarray, taken: dict[int, MaskMoments]) -> MaskMoments:
    """The moments of a composite's mask, `visible` (_union_masks'). A mask nothing hides is its cut-out's
    mask in its box and zero elsewhere: the moments of each cut-out are taken once for all its placements
    (kept in `taken`, by cut-out); a hidden object's mask is counted in its box."""
    if len(rendered.objects) > 1:
        return MaskMoments.of(visible)
    obj = rendered.objects[0]
    cutout, place = obj.placed.cutout, obj.placed.place
    if obj.hidden is not None:
        return MaskMoments.of(visible[place.y : place.y + place.h, place.x : place.x + place.w])
    if id(cutout) not in taken:
        taken[id(cutout)] = MaskMoments.of(cutout.mask)
    return taken[id(cutout)]
