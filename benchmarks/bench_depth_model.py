"""Throughput of the depth teacher: bare model forward vs DepthTeacher.predict vs the whole
`generate --depth model` pipeline, same model, B and R, one run, one machine.

The bare forward gets pixel_values already pre-processed and on the device; predict gets uint8
(B, R, R, 3) batches on the host and includes transfer, pre-processing and the resize back. The
pipeline is `generate --demo --depth model` end to end (compositing, the teacher, encoding on worker
processes, Parquet), timed from start to the last shard, model loading excluded. The ratios show what
the wrapper and the pipeline cost against the bare model. Weights are random (no downloads needed):
speed does not depend on them.

    python -m benchmarks.bench_depth_model --arch tiny --device cpu --batch-size 8 --size 224 --pipeline-samples 800
    python -m benchmarks.bench_depth_model --arch depth-anything-v2-small --device cuda --dtype bf16 \
        --batch-size 256 --samples 4096 --pipeline-samples 40000 --workers 15
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


from generator.config import TeacherSettings
from generator.pipeline.teacher import DepthTeacher


def save_v2_small(folder: Path, size: int) -> Path:
    """Depth-Anything-V2-Small's architecture (DINOv2-S backbone) with random weights."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessorPil,
    )

    backbone = Dinov2Config(
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        patch_size=14,
        image_size=518,
        out_indices=[3, 6, 9, 12],
        reshape_hidden_states=False,
        apply_layernorm=True,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=384,
        neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64,
        depth_estimation_type="relative",
    )
    processor = DPTImageProcessorPil(
        size={"height": size, "width": size},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny(folder: Path, size: int) -> Path:
    from transformers import AutoImageProcessor

    from tests.tiny_models import save_tiny_depth_anything

    save_tiny_depth_anything(folder)
    # Same processor as the real checkpoints, at the benchmark resolution.
    processor = AutoImageProcessor.from_pretrained(folder)
    processor.size = {"height": size, "width": size}
    processor.save_pretrained(folder)
    return folder


def timed(run: Callable[[], object], device: torch.device, warmup: int, iterations: int) -> float:
    """Seconds per call, synchronising CUDA so that queued kernels are counted."""
    for _ in range(warmup):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iterations


def pipeline_rate(folder: Path, args: argparse.Namespace, out: Path) -> float:
    """Samples/s of `generate --demo --depth model` with this model, load time excluded."""
    from generator.build import build
    from generator.config import BuildOptions, DepthPlan, RunOptions, TeacherSettings
    from generator.pipeline.shard import make_context

    backgrounds = 10
    foregrounds = max(1, args.pipeline_samples // (backgrounds * 2 * 20))
    options = BuildOptions(demo=True, num_backgrounds=backgrounds, num_foregrounds=foregrounds, bg_size=args.size,
                           depth="model", depth_model=str(folder))
    settings = TeacherSettings(device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    started = time.perf_counter()
    make_context(options, DepthPlan.of(options, settings))  # what build() spends before the first shard: inputs and model load
    setup = time.perf_counter() - started
    started = time.perf_counter()
    summary = build(options, RunOptions(out=out, workers=args.workers, progress=False, teacher=settings))
    return summary.samples / (time.perf_counter() - started - setup)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["tiny", "depth-anything-v2-small"], default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="square input resolution R")
    parser.add_argument("--samples", type=int, default=64, help="images timed per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    parser.add_argument("--pipeline-samples", type=int, default=0, help="also time generate --depth model on about this many samples")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="encoding workers of the pipeline run")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        save = save_tiny if args.arch == "tiny" else save_v2_small
        folder = save(Path(tmp) / args.arch, args.size)
        options = TeacherSettings(str(folder), args.device, args.dtype, args.batch_size)
        teacher = DepthTeacher.load(options)
        pipeline = pipeline_rate(folder, args, Path(tmp) / "out") if args.pipeline_samples else None

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (args.batch_size, args.size, args.size, 3), dtype=np.uint8)
    pixels = teacher.preprocessing(torch.from_numpy(batch).to(teacher.device).permute(0, 3, 1, 2))
    pixels = pixels.to(teacher.dtype)
    iterations = max(1, args.samples // args.batch_size)
    forward_s = timed(lambda: teacher.forward(pixels), teacher.device, args.warmup, iterations)
    predict_s = timed(lambda: teacher.predict(batch), teacher.device, args.warmup, iterations)

    result = {
        "arch": args.arch,
        "device": str(teacher.device),
        "dtype": teacher.info["dtype"],
        "batch_size": args.batch_size,
        "size": args.size,
        "model_input": list(pixels.shape[-2:]),
        "samples": iterations * args.batch_size,
        "forward_samples_per_s": round(args.batch_size / forward_s, 2),
        "predict_samples_per_s": round(args.batch_size / predict_s, 2),
        "predict_over_forward": round(forward_s / predict_s, 3),
    }
    if pipeline is not None:
        result.update(pipeline_samples_per_s=round(pipeline, 2), pipeline_over_forward=round(pipeline * forward_s / args.batch_size, 3),
                      workers=args.workers, minutes_for_400k=round(400_000 / pipeline / 60, 1))
    print(
        f"{args.arch} on {result['device']} ({result['dtype']}), B={args.batch_size}, R={args.size}: "
        f"forward {result['forward_samples_per_s']} samples/s, "
        f"predict {result['predict_samples_per_s']} samples/s, "
        f"ratio predict/forward throughput {result['predict_over_forward']}"
    )
    if pipeline is not None:
        print(f"pipeline (generate --depth model, {args.workers} workers): {result['pipeline_samples_per_s']} samples/s, "
              f"{result['pipeline_over_forward']:.0%} of the bare forward; 400,000 samples would take {result['minutes_for_400k']} min")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
