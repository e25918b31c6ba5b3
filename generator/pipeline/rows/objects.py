"""The per-object columns of a row: `objects` (each labelled object's boxes, area, how much of it shows,
and its whole silhouette) and `instances` (a 16-bit map: k where object id k is seen, 0 elsewhere).
An object the scene and nearer objects hide entirely is left out of both."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..composite import mask_bbox
from ..encode import encode_png
from ..render import Rendered

SEEN = 128  # a pixel shows an object where its visible mask is at least one half (soft masks included)


def object_columns(rendered: Rendered, categories: Sequence[str | None]) -> tuple[list[dict], np.ndarray]:
    """The row's `objects` records and its instance map (S, S) uint16, ids 1..n in drawing order.
    `categories[fg_id]`: each foreground's class (sources.Foreground.category), or None."""
    records: list[dict] = []
    instances = np.zeros(rendered.image.shape[:2], np.uint16)
    for obj in rendered.objects:
        if not obj.placed.labelled:
            continue
        # An object's pixels lie in its silhouette's box (inside the picture): only that box is searched.
        place = obj.placed.place
        box = np.s_[place.y : place.y + place.h, place.x : place.x + place.w]
        seen = obj.visible[box] >= SEEN
        area = int(np.count_nonzero(seen))
        if area == 0:
            continue
        whole = obj.visible[box] if obj.whole is None else obj.whole[box]
        x0, y0, x1, y1 = mask_bbox(whole)
        instances[box][seen] = len(records) + 1
        records.append({
            "id": len(records) + 1,
            "fg_id": obj.placed.fg_id,
            "bbox": _moved(mask_bbox(seen), place.x, place.y),
            "area": area,
            "visible_fraction": area / max(int(np.count_nonzero(whole >= SEEN)), 1),
            "category": categories[obj.placed.fg_id],
            "amodal_bbox": _moved([x0, y0, x1, y1], place.x, place.y),
            "amodal": encode_png(whole[y0:y1, x0:x1]),
            "placement_rule": str(obj.placed.rule),
        })
    return records, instances


def _moved(bbox: list[int], x: int, y: int) -> list[int]:
    """A box found in a crop at (x, y), in the picture's coordinates."""
    return [bbox[0] + x, bbox[1] + y, bbox[2] + x, bbox[3] + y]
