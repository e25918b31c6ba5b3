"""How plausible a dataset's geometry is, judged from the data contract alone: the fg_bg rows, the
backgrounds config (metric depth via depth_min/depth_max, intrinsics) and the foregrounds config (the
cut-outs). Each silhouette is rebuilt as the card says: the stored cut-out, flipped when `flipped`,
resized to (w, h) with LANCZOS, alpha >= 128, top-left at (x, y).

    python -m benchmarks.geometry_check OUT [--limit N]

Reports, over the rows that stand on a floor (those with a contact point above a fitted floor and, in a
dataset with a `placement_rule` column, labelled `floor`: a row the uniform rule placed claims no floor):
- contact shown: the contact pixel (bottom row, centre column of the silhouette's box) is not hidden by the
  scene, i.e. the background there is not nearer than the object;
- contact on floor: of those, the background's stored depth at the contact pixel, back-projected, lies on
  the floor plane fitted to that depth within 5 % of the depth;
- height CV: per cut-out, the coefficient of variation of its height in metres, measured as the upright
  segment from the contact point (on the fitted floor) whose top projects to the silhouette's top row;
- occluded: the share of composites with 10 % or more of their silhouette hidden;
- depth order: hidden silhouette pixels have a nearer background and visible ones do not (pixels within
  2 px of the silhouette's or the hidden part's border excluded).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from generator.pipeline.geometry import Intrinsics, fit_floor, occlusion_margin, ray_plane_point, top_of_object
from generator.pipeline.upright import upright_plane_depth

BORDER = 2


def _image(cell) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


def _depth(row) -> np.ndarray:
    """The stored depth in metres, NaN at the holes `depth_known` marks (every comparison with them fails)."""
    png = _image(row["depth"]).astype(np.float64)
    depth = row["depth_min"] + png / 65535 * (row["depth_max"] - row["depth_min"])
    if row.get("depth_known") is not None:
        depth[_image(row["depth_known"]) == 0] = np.nan
    return depth


def _table(out: Path, folder: str):
    return pq.ParquetDataset(sorted(str(p) for p in (out / folder).glob("*.parquet"))).read()


def _backgrounds(out: Path) -> dict[int, dict]:
    found = {}
    for row in _table(out, "backgrounds").to_pylist():
        if row["bg_id"] in found or row["depth"] is None or row["intrinsics"] is None:
            continue
        depth = _depth(row)
        intrinsics = Intrinsics(*row["intrinsics"])
        found[row["bg_id"]] = {"depth": depth, "intrinsics": intrinsics, "plane": fit_floor(depth, intrinsics)}
    return found


def _cutouts(out: Path) -> dict[int, np.ndarray]:
    return {row["fg_id"]: _image(row["image"]) for row in _table(out, "foregrounds").to_pylist()}


def silhouette(cutout: np.ndarray, flipped: bool, w: int, h: int) -> np.ndarray:
    rgba = cutout[:, ::-1] if flipped else cutout
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    if image.size != (w, h):
        image = image.resize((w, h), Image.Resampling.LANCZOS)
    return np.asarray(image)[..., 3] >= 128


def _shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    inner = mask.copy()
    for _ in range(pixels):
        padded = np.pad(inner, 1, constant_values=False)
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inner


def height_metres(contact: np.ndarray, top_v: float, plane: np.ndarray, intrinsics: Intrinsics) -> float:
    """The height of the upright segment from `contact` whose top projects to image row `top_v` (bisection:
    the projection rises monotonically with the height in front of the camera)."""
    low, high = 0.0, 20.0
    if plane[2] < 0:  # the top would pass behind the camera (and its projection flip) beyond this height
        high = min(high, 0.99 * contact[2] / -plane[2])
    for _ in range(60):
        middle = (low + high) / 2
        if top_of_object(contact, middle, plane, intrinsics) > top_v:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def check(out: Path, limit: int | None = None) -> dict:
    out = Path(out)
    backgrounds, cutouts = _backgrounds(out), _cutouts(out)
    table = _table(out, "data")
    columns = ["bg_id", "fg_id", "flipped", "x", "y", "w", "h", "mask"]
    columns += ["placement_rule"] if "placement_rule" in table.column_names else []
    rows = table.select(columns).to_pylist()[:limit]
    rules = {rule: sum(row.get("placement_rule") == rule for row in rows) for rule in {row.get("placement_rule") for row in rows}}
    counted = shown = on_floor = occluded = 0
    heights: dict[int, list[float]] = {}
    agree = checked = 0
    for row in rows:
        bg = backgrounds.get(row["bg_id"])
        if bg is None or bg["plane"] is None or row.get("placement_rule", "floor") != "floor":
            continue
        depth, intrinsics, plane = bg["depth"], bg["intrinsics"], bg["plane"]
        x, y, w, h = row["x"], row["y"], row["w"], row["h"]
        whole = silhouette(cutouts[row["fg_id"]], row["flipped"], w, h)
        visible = _image(row["mask"])[y : y + h, x : x + w] > 0
        contact_row, contact_col = y + h - 1, x + w // 2
        contact = ray_plane_point(contact_col + 0.5, contact_row + 0.5, intrinsics, plane)
        if contact is None:
            continue
        counted += 1
        rows_, cols_ = np.arange(y, y + h), np.arange(x, x + w)
        object_depth = upright_plane_depth(contact, plane, intrinsics, rows_, cols_)
        scene = depth[y : y + h, x : x + w]
        nearer = scene < object_depth - occlusion_margin(object_depth)
        hidden = whole & ~visible
        if hidden.sum() >= 0.1 * whole.sum():
            occluded += 1
        if nearer[-1, w // 2]:
            continue
        shown += 1
        stored = depth[contact_row, contact_col]
        point = stored * np.array([(contact_col + 0.5 - intrinsics.cx) / intrinsics.fx, -(contact_row + 0.5 - intrinsics.cy) / intrinsics.fy, 1.0])
        on_floor += abs(point @ plane[:3] - plane[3]) < 0.05 * stored
        heights.setdefault(row["fg_id"], []).append(height_metres(contact, y + 0.5, plane, intrinsics))
        core = _shrink(whole, BORDER) & ~(_grow(hidden, BORDER) & _grow(visible, BORDER))
        checked += int(core.sum())
        agree += int((core & (hidden == nearer)).sum())
    cvs = {fg: float(np.std(v) / np.mean(v)) for fg, v in heights.items() if len(v) > 1}
    return {
        "rows": len(rows),
        "rows_per_rule": {str(rule): count for rule, count in sorted(rules.items(), key=str)},
        "standing": counted,
        "contact_shown": shown / max(counted, 1),
        "contact_on_floor": on_floor / max(shown, 1),
        "height_cv_max": max(cvs.values(), default=0.0),
        "height_cv_mean": float(np.mean(list(cvs.values()))) if cvs else 0.0,
        "occluded_10pct": occluded / max(counted, 1),
        "depth_order_agrees": agree / max(checked, 1),
    }


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    return ~_shrink(~mask, pixels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a dataset folder built by generate")
    parser.add_argument("--limit", type=int, help="check only the first N fg_bg rows")
    args = parser.parse_args()
    print(json.dumps(check(args.out, args.limit), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
