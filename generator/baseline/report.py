"""What a baseline run leaves in OUT: baseline.json (settings, budget, metrics per evaluated set and the
learning curve), the card's "Baseline" section written from it, and the gallery's two pictures: the
learning curves (drawn from baseline.json, so `gallery` redraws them) and the prediction sheet (drawn once
from the model's outputs, kept in OUT/.baseline/ for later gallery redraws)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from ..dataset.drawing import BLACK, BLUE, GREY, ORANGE, WHITE, font, mosaic, nice_ticks, tick_text, turbo
from ..schema import BASELINE, BASELINE_DIR, GALLERY_DIR
from .names import KEYS

if TYPE_CHECKING:
    from .evaluate import Evaluation

CURVES, PREDICTIONS = "09-baseline-curves", "10-baseline-predictions"
CURVE_POINTS = 200  # the learning curve in baseline.json: means over at most this many equal runs of steps
SET_NAMES = {"test": "test split", "rendered": "rendered held-out rooms"}
REQUIRED = {"command", "steps", "batch_size", "size", "samples_seen", "seconds", "device", "depth_labels", "model",
            "evaluations", "curve"}


def curve(history: list[list[float]]) -> list[list[float]]:
    """[last step, mean total, mean mask, mean depth loss] over consecutive runs of steps."""
    if not history:
        return []
    values = np.asarray(history, np.float64)
    edges = np.unique(np.linspace(0, len(values), min(CURVE_POINTS, len(values)) + 1).round().astype(int))
    return [[int(end), *(round(float(v), 5) for v in values[start:end].mean(axis=0))] for start, end in zip(edges, edges[1:])]


def results(command: str, settings: dict, budget: dict, model: dict, labels: str, evaluations: dict[str, Evaluation],
            history: list[list[float]]) -> dict:
    return {
        "command": command, **settings, **budget, "model": model, "depth_labels": labels,
        "evaluations": {name: {"samples": e.samples, **{k: _rounded(v) for k, v in e.metrics.items()}} for name, e in evaluations.items()},
        "curve": curve(history),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


def read_results(out: Path) -> dict | None:
    path = Path(out) / BASELINE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # a hand-edited or damaged file: the card and gallery leave the baseline out
    complete = isinstance(data, dict) and REQUIRED <= data.keys() and isinstance(data["evaluations"], dict)
    return data if complete else None


# --- the card -----------------------------------------------------------------------------------------


def baseline_section(out: Path) -> str:
    data = read_results(out)
    if data is None:
        return ""
    lines = ["", "## Baseline", "",
             f"A reference U-Net ({data['model']['parameters'] / 1e6:.2f} M parameters; input background ++ composite, "
             f"output mask and depth) trained on this dataset for {data['steps']:,} steps of {data['batch_size']} samples "
             f"at {data['size']}×{data['size']} px ({data['samples_seen']:,} samples seen, {data['seconds']:,.0f} s on "
             f"{data['device']}), depth labels {data['depth_labels']}. Mask IoU and boundary F per image; depth AbsRel, RMSE "
             "and δ<1.25 on valid pixels, over the whole image and over the object's pixels"
             f"{' (after least-squares scale and shift)' if data['depth_labels'] == 'relative' else ''}. "
             "The rendered held-out rooms are demo rooms no build uses, rendered without and with one piece of furniture.", "",
             "| set | samples | mask IoU | boundary F | AbsRel | RMSE | δ<1.25 | AbsRel (object) | RMSE (object) | δ<1.25 (object) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, values in data["evaluations"].items():
        cells = " | ".join(_cell(values.get(key)) for key in KEYS)
        lines.append(f"| {SET_NAMES.get(name, name)} | {values['samples']:,} | {cells} |")
    lines += ["", f"Command: `{data['command']}`"]
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


# --- the gallery --------------------------------------------------------------------------------------


def baseline_figures(out: Path) -> dict[str, Image.Image]:
    """The gallery's baseline pictures, when OUT has a baseline.json."""
    data = read_results(out)
    if data is None or not data.get("curve"):
        return {}
    figures = {CURVES: curves_plot(data["curve"])}
    for kept in (Path(out) / BASELINE_DIR / f"{PREDICTIONS}.png", Path(out) / GALLERY_DIR / f"{PREDICTIONS}.png"):
        if kept.is_file():
            with Image.open(kept) as picture:
                figures[PREDICTIONS] = picture.convert("RGB")
            break
    return figures


PLOT_W, PLOT_H, LEFT, RIGHT, TOP, BOTTOM = 640, 300, 62, 14, 28, 44


def curves_plot(points: list[list[float]]) -> Image.Image:
    """Training loss (total, mask, depth) against the step, as lines on axes with ticks and a legend."""
    values = np.asarray(points, np.float64)
    picture = Image.new("RGB", (PLOT_W, PLOT_H), WHITE)
    draw = ImageDraw.Draw(picture)
    left, right, top, bottom = LEFT, PLOT_W - RIGHT, TOP, PLOT_H - BOTTOM
    x_high = max(float(values[-1, 0]), 1.0)
    y_high = max(float(np.nanmax(values[:, 1:])) * 1.05, 1e-6)

    def xy(step, value):
        return left + step / x_high * (right - left), bottom - value / y_high * (bottom - top)

    series = [("total", 1, BLACK), ("mask", 2, BLUE), ("depth", 3, ORANGE)]
    for _, column, colour in series:
        draw.line([xy(s, v) for s, v in zip(values[:, 0], values[:, column])], fill=colour, width=2)
    draw.rectangle((left, top, right, bottom), outline=BLACK)
    ticks, step = nice_ticks(0.0, x_high, 6)
    for value in ticks:
        x = xy(value, 0)[0]
        draw.line((x, bottom, x, bottom + 4), fill=BLACK)
        draw.text((x, bottom + 6), tick_text(value, step), fill=BLACK, font=font(10), anchor="mt")
    ticks, step = nice_ticks(0.0, y_high, 5)
    for value in ticks:
        y = xy(0, value)[1]
        draw.line((left - 4, y, left, y), fill=BLACK)
        draw.text((left - 6, y), tick_text(value, step), fill=BLACK, font=font(10), anchor="rm")
    draw.text(((left + right) / 2, TOP / 2), "Baseline: training loss", fill=BLACK, font=font(12), anchor="mm")
    draw.text(((left + right) / 2, PLOT_H - 12), "step", fill=BLACK, font=font(11), anchor="mm")
    for i, (label, _, colour) in enumerate(series):
        y = top + 12 + 16 * i
        draw.line((right - 90, y, right - 70, y), fill=colour, width=2)
        draw.text((right - 64, y), label, fill=colour if colour != BLACK else GREY, font=font(10), anchor="lm")
    return picture


def predictions_sheet(evaluations: dict[str, Evaluation], image_mean: list[float], image_std: list[float]) -> Image.Image:
    """One row per shown sample: composite, true mask, predicted mask, true depth, predicted depth (one
    turbo scale per row: the labels' and the prediction's range together)."""
    tiles, labels = [], []
    mean, std = np.asarray(image_mean), np.asarray(image_std)
    for name, evaluation in evaluations.items():
        for i, shown in enumerate(evaluation.shown):
            composite = np.clip((shown.composite * std + mean) * 255 + 0.5, 0, 255).astype(np.uint8)
            grey = [np.repeat((np.clip(m, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
                    for m in (shown.mask, shown.predicted_mask)]
            known = shown.depth[np.isfinite(shown.depth)]
            low, high = (float(known.min()), float(known.max())) if known.size else (0.0, 1.0)
            depths = [np.where(np.isfinite(d)[..., None], turbo(np.nan_to_num(d, nan=low), low, high), 0).astype(np.uint8)
                      for d in (shown.depth, shown.predicted_depth)]
            tiles += [composite, *grey, *depths]
            labels += [f"{SET_NAMES.get(name, name)} {i + 1}", "mask", "predicted", f"depth {low:.2f}-{high:.2f}", "predicted"]
    headings = ["composite", "true mask", "predicted mask", "true depth", "predicted depth"]
    return mosaic(tiles, labels, "Baseline: predictions on held-out samples", columns=5, headings=headings)

