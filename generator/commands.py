"""The commands on a built dataset: relabel-depth, stats, gallery, validate, card and push (each an `add_*`
that declares its flags and a `run_*` that does the work), and the teacher's flags they share with generate."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import TeacherSettings
from .errors import ModelUnavailable, UserError
from .hub import DEFAULT_IDLE_TIMEOUT_S


def _add_no_progress(p: argparse.ArgumentParser) -> None:
    """The switch every command takes (generate declares its own, in its output group)."""
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars, ours or the libraries' (also TQDM_DISABLE=1 or HF_HUB_DISABLE_PROGRESS_BARS=1)")


def _repo_id(value: str) -> str:
    parts = value.split("/")
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"{value!r} is not ORG/NAME")
    return value


def add_card(subparsers) -> None:
    from .dataset.card import DEFAULT_REPO_ID, LICENSE, LICENSE_LINK, LICENSE_NAME
    from .dataset.hub_rules import HUB_LICENSES

    p = subparsers.add_parser(
        "card",
        help="(re)write OUT/README.md, the Hub dataset card, with the measured figures",
        description="Render the dataset card (YAML configs, dataset_info, license, task and size categories, body "
        "with the dataset's figures) into OUT/README.md and check it against the Hub's rules.",
        epilog="example:\n  mono-depth-mask card demo-dataset --repo-id my-org/mono-depth-mask --license cc-by-4.0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="a dataset folder written by generate")
    p.add_argument("--repo-id", type=_repo_id, metavar="ORG/NAME", help=f"ORG/NAME used in the card's examples (default: the last one given, else {DEFAULT_REPO_ID})")
    p.add_argument("--license", choices=HUB_LICENSES, metavar="ID", help=f"a Hub license id, e.g. cc-by-4.0, mit, apache-2.0 (default: the last one given, else {LICENSE}: the inputs' licenses apply)")
    p.add_argument("--license-name", metavar="NAME", help=f"with --license other: the license's short name (default: the last one given, else {LICENSE_NAME}: the inputs' licenses apply)")
    p.add_argument("--license-link", metavar="URL_OR_FILE", help=f"with --license other: a URL or a file of the repo with the license's text (default: the last one given, else {LICENSE_LINK}, whose License section says what applies)")
    p.add_argument("--pretty-name", metavar="TEXT", help="the card's title (default: the last one given, else mono-depth-mask)")
    _add_no_progress(p)
    p.set_defaults(run=run_card)


def run_card(args: argparse.Namespace) -> None:
    from .dataset.card import card_settings, write_card
    from .dataset.hub_rules import card_problems
    from .output.folder import build_lock
    from .output.manifest import load_manifest

    verified_dataset(args.out)
    with build_lock(args.out):
        path = write_card(args.out, repo_id=args.repo_id, pretty_name=args.pretty_name, license=args.license,
                          license_name=args.license_name, license_link=args.license_link)
    problems = card_problems(path.read_text(encoding="utf-8"))
    if problems:
        raise UserError(f"{path} would be rejected by the Hub: {'; '.join(problems)}")
    settings = card_settings(load_manifest(args.out))
    print(f"wrote {path} (license {settings['license']}, repo {settings['repo_id']})")


def add_push(subparsers) -> None:
    p = subparsers.add_parser(
        "push",
        help="upload OUT to a Hub dataset repo: new and changed files, stale shards deleted, commits of at most 100 files",
        description="Create the dataset repo if needed and commit the files of OUT whose content differs from "
        "the repo (card, manifest, stats, shards, gallery), deleting stale files under the dataset's folders. "
        "Re-running resumes an interrupted push. The token comes from `hf auth login` or HF_TOKEN.",
        epilog="examples:\n  mono-depth-mask push demo-dataset --repo-id my-org/mono-depth-mask --dry-run\n"
        "  HF_TOKEN=hf_... mono-depth-mask push demo-dataset --repo-id my-org/mono-depth-mask --private",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="a dataset folder written by generate (with its card)")
    p.add_argument("--repo-id", type=_repo_id, required=True, metavar="ORG/NAME", help="ORG/NAME of the dataset repo")
    p.add_argument("--private", action="store_true", help="create the repo private (no effect on an existing repo)")
    p.add_argument("--revision", default=None, metavar="BRANCH", help="branch to commit to (created if missing; default main)")
    p.add_argument("--commit-message", metavar="TEXT", help="summary of the commit(s) and title of the pull request (default: 'Upload the dataset with mono-depth-mask VERSION')")
    p.add_argument("--create-pr", action="store_true", help="commit to a new pull request against main and leave it open for review")
    p.add_argument("--token", metavar="TOKEN", help="Hugging Face write token (default: HF_TOKEN or the one saved by `hf auth login`); never printed")
    p.add_argument("--dry-run", action="store_true", help="list what would be added, changed and deleted, upload nothing")
    p.add_argument("--timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S, metavar="SECONDS", help="give up (exit 1) when the Hub sends or takes nothing for this long; a slow upload that keeps moving is not cut (default %(default)g)")
    _add_no_progress(p)
    p.set_defaults(run=run_push)


def run_push(args: argparse.Namespace) -> None:
    from .dataset.push import push

    print(push(args.out, args.repo_id, private=args.private, revision=args.revision, dry_run=args.dry_run,
               commit_message=args.commit_message, create_pr=args.create_pr, token=args.token, timeout=args.timeout))


def add_teacher_flags(p: argparse.ArgumentParser, what: str = "depth model", in_identity: bool = True) -> None:
    # A depth teacher's resolved device type, dtype, batch size and CPU thread count change the depth's last
    # bits: they are part of the dataset (config.TeacherRun), compared on resume like the build options.
    part = "; part of the dataset, like --device and --dtype" if in_identity else ""
    p.add_argument("--batch-size", type=int, default=TeacherSettings.batch_size, metavar="N", help=f"{what} batch size{part} (default %(default)s)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help=f"device of the {what} (default %(default)s)")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "fp16", "bf16"), help=f"{what} precision; auto: bf16/fp16 on CUDA, fp32 on CPU (default %(default)s)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a model repo's own code to run (default: off)")


def teacher_settings(args: argparse.Namespace) -> TeacherSettings:
    return TeacherSettings(device=args.device, dtype=args.dtype, batch_size=args.batch_size, trust_remote_code=args.trust_remote_code)


def add_relabel_depth(subparsers) -> None:
    p = subparsers.add_parser(
        "relabel-depth",
        help="recompute only the depth of an existing dataset with another depth model",
        description="Run a depth model on the stored composites (and backgrounds) of OUT and rewrite the depth "
        "columns of every shard atomically; all other columns keep their bytes. Manifest, depth statistics, gallery and card follow.",
        epilog="examples:\n  mono-depth-mask relabel-depth ds --depth-model Intel/dpt-hybrid-midas\n"
        "  mono-depth-mask relabel-depth ds --depth-model ./my-local-model --device cuda --dtype bf16",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="a dataset folder made by generate")
    p.add_argument("--depth-model", required=True, metavar="ID_OR_PATH", help="transformers depth model, Hub id or local folder")
    add_teacher_flags(p)
    _add_no_progress(p)
    p.set_defaults(run=run_relabel_depth)


def run_relabel_depth(args: argparse.Namespace) -> None:
    from .dataset.relabel import relabel

    try:
        report = relabel(args.out, args.depth_model, teacher_settings(args), args.progress)
    except ModelUnavailable as error:  # the way out that this command's flags give
        raise error.with_ways_out("pass a local folder to --depth-model") from None
    print(report.describe())


def _dataset_parser(subparsers, name: str, help: str, run) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    p.add_argument("out", type=Path, metavar="OUT", help="a dataset folder built by generate")
    _add_no_progress(p)
    p.set_defaults(run=run)
    return p


def add_stats(subparsers) -> None:
    p = _dataset_parser(subparsers, "stats", "rewrite OUT/stats.json from the per-shard statistics in the manifest and rewrite the card", run_stats)
    p.add_argument("--recompute", action="store_true", help="decode every shard and count again, recording in the manifest any shard whose statistics were missing or differed")


def verified_dataset(out: Path) -> dict:
    """OUT's manifest, after checking that every shard is the one it lists (a command that rewrites a
    dataset's derived files must not derive them from damaged shards)."""
    from .output.manifest import load_manifest
    from .output.reader import verify_shards

    manifest = load_manifest(out)
    verify_shards(out, manifest)
    return manifest


def run_stats(args: argparse.Namespace) -> None:
    from .dataset.card import write_card
    from .dataset.stats import dataset_stats
    from .output.folder import build_lock, write_json
    from .schema import STATS

    manifest = verified_dataset(args.out)  # a clear error before any work when OUT is no dataset or a shard is damaged
    with build_lock(args.out):
        stats, changed = dataset_stats(args.out, manifest, args.recompute, args.progress)
        write_json(args.out / STATS, stats.to_json())
        write_card(args.out)
    if args.recompute:
        recorded = f", now recorded: {', '.join(changed)}" if changed else ""
        print(f"recomputed the statistics of every shard: {len(changed)} differed from the manifest or were missing{recorded}")
    print(f"wrote {args.out / STATS} and {args.out / 'README.md'}")


def add_gallery(subparsers) -> None:
    _dataset_parser(subparsers, "gallery", "redraw the pictures in OUT/gallery/ and rewrite the card", run_gallery)


def run_gallery(args: argparse.Namespace) -> None:
    from .dataset.card import write_card
    from .dataset.gallery import write_gallery
    from .output.folder import build_lock

    from .progress import StepBar

    verified_dataset(args.out)
    with build_lock(args.out):
        steps = StepBar(args.progress, ["gallery", "card"], desc="gallery")  # the drawing takes seconds
        steps.next()
        paths = write_gallery(args.out)
        steps.next()
        write_card(args.out)
        steps.close()
    print(f"wrote {len(paths)} pictures in {args.out / 'gallery'} and {args.out / 'README.md'}")


def add_export_coco(subparsers) -> None:
    p = _dataset_parser(subparsers, "export-coco", "write COCO instance annotations of OUT's labelled objects to OUT/annotations/instances_{split}.json", run_export_coco)
    p.add_argument("--images", action="store_true", help="also write the composites to OUT/images/{split}/, the annotations' file names")


def run_export_coco(args: argparse.Namespace) -> None:
    from .dataset.coco import write_coco
    from .output.folder import build_lock

    manifest = verified_dataset(args.out)
    with build_lock(args.out):
        written = write_coco(args.out, manifest, args.images)
    print(f"wrote {', '.join(str(p) for p in written)}" + (f" and the composites in {args.out / 'images'}" if args.images else ""))


def add_validate(subparsers) -> None:
    _dataset_parser(subparsers, "validate", "check a dataset against its manifest and the data contract (exit 1 on failure)", run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from .dataset.validate import validate

    report = validate(args.out, args.progress)
    print(report.text())
    return 0 if report.ok else 1
