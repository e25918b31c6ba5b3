"""`export-coco`: a built dataset's labelled objects as COCO instance annotations, one file per split,
OUT/annotations/instances_{split}.json. Each object seen is an annotation with the run-length encoding of
its visible pixels (the instance map's, uncompressed RLE as COCO's own API reads it), `iscrowd` 0, its area
and box in COCO's [x, y, w, h]; categories are the foregrounds (by name, or their class where known).
`--images` also writes the composites to OUT/images/{split}/{name}.{jpg|png}, the annotations' file_name."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from ..output.folder import atomic_path, write_text
from ..output.reader import read_shard
from ..schema import ANNOTATIONS_DIR, FG_BG, FOREGROUNDS

IMAGES_DIR = "images"


def annotation_path(out: Path, split: str) -> Path:
    return out / ANNOTATIONS_DIR / f"instances_{split}.json"


def rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed run-length encoding: run lengths over the column-major pixels, zeros first."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def coco_splits(out: Path, manifest: dict) -> dict[str, dict]:
    """Each split's COCO document, from the shards the manifest lists."""
    extension = "jpg" if manifest["options"]["image_format"] == "jpeg" else "png"
    categories = _categories(out, manifest)
    documents: dict[str, dict] = defaultdict(lambda: {"images": [], "annotations": [], "categories": categories})
    for shard in (s for s in manifest["shards"] if s["config"] == FG_BG):
        document = documents[shard["split"]]
        table = read_shard(out, shard["path"], columns=["name", "fg_id", "objects", "instances"])
        for row in table.to_pylist():
            instances = np.asarray(Image.open(io.BytesIO(row["instances"]["bytes"])))
            image_id = len(document["images"]) + 1
            height, width = instances.shape
            document["images"].append({"id": image_id, "file_name": f"{row['name']}.{extension}", "width": width, "height": height})
            for record in row["objects"]:
                x0, y0, x1, y1 = record["bbox"]
                document["annotations"].append({
                    "id": len(document["annotations"]) + 1, "image_id": image_id, "category_id": record["fg_id"] + 1,
                    "segmentation": rle(instances == record["id"]), "area": record["area"],
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0,
                })
    return dict(documents)


def annotation_problems(out: Path, manifest: dict) -> list[tuple[str, str]]:
    """(file, problem) for each annotation file under OUT/annotations/ that is not what export-coco
    writes from the shards now (none where the folder is absent)."""
    folder = out / ANNOTATIONS_DIR
    if not folder.is_dir():
        return []
    expected = coco_splits(out, manifest)
    problems = []
    for path in sorted(folder.glob("instances_*.json")):
        split = path.stem.removeprefix("instances_")
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            problems.append((path.name, f"unreadable ({error})"))
            continue
        if found != expected.get(split):
            problems.append((path.name, "differs from the shards' objects and instance maps: run export-coco again"))
    return problems


def _categories(out: Path, manifest: dict) -> list[dict]:
    """One category per foreground, id fg_id + 1 (COCO keeps 0 for the background)."""
    names = {}
    for shard in (s for s in manifest["shards"] if s["config"] == FOREGROUNDS):
        for row in read_shard(out, shard["path"], columns=["fg_id", "name"]).to_pylist():
            names[row["fg_id"]] = row["name"]
    return [{"id": fg_id + 1, "name": names[fg_id], "supercategory": "object"} for fg_id in sorted(names)]


def write_coco(out: Path, manifest: dict, images: bool) -> list[Path]:
    """Write every split's annotations (and with `images` its composites); the annotation files written."""
    written = []
    for split, document in coco_splits(out, manifest).items():
        write_text(annotation_path(out, split), json.dumps(document, separators=(",", ":")) + "\n")
        written.append(annotation_path(out, split))
    if images:
        _write_images(out, manifest)
    return written


def _write_images(out: Path, manifest: dict) -> None:
    extension = "jpg" if manifest["options"]["image_format"] == "jpeg" else "png"
    for shard in (s for s in manifest["shards"] if s["config"] == FG_BG):
        folder = out / IMAGES_DIR / shard["split"]
        folder.mkdir(parents=True, exist_ok=True)
        for row in read_shard(out, shard["path"], columns=["name", "image"]).to_pylist():
            with atomic_path(folder / f"{row['name']}.{extension}") as temporary:
                temporary.write_bytes(row["image"]["bytes"])
