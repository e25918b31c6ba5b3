"""`mono-depth-mask baseline OUT`: train the reference network on a dataset, evaluate it on the test split
and on rendered held-out rooms, and write OUT/baseline.json, the gallery's baseline pictures and the card's
Baseline section."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..errors import UserError
from .settings import TrainSettings

EXAMPLES = """examples:
  mono-depth-mask baseline demo-dataset
  mono-depth-mask baseline demo-dataset --steps 300 --size 64 --batch-size 8 --no-progress
  mono-depth-mask baseline results --dataset my-org/mono-depth-mask --device cuda --steps 20000 --size 224
"""


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is not a non-negative integer")
    return number


def add_baseline(subparsers) -> None:
    d = TrainSettings()
    p = subparsers.add_parser(
        "baseline",
        help="train the reference network (a small U-Net) on a dataset and report its metrics",
        description="Train a U-Net (about 1 M parameters; input background ++ composite, output mask and depth) by "
        "streaming the dataset's train split, evaluate it on the test split and on rendered rooms no build uses, "
        "and write OUT/baseline.json, the gallery's baseline pictures and the card's Baseline section. An "
        "interrupted run resumes from its checkpoint (OUT/.baseline/) to the same weights.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="a dataset folder built by generate (or, with --dataset, any folder for the results)")
    p.add_argument("--dataset", metavar="ID_OR_PATH", help="train on this Hub dataset id or folder instead of OUT")
    p.add_argument("--steps", type=_positive, default=d.steps, metavar="N", help="training steps (default %(default)s)")
    p.add_argument("--batch-size", type=_positive, default=d.batch_size, metavar="N", help="samples per step (default %(default)s)")
    p.add_argument("--size", type=_positive, default=d.size, metavar="PX", help="side of the model's input in px, a multiple of 8 (default %(default)s)")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, metavar="F", help="peak AdamW learning rate (warm-up, then cosine decay; default %(default)s)")
    p.add_argument("--seed", type=_count, default=d.seed, metavar="N", help="seed of the weights and of the data order (default %(default)s)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="where to train (default %(default)s)")
    p.add_argument("--eval-rendered", type=_count, default=64, metavar="N", help="rendered held-out rooms to evaluate on, 0 for none (default %(default)s)")
    p.add_argument("--checkpoint-every", type=_positive, default=100, metavar="N", help="save a checkpoint every N steps (default %(default)s)")
    p.add_argument("--restart", action="store_true", help="start afresh instead of resuming OUT's checkpoint")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar (also TQDM_DISABLE=1)")
    p.set_defaults(run=run_baseline)


def run_baseline(args: argparse.Namespace) -> None:
    from ..pipeline.teacher import resolve_device
    from ..commands import verified_dataset
    from ..schema import BASELINE_DIR, MANIFEST
    from .data import open_source
    from .train import train
    from .outcome import evaluate_run, publish

    if args.size % 8 or args.size < 16:
        raise UserError(f"--size {args.size}: use a multiple of 8 of at least 16 (the U-Net halves it three times)")
    if not 0 < args.learning_rate < 1:
        raise UserError(f"--learning-rate {args.learning_rate:g}: use a value between 0 and 1, e.g. 0.002")
    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, size=args.size, seed=args.seed,
                             learning_rate=args.learning_rate)
    if (args.out / MANIFEST).is_file():  # results go into this dataset: refuse a damaged one before training
        verified_dataset(args.out)
    source = open_source(args.dataset or args.out)
    device = resolve_device(args.device)
    checkpoint = args.out / BASELINE_DIR / "checkpoint.pt"
    if args.restart:
        checkpoint.unlink(missing_ok=True)
    run = train(source, settings, device, checkpoint, args.checkpoint_every, args.progress)
    evaluations = evaluate_run(run, source, settings, device, args.eval_rendered)
    path = publish(args.out, source, settings, run, evaluations, _command(args, settings), str(device))
    summary = ", ".join(f"{name}: mask IoU {e.metrics['mask_iou']:.3f}" + (f", AbsRel {e.metrics['abs_rel']:.3f}" if e.metrics["abs_rel"] is not None else "")
                        for name, e in evaluations.items())
    print(f"trained {run.step} steps in {run.seconds:.0f} s; {summary or 'nothing evaluated'} -> {path}")


def _command(args: argparse.Namespace, settings: TrainSettings) -> str:
    """The command that reproduces the run, as recorded: folders by their names only (not where they were)."""
    from ..dataset.card import shown_path

    words = ["mono-depth-mask", "baseline", shown_path(str(args.out))]
    if args.dataset:
        words += ["--dataset", shown_path(args.dataset)]
    words += ["--steps", str(settings.steps), "--batch-size", str(settings.batch_size), "--size", str(settings.size),
              "--learning-rate", f"{settings.learning_rate:g}", "--seed", str(settings.seed), "--eval-rendered", str(args.eval_rendered)]
    return shlex.join(words)
