"""The dataset card's words on depth: which models made it (the labels' teacher, the background depth
model), whether the background depth has a metric scale, the licence where known, and what each row's
depth is."""

from __future__ import annotations

import re
from pathlib import Path

from ..pipeline.depth_holes import CARD_TEXT as HOLES_TEXT
from ..output.model import DatasetRules
from ..rules import DepthMode


def shown_path(value: str) -> str:
    """A local folder by its name only: its absolute path says nothing to a reader and tells where the
    builder's files were. Hub ids (ORG/NAME, not a folder here) and relative names are kept."""
    path = Path(value)
    return path.name if path.is_absolute() or path.is_dir() and not re.fullmatch(r"[\w.-]+/[\w.-]+", value) else value


def _local_model_text(manifest: dict, model: str) -> str:
    teacher = manifest["depth"].get("teacher") or {}
    hashes = teacher.get("sha256") or {}
    named = ", ".join(f"`{name}` sha256 `{digest}`" for name, digest in hashes.items()
                      if name == "config.json" or name.endswith((".safetensors", ".bin")))
    return f"`{shown_path(model)}` (a local model{': ' + named if named else ''})."


def credits_depth(manifest: dict) -> str:
    options = manifest["options"]
    depth = DatasetRules.of(manifest).depth
    background = options.get("background_depth_model")
    if depth == DepthMode.MODEL and background:  # two models: the labels' and the background depth's
        return f"{_credits_model(manifest, options['depth_model'])} Background depth: {_credits_model(manifest, background)}"
    model = options.get("depth_model") if depth == DepthMode.MODEL else background
    if model:
        return _credits_model(manifest, model)
    if options.get("demo"):
        return "exact depth of the procedural demo rooms (ray-cast), no model."
    return "the backgrounds' own depth maps supplied with `--background-depths`." if depth == DepthMode.SCENE else "none."


def _credits_model(manifest: dict, model: str) -> str:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", model) or Path(model).exists():
        return _local_model_text(manifest, model)
    record = manifest["depth"].get("background_model") or {}
    license = f"; its weights are under the {record['license']}" if record.get("model") == model and record.get("license") else ""
    return f"[`{model}`](https://huggingface.co/{model}) (see its model card for its license and citation{license})."


def _background_model_text(manifest: dict) -> str:
    """Which model gave the backgrounds' depth, whether it has a metric scale, and its licence where known."""
    record = manifest["depth"].get("background_model")
    if not record:
        return ""
    scale = "metric" if record.get("metric") else "no metric scale, so no floor placement"
    license = f"; its weights are under the {record['license']}" if record.get("license") else ""
    return (f" The backgrounds' depth, which placement stands objects on, was predicted once per background by "
            f"`{shown_path(record['model'])}` ({scale}: {record['meaning']}){license}.")


def depth_text(manifest: dict) -> str:
    return _labels_text(manifest) + _background_model_text(manifest)


def _labels_text(manifest: dict) -> str:
    depth = manifest["depth"]
    options = manifest["options"]
    rules = DatasetRules.of(manifest)
    if rules.depth == DepthMode.NONE:
        return "none (`--depth none`)."
    if rules.depth == DepthMode.SCENE:
        source = f"predicted once per background by `{shown_path(options['background_depth_model'])}`" if options.get("background_depth_model") else "the backgrounds' own depth maps"
        if rules.on_floor:
            rule = ("each visible pixel of a standing object takes the depth of the upright plane through its contact "
                    "point, facing the camera (constant along a row without camera roll); hidden parts keep the scene's")
        else:
            rule = ("each foreground stands at the depth of its contact point (bottom centre of its mask), never behind "
                    "a background pixel it covers")
        holes = HOLES_TEXT if options.get("background_depths") else ""
        return f"`scene`: {source}; {rule}. Values: {depth['meaning']}.{holes}"
    return f"`model`: `{shown_path(options['depth_model'])}` run on every composite. Values: {depth['meaning']}."
