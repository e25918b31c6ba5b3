"""`validate`'s check of a row's instance map against its `mask` and `objects`: the map shows exactly the
mask's pixels (at least one half), and each object's id where its record says (area and visible box)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..pipeline.composite import mask_bbox


def check_instances(file: str, row: int, r: dict, mask: np.ndarray, report) -> None:
    if r.get("instances") is None:  # datasets of format 2 have no instance map
        return
    try:
        instances = np.asarray(Image.open(io.BytesIO(r["instances"]["bytes"])))
    except Exception as error:  # PIL raises many kinds on damaged bytes
        report.fail(file, row, "decode", f"instances: {error}")
        return
    if instances.shape != mask.shape:
        report.fail(file, row, "instances", f"shape {instances.shape}, the mask's is {mask.shape}")
        return
    if ((instances > 0) != (mask >= 128)).any():
        report.fail(file, row, "instances", f"{int(((instances > 0) != (mask >= 128)).sum())} pixels differ from mask >= 128")
    records = r.get("objects") or []
    ids = sorted(int(v) for v in np.unique(instances) if v)
    if ids != [o["id"] for o in records]:
        report.fail(file, row, "instances", f"ids {ids[:8]} in the map, {[o['id'] for o in records][:8]} in objects")
        return
    for record in records:
        seen = instances == record["id"]
        if int(seen.sum()) != record["area"] or mask_bbox(seen) != record["bbox"]:
            report.fail(file, row, "objects", f"object {record['id']}: area {record['area']} and bbox {record['bbox']}, "
                        f"the instance map's are {int(seen.sum())} and {mask_bbox(seen)}")
