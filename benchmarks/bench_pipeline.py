"""CPU pipeline benchmark (issue 6): the whole `generate` against the encoding floor, scaling with
workers, time and peak memory as the dataset grows, and bytes per sample by field.

The encoding floor is the rate at which this machine merely encodes the same images (composite JPEG,
mask PNG, 16-bit depth PNG) with the same encoders and settings, in as many processes as the pipeline
has workers. Everything runs in one invocation, on one machine, so the numbers compare.

    python benchmarks/bench_pipeline.py                       # 2 workers, 4,000 and 40,000 samples
    python benchmarks/bench_pipeline.py --sizes 4000 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.encode import encode_depth, encode_image, encode_png  # noqa: E402

# (backgrounds, foregrounds) per size; placements 20 and flips 2 as in the real dataset.
GRIDS = {4000: (10, 10), 40000: (100, 10), 400000: (100, 100)}


def run_generate(out: Path, backgrounds: int, foregrounds: int, workers: int) -> dict:
    """`generate --demo` in a child process: wall seconds and the peak RSS of its biggest process."""
    command = [sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", str(backgrounds),
               "--num-foregrounds", str(foregrounds), "--workers", str(workers), "--no-progress", "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    samples = backgrounds * foregrounds * 2 * 20
    return {"samples": samples, "workers": workers, "seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 1),
            "peak_rss_mb": round(max(peak_kib, before) / 1024, 1)}


def decoded_samples(out: Path, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(composite, mask, depth float) arrays of the first `count` rows, as the pipeline had them."""
    samples = []
    for path in sorted((out / "data").glob("*.parquet")):
        table = pq.read_table(path, columns=["image", "mask", "depth", "depth_min", "depth_max"]).to_pylist()
        for row in table:
            image = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])))
            mask = np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"])))
            png = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"])), dtype=np.float32)
            depth = row["depth_min"] + png / 65535 * (row["depth_max"] - row["depth_min"])
            samples.append((image, mask, depth.astype(np.float32)))
            if len(samples) == count:
                return samples
    return samples


def _encode_all(samples) -> int:
    for image, mask, depth in samples:
        encode_image(image, "jpeg", 95)
        encode_png(mask)
        encode_depth(depth)
    return len(samples)


def encoding_floor(samples, workers: int, repeat: int) -> float:
    """Samples/s of encoding alone, `workers` processes each encoding its share `repeat` times."""
    shares = [samples[i::workers] * repeat for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_encode_all, [s[:4] for s in shares])  # start the processes before the clock
        started = time.perf_counter()
        done = sum(pool.map(_encode_all, shares))
    return done / (time.perf_counter() - started)


def bytes_per_field(out: Path) -> dict[str, float]:
    totals: dict[str, int] = {}
    rows = 0
    for path in sorted((out / "data").glob("*.parquet")):
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                field = column.path_in_schema.split(".")[0]
                totals[field] = totals.get(field, 0) + column.total_compressed_size
    return {field: round(size / rows, 1) for field, size in sorted(totals.items(), key=lambda kv: -kv[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 40000], choices=sorted(GRIDS))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--floor-samples", type=int, default=500)
    args = parser.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results: dict = {"machine": machine, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for workers in args.workers:
                run = run_generate(Path(tmp) / f"ds-{size}-{workers}", *GRIDS[size], workers)
                results["runs"].append(run)
                print(f"generate {size:>7,} samples, {workers} workers: {run['seconds']:7.1f} s, "
                      f"{run['samples_per_s']:7.1f} samples/s, peak RSS {run['peak_rss_mb']:.0f} MB", flush=True)
        reference = Path(tmp) / f"ds-{args.sizes[0]}-{args.workers[0]}"
        samples = decoded_samples(reference, args.floor_samples)
        for workers in args.workers:
            floor = encoding_floor(samples, workers, repeat=4)
            pipeline = max(r["samples_per_s"] for r in results["runs"] if r["workers"] == workers and r["samples"] == max(args.sizes))
            results.setdefault("floor", []).append({"workers": workers, "floor_samples_per_s": round(floor, 1),
                                                     "pipeline_samples_per_s": pipeline, "ratio": round(pipeline / floor, 3)})
            print(f"encoding floor, {workers} workers: {floor:7.1f} samples/s; pipeline at {max(args.sizes):,} samples: "
                  f"{pipeline:7.1f} samples/s = {pipeline / floor:.0%} of the floor", flush=True)
        results["bytes_per_sample"] = bytes_per_field(reference)
        total = sum(results["bytes_per_sample"].values())
        print("bytes per sample by field:", results["bytes_per_sample"], f"total {total:,.0f}; x 400,000 = {total * 4e5 / 1e9:.2f} GB")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
