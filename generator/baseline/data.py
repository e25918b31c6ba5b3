"""The baseline's data: the dataset it trains on (manifest, statistics and depth labels, read once), its
training batches in a fixed, replayable order, and its evaluation batches, all at the model's size."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from ..errors import ServiceError, UserError
from ..schema import MANIFEST
from ..training import load_stats, streaming_loader
from .losses import DepthLabels

SHUFFLE_BUFFER = 1000


@dataclass(frozen=True)
class Source:
    dataset: str  # a local dataset folder or a Hub dataset id
    manifest: dict
    stats: dict
    labels: DepthLabels

    @property
    def train_rows(self) -> int:
        return int(self.manifest["splits"].get("train", 0))

    @property
    def test_rows(self) -> int:
        return int(self.manifest["splits"].get("test", 0))


def open_source(dataset: str | Path) -> Source:
    manifest = _manifest(dataset)
    return Source(str(dataset), manifest, load_stats(dataset), DepthLabels.from_manifest(manifest["depth"]))


def _manifest(dataset: str | Path) -> dict:
    local = Path(dataset)
    if local.is_dir():
        from ..output.manifest import load_manifest

        return load_manifest(local)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", str(dataset)) or local.exists():
        raise UserError(f"{dataset} is no dataset folder and no Hub dataset id (ORG/NAME)")
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    from ..hub import offline_mode, unreachable

    reason = None if offline_mode() else unreachable(f"{constants.ENDPOINT}/api/datasets/{dataset}")
    if reason:  # a clear line in seconds instead of minutes of retries
        raise ServiceError(f"the Hub ({constants.ENDPOINT}) cannot be reached: {reason}; train on a local dataset folder")
    try:
        path = hf_hub_download(str(dataset), MANIFEST, repo_type="dataset")
    except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ServiceError(f"cannot read {MANIFEST} of the Hub dataset {dataset} ({type(error).__name__})") from None
    except Exception as error:  # httpx transport errors and the like
        if type(error).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"):
            raise
        raise ServiceError(f"cannot read {MANIFEST} of the Hub dataset {dataset}: {error}") from None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def resized(batch: dict, size: int) -> dict:
    """The batch at size x size: images and mask by area-aware bilinear resampling, depth by nearest
    neighbour (no depth between an object and what lies behind it)."""
    if batch["input"].shape[-1] == size and batch["input"].shape[-2] == size:
        return batch
    smooth = dict(size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return {**batch, "input": F.interpolate(batch["input"], **smooth), "mask": F.interpolate(batch["mask"], **smooth),
            "depth": F.interpolate(batch["depth"], size=(size, size), mode="nearest-exact")}


def training_batches(source: Source, batch_size: int, size: int, seed: int, start_step: int = 0) -> Iterator[dict]:
    """Training batches from step `start_step` on, the same ones whichever step a run starts from: epoch
    e streams the train split shuffled by `datasets` with the seed and the epoch, in the main process,
    whole batches only. A resumed run skips the epochs before its step without reading them and replays
    the current one to its step (the stream's shuffle buffer cannot be restored)."""
    per_epoch = source.train_rows // batch_size
    if per_epoch == 0:
        raise UserError(f"{source.dataset}: the train split has {source.train_rows} rows, fewer than --batch-size {batch_size}")
    # One loader for every epoch: opening the stream costs seconds.
    loader = streaming_loader(source.dataset, "train", batch_size=batch_size, num_workers=0, stats=source.stats,
                              shuffle_buffer=SHUFFLE_BUFFER, seed=seed, drop_last=True)
    step = start_step - start_step % per_epoch
    for epoch in count(start_step // per_epoch):
        loader.dataset.set_epoch(epoch)
        for batch in loader:
            if step >= start_step:
                yield resized(batch, size)
            step += 1


def test_batches(source: Source, batch_size: int, size: int) -> Iterator[dict]:
    """The whole test split in its stored order."""
    loader = streaming_loader(source.dataset, "test", batch_size=batch_size, num_workers=0, stats=source.stats, shuffle_buffer=0)
    for batch in loader:
        yield resized(batch, size)


def on_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}
