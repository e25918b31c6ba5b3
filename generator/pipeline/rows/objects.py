"""The per-object columns of a row: `objects` (each labelled object's boxes, area, how much of it shows,
and its whole silhouette) and `instances` (a 16-bit map: k where object id k is seen, 0 elsewhere).
An object the scene and nearer objects hide entirely is left out of both."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..composite import mask_bbox
from ..encode import encode_label_png, encode_one_label_png
from ..render import Rendered, RenderedObject

SEEN = 128  # a pixel shows an object where its visible mask is at least one half (soft masks included)


def object_columns(rendered: Rendered, categories: Sequence[str | None]) -> tuple[list[dict], bytes]:
    """The row's `objects` records and its instance map as PNG, ids 1..n in the scene's order (the row's
    own object first). `categories[fg_id]`: each foreground's class (sources.Foreground.category), or None."""
    shape = rendered.image.shape[:2]
    labelled = [obj for obj in rendered.objects if obj.placed.labelled]
    if len(labelled) == 1:
        # One object: its map is its seen pixels, encoded from its box alone (the same bytes).
        seen = _seen(labelled[0])
        if seen.any():
            place = labelled[0].placed.place
            return [_record(labelled[0], seen, 1, categories)], encode_one_label_png(seen, place.x, place.y, shape)
    records: list[dict] = []
    instances = np.zeros(shape, np.uint16)
    for obj in labelled:
        seen = _seen(obj)
        if not seen.any():
            continue
        place = obj.placed.place
        instances[place.y : place.y + place.h, place.x : place.x + place.w][seen] = len(records) + 1
        records.append(_record(obj, seen, len(records) + 1, categories))
    return records, encode_label_png(instances)


def _seen(obj: RenderedObject) -> np.ndarray:
    """(h, w) bool over the object's silhouette box (inside the picture): where it is seen. Only that box
    is searched: the object has no pixel outside it."""
    place = obj.placed.place
    return obj.visible[place.y : place.y + place.h, place.x : place.x + place.w] >= SEEN


def _record(obj: RenderedObject, seen: np.ndarray, object_id: int, categories: Sequence[str | None]) -> dict:
    """The `objects` record of an object seen at `seen`. Its whole silhouette is its cut-out's mask at its
    place (render draws `whole` so, and a cut-out lies inside the picture), so its amodal box and PNG are
    the cut-out's own, hidden or not."""
    placed = obj.placed
    place, cutout = placed.place, placed.cutout
    area = int(np.count_nonzero(seen))
    whole_area = area if obj.whole is None else int(np.count_nonzero(cutout.mask >= SEEN))
    return {
        "id": object_id,
        "fg_id": placed.fg_id,
        "bbox": _seen_bbox(obj, seen),
        "area": area,
        "visible_fraction": area / max(whole_area, 1),
        "category": categories[placed.fg_id],
        "amodal_bbox": _moved(list(cutout.bbox), place.x, place.y),
        "amodal": cutout.mask_png,
        "placement_rule": str(placed.rule),
    }


def _seen_bbox(obj: RenderedObject, seen: np.ndarray) -> list[int]:
    """The box of the object's seen pixels: render's box of its visible mask where that mask is binary
    (0 or 255: seen wherever it is non-zero), else searched."""
    if obj.placed.cutout.mask is obj.placed.cutout.solid:
        return list(obj.bbox)
    place = obj.placed.place
    return _moved(mask_bbox(seen), place.x, place.y)


def _moved(bbox: list[int], x: int, y: int) -> list[int]:
    """A box found in a crop at (x, y), in the picture's coordinates."""
    return [bbox[0] + x, bbox[1] + y, bbox[2] + x, bbox[3] + y]
