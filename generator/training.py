"""A streaming training input pipeline for the `fg_bg` config.

    from generator.training import streaming_loader
    loader = streaming_loader("org/mono-depth-mask", "train", batch_size=32, num_workers=2)
    for batch in loader:
        batch["input"]        # (B, 6, H, W) float32: background ++ composite, each normalised with stats.json
        batch["mask"]         # (B, 1, H, W) float32 in [0, 1] (0/1 unless built with --soft-mask)
        batch["depth"]        # (B, 1, H, W) float32, depth_min + png / 65535 * (depth_max - depth_min)
        batch["depth_valid"]  # (B,) bool, False where the row has no depth (--depth none): depth is 0 there
        batch["depth_known"]  # (B, 1, H, W) bool, per pixel: False at the holes of a background's depth
                              # (the `depth_known` column) and in rows without depth; depth is 0 there
        batch["instances"]    # (B, 1, H, W) int64, only with instances=True: k where object id k is seen, else 0

Works for a Hub repo id (through HF_ENDPOINT like any `load_dataset` call) and for a local dataset folder.
Normalisation uses the dataset's own per-channel mean and std from stats.json, format
{"kinds": {"image": {"mean": [r, g, b], "std": [r, g, b], ...}, "background": {...}, ...}} with pixel
values scaled to [0, 1]. There is no silent fallback to ImageNet figures: a dataset without stats.json
fails with a clear error unless `stats` is passed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError
from .schema import DEPTH_PNG_MAX, STATS

COLUMNS = ["image", "background", "mask", "depth", "depth_min", "depth_max", "depth_known"]


def load_stats(repo_or_path: str | Path, revision: str = "main") -> dict:
    """stats.json of a local dataset folder or of a Hub dataset repo."""
    local = Path(repo_or_path)
    if local.is_dir():
        path = local / STATS
        if not path.is_file():
            raise UserError(f"{path} does not exist: build the dataset's statistics first, or pass stats=")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        try:
            path = Path(hf_hub_download(str(repo_or_path), STATS, repo_type="dataset", revision=revision))
        except (EntryNotFoundError, HfHubHTTPError) as error:
            raise UserError(f"{repo_or_path} has no readable {STATS} ({type(error).__name__}); pass stats=") from None
    return json.loads(path.read_text(encoding="utf-8"))


def normalisation(stats: Mapping[str, Any], kind: str) -> tuple[list[float], list[float]]:
    try:
        entry = stats["kinds"][kind]
        mean, std = [float(v) for v in entry["mean"]], [float(v) for v in entry["std"]]
    except (KeyError, TypeError, ValueError):
        raise UserError(f"stats has no usable kinds.{kind}.mean / .std (format: {{'kinds': {{'{kind}': "
                        "{'mean': [r, g, b], 'std': [r, g, b]}}}})") from None
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise UserError(f"stats kinds.{kind}: expected 3 means and 3 positive stds, got {mean} / {std}")
    return mean, std


class Collate:
    """Turns rows of `with_format("torch")` (CHW uint8 images, uint16 depth) into a training batch.
    A module-level class so that DataLoader workers can pickle it."""

    def __init__(self, stats: Mapping[str, Any], instances: bool = False):
        self.image = normalisation(stats, "image")
        self.background = normalisation(stats, "background")
        self.instances = instances

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        def normalised(key: str, mean_std) -> "torch.Tensor":
            x = torch.stack([r[key] for r in rows]).float().div_(255.0)
            mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in mean_std)
            return (x - mean) / std

        image = normalised("image", self.image)
        background = normalised("background", self.background)
        mask = torch.stack([r["mask"] for r in rows]).float().div_(255.0)
        depths, valid, known = [], [], []
        for r in rows:
            if r.get("depth") is None:
                depths.append(torch.zeros(mask.shape[1:], dtype=torch.float32))
                valid.append(False)
                known.append(torch.zeros(mask.shape[1:], dtype=torch.bool))
                continue
            lo, hi = float(r["depth_min"]), float(r["depth_max"])
            depth = lo + r["depth"].float() / DEPTH_PNG_MAX * (hi - lo)
            holes = r.get("depth_known")  # null where the row's depth has no holes
            pixels = torch.ones(mask.shape[1:], dtype=torch.bool) if holes is None else holes.reshape(mask.shape[1:]) > 0
            depths.append(depth.reshape(mask.shape[1:]).masked_fill_(~pixels, 0.0))
            valid.append(True)
            known.append(pixels)
        batch = {
            "input": torch.cat([background, image], dim=1),
            "mask": mask,
            "depth": torch.stack(depths),
            "depth_valid": torch.tensor(valid),
            "depth_known": torch.stack(known),
        }
        if self.instances:
            batch["instances"] = torch.stack([r["instances"].reshape(mask.shape[1:]) for r in rows]).long()
        return batch


def streaming_dataset(repo_or_path: str | Path, split: str = "train", shuffle_buffer: int = 1000, seed: int = 0,
                      revision: str | None = None, instances: bool = False):
    from datasets import load_dataset

    ds = load_dataset(str(repo_or_path), split=split, streaming=True, revision=revision)
    # A dataset written before `depth_known` existed has no holes.
    columns = [c for c in COLUMNS if ds.column_names is None or c in ds.column_names]
    ds = ds.select_columns(columns + ["instances"] if instances else columns)
    if shuffle_buffer:
        ds = ds.shuffle(seed=seed, buffer_size=shuffle_buffer)
    return ds.with_format("torch")


def streaming_loader(repo_or_path: str | Path, split: str = "train", batch_size: int = 32, num_workers: int = 2,
                     stats: Mapping[str, Any] | str | Path | None = None, shuffle_buffer: int = 1000, seed: int = 0,
                     revision: str | None = None, instances: bool = False, **loader_kwargs):
    """A DataLoader over the streamed split yielding {input, mask, depth, depth_valid, depth_known}, and `instances`
    (the instance map) when asked for (see module doc).
    `stats`: a dict in stats.json's format, a path to one, or None to read the dataset's own stats.json."""
    from torch.utils.data import DataLoader

    if stats is None:
        stats = load_stats(repo_or_path, revision or "main")
    elif not isinstance(stats, Mapping):
        stats = json.loads(Path(stats).read_text(encoding="utf-8"))
    collate = Collate(stats, instances)  # validates stats before any worker starts
    ds = streaming_dataset(repo_or_path, split, shuffle_buffer, seed, revision, instances)
    return DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      persistent_workers=False, **loader_kwargs)
