"""The cutouts command's work: photos in batches through find -> gates -> segment -> matte -> colours ->
crop, every object recorded, and the output folder filled beside DIR and swapped in whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..config import TeacherSettings, recorded_model
from ..errors import UserError
from ..output.folder import replace_folder
from ..pipeline.classes import find_class
from ..pipeline.loading import resolve_device, resolve_dtype
from ..pipeline.matching import list_files
from ..pipeline.sources import open_image, to_rgb
from ..progress import tqdm
from .cutout import make_cutout
from .find import ClassFinder, Found, TextFinder, prompt_phrases
from .gates import ALL_TRANSPARENT, Gates, alpha_reason, select
from .matte import Matter
from .defaults import DEFAULT_CLASS_DETECTOR, DEFAULT_DETECTOR, DEFAULT_MATTING_MODEL, DEFAULT_SEGMENTER
from .models import load_class_detector, load_matting, load_segmenter, load_text_detector
from .report import GALLERY_ROWS, REPORT, ObjectRecord, gallery_row, write_gallery, write_heights, write_report
from .segment import BoxSegmenter
from .trimap import make_trimap, soft_alpha

FOREGROUNDS = "foregrounds"
DETECTION_FLOOR = 0.15  # the finder reports objects down to this score, so the low-score gate can list them


@dataclass(frozen=True)
class CutoutOptions:
    photos: str
    out: Path
    prompt: str | None = None
    classes: tuple[str, ...] = ()
    per_photo: str = "one"  # one | all
    detector: str | None = None  # None: the default for --prompt or --classes
    segmenter: str = DEFAULT_SEGMENTER
    matting_model: str | None = DEFAULT_MATTING_MODEL  # None: --no-matting
    gates: Gates = field(default_factory=Gates)
    settings: TeacherSettings = field(default_factory=TeacherSettings)  # device, dtype, batch size, remote code
    gallery: bool = True
    progress: bool = True

    @property
    def detector_name(self) -> str:
        return self.detector or (DEFAULT_DETECTOR if self.prompt else DEFAULT_CLASS_DETECTOR)

    def models(self) -> dict:
        """The models a run with these options uses, as cutouts.json and the datasets builder's cache key name them."""
        segmenter = None if self.classes else self.segmenter
        return {"detector": self.detector_name, "segmenter": segmenter, "matting": self.matting_model}


@dataclass
class Stages:
    find: Callable[[list[np.ndarray]], list[list[Found]]]
    segment: BoxSegmenter | None  # None: the finder's masks are used
    matte: Matter | None  # None: the mask softened at its edge


def check_options(options: CutoutOptions) -> None:
    if bool(options.prompt and prompt_phrases(options.prompt)) == bool(options.classes):
        raise UserError("give what to cut out: --prompt \"a dog\" (any text) or --classes person,dog (a detector's labels), one of them")
    if options.per_photo not in ("one", "all"):
        raise UserError(f"--per-photo must be one or all; got {options.per_photo!r}")
    if options.settings.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1; got {options.settings.batch_size}")
    out = Path(options.out)
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / REPORT).is_file()):
        raise UserError(f"--out {out} exists and is not a cutouts folder: give a new or empty folder")


def load_stages(options: CutoutOptions) -> Stages:
    settings = options.settings
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    remote = settings.trust_remote_code
    threshold = min(DETECTION_FLOOR, options.gates.min_score)
    if options.prompt:
        detector = load_text_detector(options.detector_name, remote, device, dtype)
        find = TextFinder(detector.model, detector.processor, options.prompt, threshold, device, dtype)
        segmenter = load_segmenter(options.segmenter, remote, device, dtype)
        segment = BoxSegmenter(segmenter.model, segmenter.processor, device, dtype)
    else:
        detector = load_class_detector(options.detector_name, remote, device, dtype)
        find, segment = ClassFinder(detector.model, detector.processor, list(options.classes), threshold, device, dtype), None
    matte = None
    if options.matting_model:
        matting = load_matting(options.matting_model, remote, device, dtype)
        matte = Matter(matting.model, matting.processor, device, dtype, settings.batch_size)
    return Stages(find, segment, matte)


def make_cutouts(options: CutoutOptions, stages: Stages | None = None) -> dict:
    """Cut out the photos' objects into options.out (replaced whole); returns cutouts.json's counts."""
    check_options(options)
    photos = list_files(options.photos, "photos")
    stages = stages or load_stages(options)  # before --out is touched: a model that cannot load leaves nothing
    counts: dict = {}

    def fill(folder: Path) -> None:
        (folder / FOREGROUNDS).mkdir()
        records, rows = [], []
        size = options.settings.batch_size
        batches = [photos[start : start + size] for start in range(0, len(photos), size)]
        for batch in tqdm(batches, unit="batch", desc="cutouts", disable=not options.progress, dynamic_ncols=True):
            try:
                _cut_batch(batch, options, stages, folder, records, rows)
            except ImportError as error:  # a processor's optional dependency (OWLv2's PIL resize needs scipy, ...)
                reason = " ".join(str(error).split())[:200]
                raise UserError(f"a model of this run needs a package that is not installed: {reason}") from None
        counts.update(write_report(folder, records, _named(options), _asked(options)))
        counts["heights"] = write_heights(folder, records)
        if options.gallery:
            write_gallery(folder, rows)

    replace_folder(Path(options.out), fill)
    return counts


def _named(options: CutoutOptions) -> dict:
    return {role: recorded_model(name) for role, name in options.models().items()}


def _asked(options: CutoutOptions) -> dict:
    return {"prompt": options.prompt, "classes": list(options.classes), "per_photo": options.per_photo, "gates": asdict(options.gates)}


def _cut_batch(paths: list[Path], options: CutoutOptions, stages: Stages, folder: Path, records: list, rows: list) -> None:
    images = [np.asarray(to_rgb(open_image(path))) for path in paths]
    found = stages.find(images)
    reasons = [select(f, image.shape, options.gates, options.per_photo == "one") for f, image in zip(found, images)]
    kept = [[j for j, reason in enumerate(rs) if reason is None] for rs in reasons]
    masks = _masks(stages, images, [[fs[j] for j in js] for fs, js in zip(found, kept)])
    # (photo, object) -> mask, for the objects kept whose mask is not empty: those are matted, in one list
    segmented = {(p, j): mask for p, js in enumerate(kept) for j, mask in zip(js, masks[p]) if mask.any()}
    alphas = dict(zip(segmented, _alphas(stages, [images[p] for p, _ in segmented], list(segmented.values()))))
    for p, (path, image, fs, rs) in enumerate(zip(paths, images, found, reasons)):
        written = 0
        for j in sorted(range(len(fs)), key=lambda j: -fs[j].score):
            f, reason, name = fs[j], rs[j], None
            if reason is None:
                alpha = alphas.get((p, j))
                reason = ALL_TRANSPARENT if alpha is None else alpha_reason(alpha, f.box, options.gates)
            if reason is None:
                name = path.stem if options.per_photo == "one" else f"{path.stem}_{written}"
                cutout = make_cutout(image, alpha, str(path))
                Image.fromarray(cutout, "RGBA").save(folder / FOREGROUNDS / f"{name}.png")
                written += 1
                if len(rows) < GALLERY_ROWS:
                    rows.append(gallery_row(image, list(f.box), segmented[p, j], alpha, cutout))
            records.append(_record(path, f, options, name, reason))


def _masks(stages: Stages, images: list[np.ndarray], kept: list[list[Found]]) -> list[list[np.ndarray]]:
    if stages.segment is None:
        return [[f.mask for f in fs] for fs in kept]
    return stages.segment(images, [[f.box for f in fs] for fs in kept])


def _alphas(stages: Stages, images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
    if stages.matte is None:
        return [soft_alpha(mask) for mask in masks]
    return stages.matte(images, [make_trimap(mask) for mask in masks]) if masks else []


def _record(path: Path, found: Found, options: CutoutOptions, name: str | None, reason: str | None) -> ObjectRecord:
    known = find_class(found.label) or (find_class(options.prompt) if options.prompt else None)
    return ObjectRecord(
        photo=path.name, box=[round(v, 1) for v in found.box], score=round(found.score, 4), label=found.label,
        category=known.name if known else found.label, height_m=known.height_m if known else None,
        cutout=f"{FOREGROUNDS}/{name}.png" if name else None, skipped=reason,
    )
