"""Boxes [x0, y0, x1, y1] (end-exclusive; [0, 0, 0, 0] for none) of what a render changed."""

from __future__ import annotations

import numpy as np

from ..composite import mask_bbox


def changed_box(image: np.ndarray, background: np.ndarray, touched: list[tuple[int, int, int, int]]) -> list[int]:
    """The pixels of `image` that differ from `background`, searched in the union of the boxes the
    effects touched; zeros when none differs."""
    if not touched:
        return [0, 0, 0, 0]
    x0, y0 = min(b[0] for b in touched), min(b[1] for b in touched)
    x1, y1 = max(b[2] for b in touched), max(b[3] for b in touched)
    differs = (image[y0:y1, x0:x1] != background[y0:y1, x0:x1]).any(axis=2)
    bx0, by0, bx1, by1 = mask_bbox(differs)
    return [0, 0, 0, 0] if bx1 == 0 else [bx0 + x0, by0 + y0, bx1 + x0, by1 + y0]


def union_box(first: list[int], second: list[int]) -> list[int]:
    """The smallest box holding both; an empty box ([0, 0, 0, 0] or zero area) adds nothing."""
    if first[2] <= first[0] or first[3] <= first[1]:
        return list(second)
    if second[2] <= second[0] or second[3] <= second[1]:
        return list(first)
    return [min(first[0], second[0]), min(first[1], second[1]), max(first[2], second[2]), max(first[3], second[3])]
