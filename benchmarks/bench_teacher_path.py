"""The ceiling of `--depth model` without the model: the whole teacher path (compositing in the teacher's
process, the depth maps quantised where the model runs and handed to the workers, PNG encoding, Parquet)
with a stand-in teacher that costs nothing, against the same build with `--depth scene`: same options,
same commit, same run, builds alternated, best of the repeats. A fast device can make `--depth model` no
faster than this; the target is 85 % of the scene rate.

    python -m benchmarks.bench_teacher_path                     # 16,000 samples, 1 and 2 workers, best of 3
    python -m benchmarks.bench_teacher_path --backgrounds 10 --foregrounds 10 --workers 2 --repeats 5

At 4,000 samples (4 shards) the first shard's labelling before any worker starts and the last shards'
drain are a large part of a 2-worker build; 16,000 samples shows the rate the path keeps up.

The stand-in is a DepthTeacher whose model is a cheap deterministic function of each composite (a floor
like ramp, plus each 8 x 8 block's green, so the maps have edges and compress like scene depth); its
interface (predict, predict_quantized, info, metric, inverse) and output shape are the real one's, and its
maps go through the real quantisation and hand-over. Each build runs in a fresh child process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from generator.config import TeacherSettings
from generator.pipeline.teacher import DepthTeacher, Preprocessing
from generator.pipeline.teacher_family import RELATIVE_MEANING


class StandInTeacher(DepthTeacher):
    """DepthTeacher with a model that costs nothing."""

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(None, Preprocessing("none", "bilinear"), settings, torch.device("cpu"), torch.float32)

    @property
    def metric(self) -> bool:
        return False

    @property
    def inverse(self) -> bool:
        return True

    @property
    def info(self) -> dict[str, str]:
        return {"model": "stand-in", "model_type": "stand-in", "architecture": "StandInTeacher", "device": "cpu",
                "dtype": "fp32", "meaning": RELATIVE_MEANING}

    def _predict_chunk(self, chunk: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, 3) -> (n, H, W) float32: a vertical ramp plus the green of each 8 x 8 block's
        corner pixel (blocks give edges, as furniture does; costs a few copies)."""
        count, height, width = chunk.shape[:3]
        corners = chunk[:, ::8, ::8, 1]
        rows, cols = corners.shape[1:]
        # Each corner repeated over its block, as uint8 (one byte a pixel), then one float pass.
        blocks = corners[:, :, None, :, None].expand(count, rows, 8, cols, 8).reshape(count, rows * 8, cols * 8)
        ramp = torch.linspace(1.0, 4.0, height).view(1, height, 1)
        return torch.add(ramp, blocks[:, :height, :width], alpha=1 / 255)


def child(out: str, args: list[str]) -> None:
    """A build in this process, with the stand-in for any teacher it loads."""
    from generator.cli import main
    from generator.pipeline import shard

    shard.load_teacher = StandInTeacher
    # The real teacher's work is on its device; the stand-in's few tensor ops must not spin threads on the
    # cores the workers use.
    torch.set_num_threads(1)
    raise SystemExit(main(["generate", "--out", out, *args]))


def timed_build(out: Path, depth: str, backgrounds: int, foregrounds: int, workers: int, extra: list[str]) -> float:
    args = ["--demo", "--num-backgrounds", str(backgrounds), "--num-foregrounds", str(foregrounds), "--workers", str(workers),
            "--no-progress", "--depth", depth, *extra]
    if depth == "model":
        args += ["--depth-model", "stand-in"]
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    code = f"from benchmarks.bench_teacher_path import child; child({str(out)!r}, {args!r})"
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"generate --depth {depth} failed: {done.stderr.decode()}")
    return seconds


def depth_bytes_per_sample(out: Path) -> float:
    import pyarrow.parquet as pq

    rows = size = 0
    for path in (out / "data").glob("*.parquet"):
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            size += sum(group.column(c).total_compressed_size for c in range(group.num_columns)
                        if group.column(c).path_in_schema.startswith("depth."))
    return size / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backgrounds", type=int, default=20)
    parser.add_argument("--foregrounds", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    # A relative teacher (no metric depth) places cut-outs by the uniform rule; the scene build does too, so
    # both do the same work but for the depth.
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=["--placement", "uniform"], help="generate flags for both builds")
    args = parser.parse_args()
    samples = args.backgrounds * args.foregrounds * 2 * 20
    best: dict[tuple[str, int], float] = {}
    depth_bytes: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for workers in args.workers:
                for depth in ("scene", "model"):  # alternated, so a slow spell of the machine hits both
                    out = Path(tmp) / depth
                    seconds = timed_build(out, depth, args.backgrounds, args.foregrounds, workers, args.extra)
                    best[depth, workers] = min(best.get((depth, workers), seconds), seconds)
                    depth_bytes[depth] = depth_bytes_per_sample(out)
                    print(f"{depth:5} {workers} workers: {seconds:6.2f} s", flush=True)
    results = {"samples": samples, "cores": os.cpu_count(), "depth_bytes_per_sample": {k: round(v) for k, v in depth_bytes.items()}, "runs": []}
    for workers in args.workers:
        scene, model = samples / best["scene", workers], samples / best["model", workers]
        results["runs"].append({"workers": workers, "scene_samples_per_s": round(scene, 1), "model_samples_per_s": round(model, 1),
                                "ratio": round(model / scene, 3)})
        print(f"{samples:,} samples, {workers} workers (best of {args.repeats}): --depth scene {scene:,.0f} samples/s, "
              f"--depth model with a free teacher {model:,.0f} samples/s = {model / scene:.0%}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
