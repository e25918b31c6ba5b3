"""CPU pipeline benchmark: the whole `generate` against the encoding floor, scaling with
workers, time and peak memory as the dataset grows, and bytes per sample by field.

The encoding floor is the rate at which this machine merely encodes the same images (composite JPEG,
mask PNG, 16-bit depth PNG) with the same encoders and settings, each image whole, in as many processes
as the pipeline has workers. (generate encodes only the MCUs of a composite that differ from its
background, so part of the floor's work it does not do.) Everything runs in one invocation, on one
machine, so the numbers compare.

    python -m benchmarks.bench_pipeline                       # 2 workers, 4,000 and 40,000 samples
    python -m benchmarks.bench_pipeline --sizes 4000 --workers 1 2 4
    python -m benchmarks.bench_pipeline --repeats 2               # best of 2 rounds (noisy machines)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq


from benchmarks.common import decoded_samples
from generator.pipeline.encode import encode_depth, encode_image, encode_png
from generator.pipeline.moments import IMAGE, DatasetStats

# (backgrounds, foregrounds) per size; placements 20 and flips 2 as in the real dataset.
GRIDS = {4000: (10, 10), 40000: (100, 10), 400000: (100, 100)}


def run_generate(out: Path, backgrounds: int, foregrounds: int, workers: int) -> dict:
    """`generate --demo` in a child process: wall seconds, and the peak of the summed RSS of it and all
    its descendants (workers fork from a fork server, so they are not its children), sampled every 0.2 s."""
    command = [sys.executable, "-m", "generator", "generate", "--demo", "--num-backgrounds", str(backgrounds),
               "--num-foregrounds", str(foregrounds), "--workers", str(workers), "--no-progress", "--out", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss(child.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"generate failed: {child.stderr.read().decode()}")
    samples = backgrounds * foregrounds * 2 * 20
    return {"samples": samples, "workers": workers, "seconds": round(seconds, 2), "samples_per_s": round(samples / seconds, 1),
            "peak_rss_mb": round(peak / 2**20, 1)}


def tree_rss(root: int) -> int:
    """Bytes resident in process `root` and its descendants, from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    tree, added = {root}, True
    while added:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        added = bool(more)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


_samples: list = []


def _keep(samples) -> None:
    _samples[:] = samples


def _encode_share(task: tuple[int, int, int, bool]) -> int:
    """Encode this process's share of the samples `repeat` times: the same encoders and settings as
    generate (JPEG q95 composite, PNG mask, 16-bit PNG depth with its quantisation), each image encoded
    whole. With `decode`, also the straightforward way to the exact statistics: the composite's
    whole JPEG decoded back and counted (generate decodes only the MCUs that differ from the background,
    jpeg_splice.py)."""
    index, workers, repeat, decode = task
    share = _samples[index::workers]
    stats = DatasetStats()
    for _ in range(repeat):
        for image, mask, depth in share:
            jpeg = encode_image(image, "jpeg", 95)
            encode_png(mask)
            encode_depth(depth)
            if decode:
                stats.add_jpeg(IMAGE, jpeg, (image.shape[1], image.shape[0]))
    return len(share) * repeat


def encoding_floor(samples, workers: int, repeat: int, decode: bool = False) -> float:
    """Samples/s of encoding alone in `workers` processes. The samples reach the processes when they
    start, before the clock: only encoding is timed."""
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_keep, initargs=(samples,)) as pool:
        pool.map(_encode_share, [(i, workers, 0, decode) for i in range(workers)], chunksize=1)  # all started
        started = time.perf_counter()
        done = sum(pool.map(_encode_share, [(i, workers, repeat, decode) for i in range(workers)], chunksize=1))
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
    parser.add_argument("--floor-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of builds and floors; the best of each is reported")
    args = parser.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results: dict = {"machine": machine, "runs": []}
    floors: dict[int, list[float]] = {w: [] for w in args.workers}
    with_decode: dict[int, list[float]] = {w: [] for w in args.workers}  # encoding + a whole decode for the statistics
    largest = max(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"  # the first 1-worker build of the largest size
        samples = None
        for round_ in range(args.repeats):
            for size in args.sizes:
                for workers in args.workers:
                    out = Path(tmp) / f"ds-{size}-{workers}"
                    shutil.rmtree(out, ignore_errors=True)
                    run = run_generate(out, *GRIDS[size], workers)
                    results["runs"].append(run)
                    print(f"generate {size:>7,} samples, {workers} workers: {run['seconds']:7.1f} s, "
                          f"{run['samples_per_s']:7.1f} samples/s, peak RSS (all its processes) {run['peak_rss_mb']:.0f} MB", flush=True)
                    if size == largest and samples is None:
                        out.rename(reference)
                        # The floor encodes samples of the dataset it is compared with.
                        samples = decoded_samples(reference, args.floor_samples)
            # The floors after each round of builds, interleaved with the decode variant, so that a slow or
            # fast spell of the machine shows in all of them.
            for workers in args.workers:
                floors[workers].append(encoding_floor(samples, workers, repeat=4))
                with_decode[workers].append(encoding_floor(samples, workers, repeat=4, decode=True))
        # Best of the repeats, everywhere: on a shared machine noise only ever slows a run down.
        rate = {w: max(r["samples_per_s"] for r in results["runs"] if r["samples"] == largest and r["workers"] == w) for w in args.workers}
        for workers in args.workers:
            floor = max(floors[workers])
            results.setdefault("floor", []).append({"workers": workers, "floor_samples_per_s": round(floor, 1),
                                                     "floor_runs": [round(f, 1) for f in floors[workers]],
                                                     "pipeline_samples_per_s": rate[workers], "ratio": round(rate[workers] / floor, 3)})
            print(f"encoding floor, {workers} workers: {floor:7.1f} samples/s (runs: {', '.join(f'{f:.0f}' for f in floors[workers])}); "
                  f"pipeline at {largest:,} samples: {rate[workers]:7.1f} samples/s = {rate[workers] / floor:.0%} of the floor", flush=True)
            decoding = max(with_decode[workers])
            results["floor"][-1].update(floor_with_stats_decode=round(decoding, 1), ratio_with_stats_decode=round(rate[workers] / decoding, 3))
            print(f"  encoding + decoding each composite whole for the statistics, {workers} workers: {decoding:7.1f} samples/s; "
                  f"pipeline = {rate[workers] / decoding:.0%} of that", flush=True)
        if 1 in rate and len(rate) > 1:
            most = max(rate)
            floor_scaling = max(floors[most]) / max(floors[1])
            results["scaling"] = {"workers": most, "pipeline": round(rate[most] / rate[1], 2), "floor": round(floor_scaling, 2)}
            print(f"scaling 1 -> {most} workers at {largest:,} samples: pipeline {rate[most] / rate[1]:.2f}x, encoding floor {floor_scaling:.2f}x")
        results["bytes_per_sample"] = bytes_per_field(reference)
        total = sum(results["bytes_per_sample"].values())
        print("bytes per sample by field:", results["bytes_per_sample"], f"total {total:,.0f}; x 400,000 = {total * 4e5 / 1e9:.2f} GB")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
