"""Does plausible geometry pay? The reference network trained with the same budget on two demo builds that
differ only in placement (`--placement floor` and `--placement uniform`), several training seeds per arm,
each model evaluated on both builds' test splits and on the rendered held-out rooms (rooms no build uses,
rendered without and with a piece of furniture: no pasting).

    python -m benchmarks.reference_ab [--steps 200] [--batch-size 8] [--size 64] [--seeds 3] [--device cpu]

Prints the budget per arm and a Markdown table (mean ± sample standard deviation over the seeds) of mask
IoU, AbsRel and delta < 1.25 over the whole image and over the object's pixels; the per-seed figures go to
OUT/results.json. A `--device cuda` run is the same command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ARMS = ("floor", "uniform")
COLUMNS = ("mask_iou", "boundary_f", "abs_rel", "delta1", "abs_rel_object", "delta1_object")


def build(out: Path, placement: str, args) -> Path:
    from generator.cli import main

    folder = out / placement
    code = main(["generate", "--demo", "--num-backgrounds", str(args.num_backgrounds), "--num-foregrounds",
                 str(args.num_foregrounds), "--placements", str(args.placements), "--bg-size", str(args.size),
                 "--placement", placement, "--workers", "1", "--no-gallery", "--no-progress", "--out", str(folder)])
    if code:
        raise SystemExit(f"the {placement} build failed ({code})")
    return folder


def run_arm(arm: str, sources: dict, args, device) -> list[dict]:
    from generator.baseline.data import test_batches
    from generator.baseline.evaluate import evaluate
    from generator.baseline.heldout import heldout_batches, heldout_set
    from generator.baseline.losses import METRIC
    from generator.baseline.settings import TrainSettings
    from generator.baseline.train import train

    pairs = heldout_set(args.eval_rendered, args.size)
    runs = []
    for seed in range(args.seeds):
        settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, size=args.size, seed=seed)
        checkpoint = args.out / "checkpoints" / f"{arm}-{seed}.pt"
        checkpoint.unlink(missing_ok=True)
        started = time.perf_counter()
        run = train(sources[arm], settings, device, checkpoint, checkpoint_every=args.steps, progress=False)
        seconds = time.perf_counter() - started
        kind = sources[arm].labels.kind
        sets = {f"test ({name})": evaluate(run.model, test_batches(source, 32, args.size), kind, kind, device).metrics
                for name, source in sources.items()}
        sets["rendered"] = evaluate(run.model, heldout_batches(pairs, sources[arm].stats, 32), kind, METRIC, device).metrics
        runs.append({"seed": seed, "train_seconds": round(seconds, 1), "sets": sets})
        print(f"{arm} seed {seed}: {seconds:.0f} s, " + ", ".join(f"{name} IoU {m['mask_iou']:.3f}" for name, m in sets.items()), flush=True)
    return runs


def table(results: dict) -> str:
    lines = ["| trained on | evaluated on | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for arm, runs in results.items():
        for name in runs[0]["sets"]:
            cells = []
            for key in COLUMNS:
                values = [r["sets"][name][key] for r in runs if r["sets"][name][key] is not None]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.mean(values):.3f} ± {spread:.3f}" if values else "–")
            lines.append(f"| {arm} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/reference_ab"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="the builds' --bg-size and the model's input side")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--num-backgrounds", type=int, default=10)
    parser.add_argument("--num-foregrounds", type=int, default=10)
    parser.add_argument("--placements", type=int, default=4)
    parser.add_argument("--eval-rendered", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the shared machine's fair share)")
    args = parser.parse_args()

    import torch

    from generator.baseline.data import open_source

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = {arm: open_source(build(args.out, arm, args)) for arm in ARMS}
    for arm, source in sources.items():
        print(f"budget per arm ({arm}): {args.steps} steps x {args.batch_size} = {args.steps * args.batch_size:,} samples seen "
              f"of {source.train_rows + source.test_rows:,} built ({source.train_rows:,} train, {source.test_rows:,} test), "
              f"{args.size} px, {args.seeds} seeds", flush=True)
    started = time.perf_counter()
    results = {arm: run_arm(arm, sources, args, device) for arm in ARMS}
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
    print(f"\nall arms in {time.perf_counter() - started:.0f} s on {device}\n")
    print(table(results))


if __name__ == "__main__":
    main()
