"""The `mono-depth-mask` command: `generate` here, the commands on a built dataset in commands.py. Each
subcommand has an `add_*` function that declares its flags and a `run_*` function that does the work;
every failure ends as one `error:` line with the exit code of the README's table."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from . import __version__
from .baseline.command import add_baseline
from .commands import add_card, add_export_coco, add_gallery, add_push, add_relabel_depth, add_stats, add_teacher_flags, add_validate, teacher_settings
from .errors import ModelUnavailable, UserError, describe_os_error
from .extract.command import add_cutouts
from .output.folder import is_url
from .pipeline.blend import with_mix_modes
from .rules import DepthMode
from .config import (
    BACKGROUND_MODEL_ROLE,
    DEFAULT_BACKGROUND_DEPTH_MODEL,
    DEFAULT_DEPTH_MODEL,
    DEPTH_MODES,
    ENGINES,
    BLEND_CHOICES,
    IMAGE_FORMATS,
    PLACEMENT_MODES,
    SPLIT_BY,
    RECORDED_ONLY,
    BuildOptions,
    RunOptions,
    background_model_named,
    check_utf8,
    default_background_model,
    default_depth_mode,
)

GENERATE_EXAMPLES = """examples:
  mono-depth-mask generate --demo --out demo-dataset
  mono-depth-mask generate --demo --num-backgrounds 100 --num-foregrounds 100 --out demo-400k
  mono-depth-mask generate --backgrounds bg/ --foregrounds fg/ --background-depths bg_depth/ --out ds
  mono-depth-mask generate --backgrounds photos/ --foregrounds fg/ --fg-heights heights.csv --out ds
  mono-depth-mask generate --backgrounds bg/ --foregrounds fg/ --background-depth-model outdoor --out ds
  mono-depth-mask generate --backgrounds bg/ --foregrounds fg_img/ --masks mask_img/ --depth none --placement uniform --out ds
  mono-depth-mask generate --backgrounds bg/ --foregrounds fg/ --out ds --depth model \\
      --depth-model depth-anything/Depth-Anything-V2-Small-hf --device cuda --batch-size 256
  mono-depth-mask generate --backgrounds bg/ --foregrounds fg/ --out ds --depth scene \\
      --background-depth-model depth-anything/Depth-Anything-V2-Small-hf
  mono-depth-mask generate --demo --engine ray --ray-address auto --out s3://bucket/ds
"""


def add_generate(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="build the dataset: composites, masks, depth, shards, manifest and card",
        description="Paste every foreground (and its flip) on every background at K places and write "
        "Parquet shards laid out as a Hub dataset repo.",
        epilog=GENERATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = BuildOptions()
    inputs = p.add_argument_group("inputs")
    inputs.add_argument("--demo", action="store_true", help="built-in procedural rooms and sprites (no files needed)")
    inputs.add_argument("--backgrounds", metavar="DIR", help="background photos (JPEG/PNG/WebP, any size and mode)")
    inputs.add_argument("--foregrounds", metavar="DIR", help="foreground cut-outs with alpha, or plain images with --masks")
    inputs.add_argument("--masks", metavar="DIR", help="masks for plain foregrounds, matched by stem (or by number when both folders are PREFIX+number: fg_img_7 <-> mask_img_7)")
    inputs.add_argument("--background-depths", metavar="DIR", help="depth of each background: 16-bit PNG in mm or .npy in metres, matched like --masks")
    inputs.add_argument("--num-backgrounds", type=int, metavar="N", help="use the first N backgrounds (demo: how many to make, default 10)")
    inputs.add_argument("--num-foregrounds", type=int, metavar="N", help="use the first N foregrounds (demo: how many to make, default 10)")
    inputs.add_argument("--bg-size", type=int, default=d.bg_size, metavar="PX", help="background side in px (default %(default)s)")
    inputs.add_argument("--fg-size", type=int, metavar="PX", help="longest side of a foreground in px (default: half of --bg-size)")
    inputs.add_argument("--skip-bad-inputs", action="store_true", help="leave out unusable input files (unreadable, empty, fully transparent, ...) with a warning and list them in the manifest, instead of stopping")

    placing = p.add_argument_group("placement")
    placing.add_argument("--placements", type=int, default=d.placements, metavar="K", help="placements per background, foreground and flip (default %(default)s)")
    placing.add_argument("--no-flip", dest="flip", action="store_false", help="do not add horizontally flipped foregrounds (default: add them)")
    placing.add_argument("--scale-jitter", type=float, default=d.scale_jitter, metavar="F", help="vary foreground size by up to this fraction (default %(default)s)")
    placing.add_argument("--placement", choices=PLACEMENT_MODES, default=d.placement, help="floor: standing on the scene's floor, sized by their real height and the depth there, hidden behind nearer things (needs metric background depth); uniform: one size anywhere inside; ground: one size, bottom edge in the lower part; auto: floor wherever the backgrounds' metric depth is known, else uniform (default %(default)s)")
    placing.add_argument("--objects", default=d.objects, metavar="N|MIN-MAX", help="objects per composite, the extra ones drawn from the same split's foregrounds and standing on the floor apart, the nearer hiding the farther (default %(default)s)")
    placing.add_argument("--distractors", type=int, default=d.distractors, metavar="N", help="objects per composite pasted the same way but not labelled: in the composite and its depth, not in mask, objects or instances (default %(default)s)")
    placing.add_argument("--fg-heights", metavar="FILE", help="CSV of name,height_m: each foreground's real height in metres, by file stem (floor placement)")
    placing.add_argument("--fg-height", type=float, default=d.fg_height, metavar="M", help="height in metres of the foregrounds --fg-heights does not list (default %(default)s)")
    placing.add_argument("--fov", type=float, metavar="DEGREES", help="horizontal field of view of every background photo (default: its EXIF focal length, else the background depth model's field of view (depth-pro), else 60)")
    placing.add_argument("--soft-mask", action="store_true", help="keep the alpha as the mask instead of binary 0/255 (default: binary)")
    light = p.add_argument_group("edges and light")
    light.add_argument("--blend", choices=BLEND_CHOICES, default=d.blend, help="how the cut-out's edge meets the background: alpha, gaussian or box (softened edge), motion (motion blur), poisson (gradient-domain), mix (one per placement, seeded) (default %(default)s)")
    light.add_argument("--no-decontaminate", dest="decontaminate", action="store_false", help="keep the cut-outs' input colours under partial alpha (default: estimate their true colours, no halo of their old background)")
    light.add_argument("--shadow", action=argparse.BooleanOptionalAction, default=d.shadow, help="a soft contact shadow on the floor under objects standing on it (default %(default)s)")
    light.add_argument("--harmonize", action=argparse.BooleanOptionalAction, default=d.harmonize, help="move each object's colour and brightness partway to the background around it (default %(default)s)")
    light.add_argument("--background-jitter", action="store_true", help="store a slightly perturbed background (gains, a shift of a few px, noise), so it is a hint, not a key")
    placing.add_argument("--seed", type=int, default=d.seed, metavar="N", help="seed of placements and splits (default %(default)s)")

    depth = p.add_argument_group("depth")
    depth.add_argument("--depth", choices=DEPTH_MODES, help="the stored depth: none | scene: the backgrounds' depth with each object at its own depth | model: a depth model on every composite (default: scene where the backgrounds have a depth, else none)")
    depth.add_argument("--depth-model", metavar="ID_OR_PATH", help=f"transformers depth model for --depth model (default {DEFAULT_DEPTH_MODEL})")
    depth.add_argument("--background-depth-model", metavar="ID_OR_PATH", help=f"a metric depth model run once per background, the depth objects stand on: indoor ({DEFAULT_BACKGROUND_DEPTH_MODEL}), outdoor, depth-pro (apple/DepthPro-hf: also the field of view; Apple's research licence), a Hub id or folder, or none (default: indoor for photos without --background-depths, unless --depth none/model with --placement uniform/ground)")
    add_teacher_flags(depth)

    output = p.add_argument_group("output")
    output.add_argument("--out", required=True, metavar="DIR_OR_URL", help="output folder (a Hub dataset repo layout): a local path or an fsspec URL (file://, s3://, ...)")
    output.add_argument("--image-format", choices=IMAGE_FORMATS, default=d.image_format, help="composite encoding (default %(default)s; png is lossless)")
    output.add_argument("--jpeg-quality", type=int, default=d.jpeg_quality, metavar="Q", help="JPEG quality (default %(default)s)")
    output.add_argument("--test-fraction", type=float, default=d.test_fraction, metavar="F", help="share of the test split (default %(default)s)")
    output.add_argument("--split-by", choices=SPLIT_BY, default=d.split_by, help="what the splits keep apart (default %(default)s)")
    output.add_argument("--shard-size", type=int, default=d.shard_size, metavar="N", help="samples per Parquet shard (default %(default)s)")
    output.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N", help="worker processes building shards, and threads decoding the inputs (default: all cores, %(default)s)")
    output.add_argument("--overwrite", action="store_true", help="replace a dataset in --out built with other options, teacher settings or format version, or with a damaged manifest; remove files there that its manifest does not list")
    output.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars, ours or the libraries' (also TQDM_DISABLE=1 or HF_HUB_DISABLE_PROGRESS_BARS=1)")
    output.add_argument("--no-gallery", dest="gallery", action="store_false", help="skip the gallery pictures (OUT/gallery/)")

    engine = p.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default="local", help="local: worker processes on this machine; ray: actors on a Ray cluster (pip install 'mono-depth-mask[ray]') (default %(default)s)")
    engine.add_argument("--ray-address", metavar="auto|HOST:PORT", help="with --engine ray: join this cluster (auto: the one started by 'ray start' or 'ray job submit'); default: a Ray instance on this machine with --workers CPUs")
    engine.add_argument("--gpus-per-worker", type=float, default=0, metavar="N", help="with --engine ray: GPUs each actor reserves (e.g. 1, or 0.5 for two per GPU); 0: CPU actors (default %(default)s)")
    p.set_defaults(run=run_generate)


# BuildOptions fields that generate_options resolves
DERIVED_OPTIONS = ("depth", "depth_model", "background_depth_model", *RECORDED_ONLY)


def generate_options(args: argparse.Namespace) -> tuple[BuildOptions, RunOptions]:
    depth = DepthMode(args.depth) if args.depth else None
    if args.background_depth_model is not None:
        background_model = background_model_named(args.background_depth_model)
    else:
        background_model = default_background_model(args.demo, args.background_depths, depth, args.placement)
    depth = depth or default_depth_mode(args.demo, args.background_depths, background_model)
    depth_model = args.depth_model or (DEFAULT_DEPTH_MODEL if depth == DepthMode.MODEL else None)
    # Every BuildOptions field is a flag of the same name (tests/test_cli_options.py checks it); those the
    # command resolves are the depth mode and the two models, and `mix_modes`, which a build records.
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(BuildOptions) if f.name not in DERIVED_OPTIONS}
    build = BuildOptions(**given, depth=depth, depth_model=depth_model, background_depth_model=background_model)
    build = with_mix_modes(build)
    if not args.out.strip():
        raise UserError("--out is empty: give the output folder, e.g. --out ds")
    check_utf8("--out", args.out)
    if args.engine != "ray" and (args.ray_address or args.gpus_per_worker):
        raise UserError("--ray-address and --gpus-per-worker go with --engine ray")
    if args.gpus_per_worker < 0:
        raise UserError(f"--gpus-per-worker must be 0 or more; got {args.gpus_per_worker:g}")
    run = RunOptions(
        out=args.out if is_url(args.out) else Path(args.out), workers=max(1, args.workers), overwrite=args.overwrite,
        progress=args.progress, teacher=teacher_settings(args), skip_bad_inputs=args.skip_bad_inputs, gallery=args.gallery,
        engine=args.engine, ray_address=args.ray_address, gpus_per_worker=args.gpus_per_worker,
    )
    return build, run


def run_generate(args: argparse.Namespace) -> None:
    from .build import build

    options, run = generate_options(args)
    try:
        summary = build(options, run)
    except ModelUnavailable as error:  # the ways out that this command's flags give
        if BACKGROUND_MODEL_ROLE in error.why:
            raise error.with_ways_out("pass a local folder to --background-depth-model", "give the photos' depth with --background-depths DIR",
                                      "use --placement uniform with --depth none (no model)") from None
        raise error.with_ways_out("pass a local folder to --depth-model", "use --depth scene with --background-depths DIR",
                                  "use --depth none") from None
    print(summary.describe())


REPAIR_HINT = "run `mono-depth-mask validate {out}` to list the damage, then the same `generate` command to rebuild"



def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _is_arrow_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] == "pyarrow"


SUBCOMMANDS = [add_generate, add_relabel_depth, add_stats, add_gallery, add_export_coco, add_validate, add_card, add_push, add_cutouts, add_baseline]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mono-depth-mask",
        description="Build, check and publish a synthetic dataset for monocular depth and foreground segmentation.",
        epilog="Run 'mono-depth-mask COMMAND --help' for a command's flags and examples.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = p.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return p


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: workers stopped, temporaries removed


def quiet_if_asked(args: argparse.Namespace) -> None:
    """--no-progress (or TQDM_DISABLE) silences the libraries' bars too: downloads, "Loading weights"."""
    from .progress import disabled_by_environment, silence_libraries

    if not getattr(args, "progress", True) or disabled_by_environment():
        silence_libraries()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminated) if threading.current_thread() is threading.main_thread() else None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        quiet_if_asked(args)
        code = args.run(args)  # None, or an exit code (validate: 1 when a check fails)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except OSError as error:  # the disk or the system, not the user: still one line
        if _is_arrow_error(error):  # pyarrow's IOError reading a damaged shard is an input problem
            print(f"error: cannot read the dataset: {_first_line(error)}; {REPAIR_HINT.format(out=args.out)}", file=sys.stderr)
            return 2
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 1
    except BrokenProcessPool:
        print("error: a worker process died (killed, or out of memory); run the same command again to resume", file=sys.stderr)
        return 1
    except Exception as error:
        if not _is_arrow_error(error):
            raise  # a bug: the traceback is what a report needs
        print(f"error: cannot read the dataset: {_first_line(error)}; {REPAIR_HINT.format(out=args.out)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
