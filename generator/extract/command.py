"""`mono-depth-mask cutouts PHOTOS --out DIR`: its flags (`add_cutouts`) and its run (`run_cutouts`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import add_teacher_flags, teacher_settings
from .gates import Gates
from .defaults import DEFAULT_CLASS_DETECTOR, DEFAULT_DETECTOR, DEFAULT_MATTING_MODEL, DEFAULT_SEGMENTER

EXAMPLES = """examples:
  mono-depth-mask cutouts photos/ --prompt "a dog" --out dogs
  mono-depth-mask cutouts photos/ --classes person,dog --per-photo all --out people-and-dogs
  mono-depth-mask generate --backgrounds bg/ --foregrounds dogs/foregrounds --fg-heights dogs/heights.csv --out ds
"""


def add_cutouts(subparsers) -> None:
    p = subparsers.add_parser(
        "cutouts",
        help="turn plain photos into RGBA cut-outs (find, segment, matte) for generate --foregrounds",
        description="Find the objects of each photo (a text prompt or a detector's classes), segment them, matte "
        "their edges and save each as a cropped RGBA PNG in DIR/foregrounds, with DIR/cutouts.json (every object "
        "found, kept or why not), DIR/heights.csv (each cut-out's class and typical height) and DIR/gallery/.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Gates()
    p.add_argument("photos", metavar="PHOTOS", help="folder of photos (JPEG/PNG/WebP)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (new, empty, or an earlier cutouts output, which is replaced)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompt", metavar="TEXT", help='what to cut out, in words: "a dog", or several phrases "a dog. a cat"')
    what.add_argument("--classes", metavar="TEXT", help="what to cut out, comma-separated labels of a closed-set instance segmenter (COCO's with the default: person,dog,chair,...)")
    p.add_argument("--per-photo", choices=("one", "all"), default="one", help="one: the best object of each photo; all: every object that passes the gates (default %(default)s)")
    p.add_argument("--min-score", type=float, default=d.min_score, metavar="F", help="skip objects the detector scores below this (default %(default)s)")
    p.add_argument("--min-size", type=int, default=d.min_side_px, metavar="PX", help="skip objects whose box is narrower or lower than this (default %(default)s)")
    models = p.add_argument_group("models (Hub ids or local folders)")
    models.add_argument("--detector", metavar="ID_OR_PATH", help=f"text -> boxes with --prompt (default {DEFAULT_DETECTOR}); classes -> masks with --classes (default {DEFAULT_CLASS_DETECTOR})")
    models.add_argument("--segmenter", default=DEFAULT_SEGMENTER, metavar="ID_OR_PATH", help="box -> mask, with --prompt (default %(default)s)")
    models.add_argument("--matting-model", default=DEFAULT_MATTING_MODEL, metavar="ID_OR_PATH", help="mask -> alpha at the edge (default %(default)s)")
    models.add_argument("--no-matting", action="store_true", help="no matting model: the alpha is the mask, softened at its edge")
    add_teacher_flags(models, what="the models'", in_identity=False)
    p.add_argument("--no-gallery", dest="gallery", action="store_false", help="skip DIR/gallery/cutouts.png")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars, ours or the libraries' (also TQDM_DISABLE=1)")
    p.set_defaults(run=run_cutouts)


def run_cutouts(args: argparse.Namespace) -> None:
    from .run import CutoutOptions, make_cutouts

    classes = tuple(name.strip().lower() for name in (args.classes or "").split(",") if name.strip())
    options = CutoutOptions(
        photos=args.photos, out=args.out, prompt=args.prompt, classes=classes, per_photo=args.per_photo,
        detector=args.detector, segmenter=args.segmenter, matting_model=None if args.no_matting else args.matting_model,
        gates=Gates(min_score=args.min_score, min_side_px=args.min_size), settings=teacher_settings(args),
        gallery=args.gallery, progress=args.progress,
    )
    counts = make_cutouts(options)
    skipped = ", ".join(f"{count} {why}" for why, count in counts["skipped"].items()) or "none"
    heights = " and heights.csv" if counts["heights"] else ""
    print(f"wrote {counts['written']} cut-outs of {counts['found']} objects found to {args.out / 'foregrounds'} "
          f"(skipped: {skipped}); cutouts.json{heights} beside them")
