"""Quality gates: which found objects become cut-outs. Each gate that refuses one names why, and
cutouts.json counts and lists them: an object cut by the photo's border (its far side is missing), one
too small to be worth pasting, a low score, one that overlaps a better object of the same photo, and,
once matted, an alpha almost all opaque (the segmenter filled its box) or almost all transparent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .find import Found

CUT_BY_BORDER = "cut by the photo's border"
TOO_SMALL = "too small"
LOW_SCORE = "low score"
OVERLAP = "overlaps a better object"
NOT_BEST = "not the photo's best object"
ALL_OPAQUE = "alpha almost all opaque"
ALL_TRANSPARENT = "alpha almost all transparent"


@dataclass(frozen=True)
class Gates:
    min_score: float = 0.35
    min_side_px: int = 32  # the box's shorter side
    border_px: int = 2  # a box edge this close to the photo's edge is cut by it
    max_overlap: float = 0.6  # intersection over union with a better object of the same photo
    max_opaque_share: float = 0.97  # of the box's pixels with alpha above 250
    max_transparent_share: float = 0.97  # of the box's pixels with alpha below 5


def box_reason(found: Found, photo_shape: tuple[int, ...], gates: Gates) -> str | None:
    """Why a found object is refused before it is segmented, or None."""
    x0, y0, x1, y1 = found.box
    height, width = photo_shape[:2]
    if found.score < gates.min_score:
        return LOW_SCORE
    if min(x1 - x0, y1 - y0) < gates.min_side_px:
        return TOO_SMALL
    if x0 < gates.border_px or y0 < gates.border_px or x1 > width - gates.border_px or y1 > height - gates.border_px:
        return CUT_BY_BORDER
    return None


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def select(found: list[Found], photo_shape: tuple[int, ...], gates: Gates, one: bool) -> list[str | None]:
    """Each found object's reason to be refused (None: kept), best scores first: the box gates, then an
    overlap with a better kept object, then with `one` every kept object but the best."""
    reasons: list[str | None] = [box_reason(f, photo_shape, gates) for f in found]
    kept: list[int] = []
    for index in sorted(range(len(found)), key=lambda i: -found[i].score):
        if reasons[index] is not None:
            continue
        if any(iou(found[index].box, found[k].box) > gates.max_overlap for k in kept):
            reasons[index] = OVERLAP
        elif one and kept:
            reasons[index] = NOT_BEST
        else:
            kept.append(index)
    return reasons


def alpha_reason(alpha: np.ndarray, box: tuple[float, ...], gates: Gates) -> str | None:
    """Why a matted object is refused, judged over its box, or None."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    inside = alpha[max(0, y0) : max(y0 + 1, y1), max(0, x0) : max(x0 + 1, x1)]
    if inside.size == 0 or np.mean(inside < 5) > gates.max_transparent_share:
        return ALL_TRANSPARENT
    if np.mean(inside > 250) > gates.max_opaque_share:
        return ALL_OPAQUE
    return None
