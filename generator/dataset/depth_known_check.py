"""`validate`'s check of the `depth_known` column: a map's known pixels, stored only where its depth has
holes (pipeline/depth_holes.py): an 8-bit mask of the depth's size, 255 where known and 0 at a hole, with
at least one hole, and the depth's level 0 at every hole."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def check_depth_known(file: str, row: int, r: dict, size: tuple[int, int], report) -> None:
    """Fail `report` for a `depth_known` cell of row `r` that breaks the contract above."""
    cell = r.get("depth_known")
    if cell is None:
        return
    if r.get("depth") is None:
        report.fail(file, row, "depth_known", "present although the row has no depth")
        return
    try:
        with Image.open(io.BytesIO(cell["bytes"])) as image:
            mode, shape, known = image.mode, image.size, np.asarray(image)
        with Image.open(io.BytesIO(r["depth"]["bytes"])) as image:
            depth = np.asarray(image)
    except Exception as error:  # PIL raises many kinds on damaged bytes
        report.fail(file, row, "depth_known", f"cannot decode: {error}")
        return
    if mode != "L" or shape != size:
        report.fail(file, row, "depth_known", f"is {mode} {shape[0]}x{shape[1]}, expected L {size[0]}x{size[1]}")
    elif not ((known == 0) | (known == 255)).all():
        report.fail(file, row, "depth_known", f"values other than 0/255: {np.unique(known[(known != 0) & (known != 255)])[:5].tolist()}")
    elif known.all():
        report.fail(file, row, "depth_known", "marks no hole (a depth without holes stores null)")
    elif depth.shape == known.shape and (depth[known == 0] != 0).any():
        report.fail(file, row, "depth_known", "the depth's level at a hole is not 0")
