"""What the cutouts command writes beside the cut-outs: cutouts.json (every object found, kept or why
not, with the models and the counts), heights.csv (each cut-out's class and typical height, the format
`generate --fg-heights` reads) and a gallery sheet (photo with box, mask, alpha, cut-out on grey)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPORT = "cutouts.json"
HEIGHTS = "heights.csv"
GALLERY_SHEET = "gallery/cutouts.png"
TILE_PX = 160
GALLERY_ROWS = 24  # objects shown at most
GREY = (128, 128, 128)


@dataclass(frozen=True)
class ObjectRecord:
    photo: str  # file name in the photos folder
    box: list[float]  # x0, y0, x1, y1 in the photo's pixels
    score: float
    label: str
    category: str | None  # the class (pipeline/classes.py) or, unknown there, the label
    height_m: float | None  # the class's typical height, when the table knows it
    cutout: str | None  # foregrounds/NAME.png, None when skipped
    skipped: str | None  # the gate that refused it


def write_report(out: Path, records: list[ObjectRecord], models: dict, asked: dict) -> dict:
    """Write cutouts.json; returns its counts."""
    counts = {"found": len(records), "written": sum(r.cutout is not None for r in records),
              "skipped": dict(Counter(r.skipped for r in records if r.skipped))}
    report = {"asked": asked, "models": models, "counts": counts, "objects": [asdict(r) for r in records]}
    (out / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return counts


def write_heights(out: Path, records: list[ObjectRecord]) -> bool:
    """heights.csv for the cut-outs written whose class has a typical height; False (no file) when none has."""
    rows = [(Path(r.cutout).stem, r.height_m, r.category) for r in records if r.cutout and r.height_m is not None]
    if not rows:
        return False
    with open(out / HEIGHTS, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["name", "height_m", "category"])
        writer.writerows(rows)
    return True


def gallery_row(photo: np.ndarray, box: list[float], mask: np.ndarray, alpha: np.ndarray, cutout: np.ndarray) -> Image.Image:
    """One row of the sheet: the photo with the box, the mask, the alpha and the cut-out on grey."""
    shown = Image.fromarray(photo)
    ImageDraw.Draw(shown).rectangle(box, outline=(255, 40, 40), width=max(2, round(max(photo.shape[:2]) / 200)))
    on_grey = Image.new("RGB", (cutout.shape[1], cutout.shape[0]), GREY)
    on_grey.paste(Image.fromarray(cutout, "RGBA"), mask=Image.fromarray(cutout[..., 3]))
    tiles = [shown, Image.fromarray((mask * 255).astype(np.uint8)), Image.fromarray(alpha), on_grey]
    row = Image.new("RGB", (4 * TILE_PX, TILE_PX), GREY)
    for column, tile in enumerate(tiles):
        tile = tile.convert("RGB")
        tile.thumbnail((TILE_PX, TILE_PX))
        row.paste(tile, (column * TILE_PX + (TILE_PX - tile.width) // 2, (TILE_PX - tile.height) // 2))
    return row


def write_gallery(out: Path, rows: list[Image.Image]) -> None:
    if not rows:
        return
    sheet = Image.new("RGB", (4 * TILE_PX, TILE_PX * len(rows)), GREY)
    for index, row in enumerate(rows):
        sheet.paste(row, (0, index * TILE_PX))
    (out / GALLERY_SHEET).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out / GALLERY_SHEET)
