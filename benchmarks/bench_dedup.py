"""What a re-push would send, with and without content-defined chunking (CDC) of the Parquet pages.

The Hub stores files in Xet: content-defined chunks of ~64 KiB, deduplicated by hash, so a re-pushed file
costs only its chunks the repo does not have yet. No Xet server is at hand here, so this measures a proxy:
every Parquet file of the dataset before and after a change is cut into 64 KiB content-defined chunks by a
gear rolling hash (min 8 KiB, max 128 KiB, as Xet's chunker), and the bytes of the new chunks that no old
file has are what a push would upload. Two changes:

- one background replaced (same file name, other pixels): the composites of that background change;
- one foreground added: every background gets its composites, so the rows after the first background's
  shift against the fixed 100-row row groups;
- `relabel-depth` with another teacher: every depth map changes, every other column keeps its bytes (the
  column "beyond depth" is what is sent besides the new depth columns' own bytes).

    python -m benchmarks.bench_dedup                       # 10 backgrounds x 5 foregrounds (2,000 samples)
    python -m benchmarks.bench_dedup --num-foregrounds 10  # 4,000 samples
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from generator.build import build
from generator.config import BuildOptions, RunOptions, TeacherSettings
from generator.dataset.relabel import relabel
from generator.output import parquet

CDC = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}  # datasets' defaults
AVERAGE, MINIMUM, MAXIMUM = 64 * 1024, 8 * 1024, 128 * 1024
_GEAR = np.random.default_rng(0).integers(0, 2**63, size=256, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def chunk_boundaries(data: bytes) -> list[int]:
    """Ends of the content-defined chunks of `data`. The gear hash h = (h << 1) + G[byte] (mod 2^64) depends
    only on the last 64 bytes, so it is computed for every position at once as sum_k G[b_(i-k)] << k."""
    values = _GEAR[np.frombuffer(data, dtype=np.uint8)]
    rolling = np.zeros(len(values), dtype=np.uint64)
    for k in range(64):
        rolling[k:] += values[: len(values) - k] << np.uint64(k)
    mask = np.uint64(AVERAGE - 1) << np.uint64(48)  # the hash's high bits are the well-mixed ones
    candidates = np.flatnonzero((rolling & mask) == 0) + 1
    ends, start = [], 0
    for end in candidates.tolist():
        while end - start > MAXIMUM:
            start += MAXIMUM
            ends.append(start)
        if end - start >= MINIMUM:
            ends.append(end)
            start = end
    while len(data) - start > MAXIMUM:
        start += MAXIMUM
        ends.append(start)
    if start < len(data):
        ends.append(len(data))
    return ends


def chunks(folder: Path) -> dict[str, int]:
    """sha256 -> size of every chunk of every Parquet file under `folder`."""
    found = {}
    for path in sorted(folder.rglob("*.parquet")):
        data = path.read_bytes()
        start = 0
        for end in chunk_boundaries(data):
            found[hashlib.sha256(data[start:end]).hexdigest()] = end - start
            start = end
    return found


def parquet_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def sent_bytes(before: Path, after: Path) -> int:
    old = chunks(before)
    return sum(size for digest, size in chunks(after).items() if digest not in old)


def depth_column_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*.parquet"):
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                if chunk.path_in_schema.split(".")[0] in ("depth", "depth_min", "depth_max"):
                    total += chunk.total_compressed_size
    return total


def export_inputs(demo: Path, folder: Path) -> None:
    """The demo's backgrounds (PNG + depth .npy in metres) and foregrounds (RGBA PNG) as input folders."""
    for name in ("backgrounds", "depths", "foregrounds"):
        (folder / name).mkdir(parents=True)
    for shard in sorted((demo / "backgrounds").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            stem = f"bg_{row['bg_id']:03d}"
            Image.open(io.BytesIO(row["image"]["bytes"])).save(folder / "backgrounds" / f"{stem}.png")
            png = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"])), dtype=np.float32)
            depth = row["depth_min"] + png / 65535 * (row["depth_max"] - row["depth_min"])
            np.save(folder / "depths" / f"{stem}.npy", depth.astype(np.float32))
    for shard in sorted((demo / "foregrounds").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            Image.open(io.BytesIO(row["image"]["bytes"])).save(folder / "foregrounds" / f"fg_{row['fg_id']:03d}.png")


def build_from(inputs: Path, out: Path) -> None:
    options = BuildOptions(backgrounds=str(inputs / "backgrounds"), foregrounds=str(inputs / "foregrounds"),
                           background_depths=str(inputs / "depths"), depth="scene")
    build(options, RunOptions(out=out, workers=1, progress=False, gallery=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-backgrounds", type=int, default=10)
    parser.add_argument("--num-foregrounds", type=int, default=5)
    args = parser.parse_args()
    from tests.tiny_models import save_tiny_dpt

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build(BuildOptions(demo=True, num_backgrounds=args.num_backgrounds + 1, num_foregrounds=args.num_foregrounds + 1),
              RunOptions(out=tmp / "demo", workers=1, progress=False, gallery=False))
        export_inputs(tmp / "demo", tmp / "all")
        before, after, added = tmp / "in-before", tmp / "in-after", tmp / "in-added"
        for target in (before, after, added):
            shutil.copytree(tmp / "all", target)
        last = f"bg_{args.num_backgrounds:03d}"
        for folder in (before, after, added):  # the extra background only serves as the replacement
            (folder / "backgrounds" / f"{last}.png").unlink()
            (folder / "depths" / f"{last}.npy").unlink()
        (before / "foregrounds" / f"fg_{args.num_foregrounds:03d}.png").unlink()
        (after / "foregrounds" / f"fg_{args.num_foregrounds:03d}.png").unlink()
        shutil.copy(tmp / "all" / "backgrounds" / f"{last}.png", after / "backgrounds" / "bg_003.png")
        shutil.copy(tmp / "all" / "depths" / f"{last}.npy", after / "depths" / "bg_003.npy")
        teacher = save_tiny_dpt(tmp / "teacher")
        print("| pages | dataset | one background replaced: sent | one foreground added: sent | relabel-depth: sent (beyond depth) |")
        print("|---|---|---|---|---|")
        for label, options in (("fixed-size (no CDC)", None), ("content-defined (CDC)", CDC)):
            parquet.CDC_OPTIONS = options
            root = tmp / label.split()[0]
            build_from(before, root / "a")
            build_from(after, root / "b")
            build_from(added, root / "c")
            shutil.copytree(root / "a", root / "relabelled")
            relabel(root / "relabelled", str(teacher), TeacherSettings(device="cpu", batch_size=64), progress=False)
            total = parquet_bytes(root / "a")
            replaced, grown = sent_bytes(root / "a", root / "b"), sent_bytes(root / "a", root / "c")
            relabelled = sent_bytes(root / "a", root / "relabelled")
            beyond = relabelled - depth_column_bytes(root / "relabelled")
            print(f"| {label} | {total / 1e6:.2f} MB | {_share(replaced, root / 'b')} | {_share(grown, root / 'c')} "
                  f"| {_share(relabelled, root / 'relabelled')} ({beyond / 1e6:.2f} MB) |")


def _share(sent: int, folder: Path) -> str:
    return f"{sent / 1e6:.2f} MB ({sent / parquet_bytes(folder):.0%})"


if __name__ == "__main__":
    main()
