"""Decoded samples/s: streaming the Parquet shards vs reading loose per-file JPG/PNG folders.

The same N `fg_bg` samples are first written out as loose files, the layout hand-made datasets of this kind ship (one file per
composite, mask, depth and background: image/NAME.jpg, mask/NAME.png, depth/NAME.png, background/BG.png),
then a torch DataLoader reads each source with the same decode work per sample (composite, background,
mask and 16-bit depth decoded by Pillow into CHW tensors, stacked into batches):

- `parquet-stream`: load_dataset(DIR, split="train", streaming=True).with_format("torch")
- `loose-files`: a map-style Dataset opening the four files of each sample

    python -m benchmarks.bench_streaming                      # builds a demo dataset in a temp folder
    python -m benchmarks.bench_streaming --dataset DIR --samples 2000 --workers 0 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


from generator.cli import main as cli

KEYS = ("image", "background", "mask", "depth")


def to_tensor(image: Image.Image) -> torch.Tensor:
    """What datasets' torch formatter does: HWC -> CHW, keeping the dtype (uint8, or uint16 for I;16)."""
    array = np.array(image)
    if array.dtype == np.dtype(">u2") or array.dtype == np.dtype("<u2"):
        array = array.astype(np.uint16)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class LooseFiles(torch.utils.data.Dataset):
    def __init__(self, root: Path, names: list[tuple[str, int]], suffix: str):
        self.root, self.names, self.suffix = root, names, suffix

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        name, bg_id = self.names[i]
        with Image.open(self.root / "image" / f"{name}{self.suffix}") as im, \
             Image.open(self.root / "background" / f"{bg_id}.png") as bg, \
             Image.open(self.root / "mask" / f"{name}.png") as mask, \
             Image.open(self.root / "depth" / f"{name}.png") as depth:
            return {"image": to_tensor(im), "background": to_tensor(bg), "mask": to_tensor(mask), "depth": to_tensor(depth)}


def collate(rows: list[dict]) -> dict:
    return {k: torch.stack([r[k] for r in rows]) for k in KEYS}


def write_loose(dataset: Path, root: Path, samples: int) -> tuple[list[tuple[str, int]], str, list[str]]:
    """All rows of the first train shards holding at least `samples` rows, as loose files; returns
    (name, bg_id) pairs, the image suffix and the shards used (streamed whole: no take(), which
    datasets splits across DataLoader workers)."""
    import pyarrow.parquet as pq

    names, suffix, shards = [], ".jpg", []
    for sub in ("image", "background", "mask", "depth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for shard in sorted((dataset / "data").glob("train-*.parquet")):
        if len(names) >= samples:
            break
        shards.append(str(shard))
        table = pq.read_table(shard, columns=["name", "bg_id", "image", "background", "mask", "depth"]).to_pylist()
        for row in table:
            suffix = ".jpg" if row["image"]["bytes"][:3] == b"\xff\xd8\xff" else ".png"
            (root / "image" / f"{row['name']}{suffix}").write_bytes(row["image"]["bytes"])
            (root / "mask" / f"{row['name']}.png").write_bytes(row["mask"]["bytes"])
            (root / "depth" / f"{row['name']}.png").write_bytes(row["depth"]["bytes"])
            background = root / "background" / f"{row['bg_id']}.png"
            if not background.exists():
                background.write_bytes(row["background"]["bytes"])
            names.append((row["name"], row["bg_id"]))
    return names, suffix, shards


def time_loader(make_loader, samples: int, repeats: int) -> tuple[float, int]:
    best, seen = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        seen = sum(batch["image"].shape[0] for batch in make_loader())
        best = min(best, time.perf_counter() - start)
    return best, seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=Path, help="a dataset folder (default: build a demo one in a temp folder)")
    p.add_argument("--samples", type=int, default=480)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--repeats", type=int, default=2, help="passes per case; the fastest is reported")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()

    from datasets import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = args.dataset
        if dataset is None:
            dataset = tmp / "ds"
            assert cli(["generate", "--demo", "--num-backgrounds", "6", "--num-foregrounds", "6", "--placements", "10",
                        "--shard-size", "100", "--no-progress", "--out", str(dataset)]) == 0
        names, suffix, shards = write_loose(dataset, tmp / "loose", args.samples)
        n = len(names)
        stream = load_dataset(str(dataset), data_files={"train": shards}, split="train", streaming=True)
        stream = stream.select_columns(list(KEYS)).with_format("torch")
        loose = LooseFiles(tmp / "loose", names, suffix)
        results = []
        for workers in args.workers:
            cases = {
                "parquet-stream": lambda: torch.utils.data.DataLoader(stream, batch_size=args.batch_size, num_workers=workers, collate_fn=collate),
                "loose-files": lambda: torch.utils.data.DataLoader(loose, batch_size=args.batch_size, num_workers=workers, collate_fn=collate),
            }
            for source, make in cases.items():
                seconds, seen = time_loader(make, n, args.repeats)
                results.append({"source": source, "workers": workers, "samples": seen, "seconds": round(seconds, 3),
                                "samples_per_s": round(seen / seconds, 1)})
        print(f"{n} fg_bg samples (composite {suffix[1:]}, background, mask, 16-bit depth), batch {args.batch_size}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{'source':<16} {'workers':>7} {'samples':>8} {'seconds':>8} {'samples/s':>10}")
        for r in results:
            print(f"{r['source']:<16} {r['workers']:>7} {r['samples']:>8} {r['seconds']:>8.2f} {r['samples_per_s']:>10.1f}")
        report = {"samples": n, "batch_size": args.batch_size, "results": results}
        print(json.dumps(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
