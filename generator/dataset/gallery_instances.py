"""The gallery's instances sheet (builds of several objects): for a few composites, the composite, its
instance map in colours (one per object id, black where no labelled object is seen) and the composite with
each object's whole silhouette outlined in its colour, hidden parts included."""

from __future__ import annotations

import numpy as np

from ..output.reader import read_shard
from ..pipeline.moments import decode
from ..schema import FG_BG

# Colours of object ids 1, 2, ... (repeating): distinct on photos and on one another.
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                    (145, 30, 180), (70, 240, 240), (240, 50, 230)], np.uint8)
SHOWN = 4  # composites on the sheet


def instances_sheet(root, manifest: dict, mosaic):
    """The sheet, or None where no composite of the first shard shows more than one labelled object."""
    first = next(s for s in manifest["shards"] if s["config"] == FG_BG and s["rows"])  # strict floor may leave one empty
    rows = read_shard(root, first["path"], ["name", "image", "objects", "instances"], row_group=0).to_pylist()
    several = [r for r in rows if len(r["objects"]) > 1][:SHOWN]
    if not several:
        return None
    tiles, labels = [], []
    for row in several:
        image = decode(row["image"]["bytes"])
        instances = decode(row["instances"]["bytes"])
        tiles += [image, coloured(instances), outlined(image, row["objects"])]
        labels += [row["name"], f"{len(row['objects'])} objects", ""]
    return mosaic(tiles, labels, "Instances: composite | instance map | whole silhouettes outlined", 3,
                  ["composite", "instances", "whole silhouettes"])


def coloured(instances: np.ndarray) -> np.ndarray:
    picture = np.zeros((*instances.shape, 3), np.uint8)
    seen = instances > 0
    picture[seen] = PALETTE[(instances[seen].astype(np.int64) - 1) % len(PALETTE)]
    return picture


def outlined(image: np.ndarray, objects: list[dict]) -> np.ndarray:
    picture = image.copy()
    for record in objects:
        x0, y0, x1, y1 = record["amodal_bbox"]
        whole = np.zeros(image.shape[:2], bool)
        whole[y0:y1, x0:x1] = decode(record["amodal"]["bytes"]) > 0
        picture[whole & ~_eroded(whole)] = PALETTE[(record["id"] - 1) % len(PALETTE)]
    return picture


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` whose four neighbours are all in it (outside the picture counts as out)."""
    padded = np.pad(mask, 1)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
