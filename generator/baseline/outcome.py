"""After training: evaluate the model on the test split and the rendered held-out rooms, then write the
results where they belong (baseline.json, the prediction sheet, the gallery and the card of a dataset folder)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..output.folder import atomic_path, write_json
from ..schema import BASELINE, BASELINE_DIR, GALLERY_DIR, MANIFEST
from ..training import normalisation
from .data import Source, test_batches
from .evaluate import Evaluation, evaluate
from .heldout import heldout_batches, heldout_set
from .losses import METRIC
from .model import parameter_count
from .report import PREDICTIONS, baseline_figures, predictions_sheet, results
from .train import Run, TrainSettings


def evaluate_run(run: Run, source: Source, settings: TrainSettings, device: torch.device, rendered: int) -> dict[str, Evaluation]:
    kind = source.labels.kind
    evaluations = {}
    if source.test_rows:
        evaluations["test"] = evaluate(run.model, test_batches(source, settings.batch_size, settings.size), kind, kind, device)
    if rendered:
        pairs = heldout_set(rendered, settings.size)
        evaluations["rendered"] = evaluate(run.model, heldout_batches(pairs, source.stats, settings.batch_size), kind, METRIC, device)
    return evaluations


def publish(out: Path, source: Source, settings: TrainSettings, run: Run, evaluations: dict[str, Evaluation],
            command: str, device: str) -> Path:
    """Write OUT/baseline.json and the prediction sheet; in a dataset folder (verified before training) also
    redraw the gallery and the card under the dataset's lock; elsewhere put the two pictures in OUT/gallery/."""
    out = Path(out)
    budget = {"steps": run.step, "samples_seen": run.step * settings.batch_size, "seconds": round(run.seconds, 1),
              "device": device, "train_rows": source.train_rows}
    model = {"name": "UNet", "width": settings.width, "parameters": parameter_count(run.model)}
    data = results(command, {"batch_size": settings.batch_size, "size": settings.size, "seed": settings.seed,
                             "learning_rate": settings.learning_rate},
                   budget, model, source.labels.kind, evaluations, run.history)
    sheet = predictions_sheet(evaluations, *normalisation(source.stats, "image")) if any(e.shown for e in evaluations.values()) else None
    out.mkdir(parents=True, exist_ok=True)
    if sheet is not None:
        _save_png(sheet, out / BASELINE_DIR / f"{PREDICTIONS}.png")
    if (out / MANIFEST).is_file():
        from ..dataset.card import write_card
        from ..dataset.gallery import write_gallery
        from ..output.folder import build_lock

        with build_lock(out):
            write_json(out / BASELINE, data)
            write_gallery(out)
            write_card(out)
    else:
        write_json(out / BASELINE, data)
        for name, picture in baseline_figures(out).items():
            _save_png(picture, out / GALLERY_DIR / f"{name}.png")
    return out / BASELINE


def _save_png(picture, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
