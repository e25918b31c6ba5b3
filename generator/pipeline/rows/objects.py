"""The per-object columns of a row: `objects` (each labelled object's boxes, area, how much of it shows,
and its whole silhouette) and `instances` (a 16-bit map: k where object id k is seen, 0 elsewhere).
An object the scene and nearer objects hide entirely is left out of both."""

from __future__ import annotations

import numpy as np

from ..composite import mask_bbox
from ..encode import encode_png
from ..render import Rendered

SEEN = 128  # a pixel shows an object where its visible mask is at least one half (soft masks included)


def object_columns(rendered: Rendered) -> tuple[list[dict], np.ndarray]:
    """The row's `objects` records and its instance map (S, S) uint16, ids 1..n in drawing order."""
    records: list[dict] = []
    instances = np.zeros(rendered.image.shape[:2], np.uint16)
    for obj in rendered.objects:
        if not obj.placed.labelled:
            continue
        seen = obj.visible >= SEEN
        area = int(np.count_nonzero(seen))
        if area == 0:
            continue
        whole = obj.visible if obj.whole is None else obj.whole
        x0, y0, x1, y1 = amodal_bbox = mask_bbox(whole)
        instances[seen] = len(records) + 1
        records.append({
            "id": len(records) + 1,
            "fg_id": obj.placed.fg_id,
            "bbox": mask_bbox(seen),
            "area": area,
            "visible_fraction": area / max(int(np.count_nonzero(whole >= SEEN)), 1),
            "category": None,  # the foregrounds carry no class yet
            "amodal_bbox": amodal_bbox,
            "amodal": encode_png(whole[y0:y1, x0:x1]),
        })
    return records, instances
