"""How true a dataset's masks are to its composites: the share of mask pixels where the composite shows
nothing of the object, i.e. equals its background within a few levels in every channel. A mask pixel the
composite does not show is a label a model cannot learn from the image (a ring, a halo).

    python -m benchmarks.mask_truth OUT [--levels 2] [--erode 2]

Meaningful on PNG composites (JPEG noise moves every pixel) built without --background-jitter (the stored
background must be the one the composite was made from). Also reported: the same share inside the masks
eroded by `--erode` px, where only an object of the background's own colour can be unseen.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def _decode(cell: dict) -> np.ndarray:
    with Image.open(io.BytesIO(cell["bytes"])) as image:
        return np.asarray(image)


def eroded(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask (bool) shrunk by `pixels` px (4-neighbourhood); outside the image counts as outside."""
    inner = mask.copy()
    for _ in range(pixels):
        padded = np.pad(inner, 1, constant_values=False)
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inner


def measure(out: Path, levels: int = 2, erode: int = 2) -> dict[str, int]:
    """Counts over every fg_bg row: mask pixels, those the composite does not show, and the same inside
    the masks eroded by `erode` px."""
    counts = {"rows": 0, "mask": 0, "unseen": 0, "inner": 0, "inner_unseen": 0}
    for path in sorted((Path(out) / "data").glob("*.parquet")):
        for row in pq.read_table(path, columns=["image", "mask", "background"]).to_pylist():
            image, background = _decode(row["image"]).astype(np.int16), _decode(row["background"]).astype(np.int16)
            mask = _decode(row["mask"]) > 0
            unseen = (np.abs(image - background) <= levels).all(axis=2)
            inner = eroded(mask, erode)
            counts["rows"] += 1
            counts["mask"] += int(mask.sum())
            counts["unseen"] += int((mask & unseen).sum())
            counts["inner"] += int(inner.sum())
            counts["inner_unseen"] += int((inner & unseen).sum())
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mask_truth", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--levels", type=int, default=2, help="a composite pixel within this of its background in every channel is unseen")
    parser.add_argument("--erode", type=int, default=2)
    args = parser.parse_args(argv)
    c = measure(args.out, args.levels, args.erode)
    if not c["mask"]:
        print(f"error: no mask pixels in {args.out}/data", file=sys.stderr)
        return 2
    print(f"{c['rows']} rows, {c['mask']:,} mask pixels: {c['unseen']:,} unseen ({100 * c['unseen'] / c['mask']:.2f} %) "
          f"(composite within {args.levels} levels of its background in every channel)")
    inner = 100 * c["inner_unseen"] / c["inner"] if c["inner"] else 0.0
    print(f"inside the masks eroded by {args.erode} px: {c['inner_unseen']:,} of {c['inner']:,} unseen ({inner:.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
