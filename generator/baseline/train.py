"""The resumable training loop. A run is a pure function of its settings and the dataset: the weights come
from the seed, the batches in a fixed order (data.training_batches), the learning rate from the step, and
torch runs its deterministic kernels; a checkpoint holds the weights, the optimiser's state and the loss
history, so a run resumed from step k ends with the same weights as one never interrupted."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UserError
from ..output.folder import atomic_path
from ..progress import tqdm
from .data import Source, on_device, training_batches
from .losses import total_loss
from .model import UNet
from .settings import TrainSettings

WARMUP = 0.05  # share of the steps with a rising learning rate


@dataclass
class Run:
    model: UNet
    optimiser: torch.optim.Optimizer
    step: int = 0
    history: list[list[float]] = field(default_factory=list)  # per step: total, mask and depth loss
    seconds: float = 0.0  # training time over every session of the run
    resumed_from: int | None = None


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to zero at the last step."""
    warmup = max(1, int(WARMUP * settings.steps))
    if step < warmup:
        return settings.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup)
    return settings.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def deterministic(device: torch.device) -> None:
    if device.type == "cuda":  # cuBLAS needs a fixed workspace to be deterministic
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def new_run(settings: TrainSettings, device: torch.device) -> Run:
    torch.manual_seed(settings.seed)
    model = UNet(settings.width).to(device)
    return Run(model, torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4))


def load_run(path: Path, settings: TrainSettings, device: torch.device) -> Run:
    """The run of `path` when it is a checkpoint of these settings; a fresh run when there is none."""
    run = new_run(settings, device)
    if not path.is_file():
        return run
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a truncated or foreign file: torch raises several kinds
        raise UserError(f"{path} is not a readable checkpoint ({type(error).__name__}); delete it to start afresh") from None
    if saved.get("settings") != settings.identity():
        changed = sorted(k for k in settings.identity() if (saved.get("settings") or {}).get(k) != settings.identity()[k])
        raise UserError(f"{path} is a checkpoint of a run with other {', '.join(changed)}; use the same options to "
                        "resume it, or --restart to start afresh")
    run.model.load_state_dict(saved["model"])
    run.optimiser.load_state_dict(saved["optimiser"])
    run.step, run.history, run.seconds, run.resumed_from = saved["step"], saved["history"], saved["seconds"], saved["step"]
    return run


def save_run(path: Path, run: Run, settings: TrainSettings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save({"settings": settings.identity(), "step": run.step, "model": run.model.state_dict(),
                    "optimiser": run.optimiser.state_dict(), "history": run.history, "seconds": run.seconds}, temporary)


def train(source: Source, settings: TrainSettings, device: torch.device, checkpoint: Path,
          checkpoint_every: int = 100, progress: bool = True, stop_after: int | None = None) -> Run:
    """Train to `settings.steps` (or stop after `stop_after` steps, as an interruption would), resuming from
    `checkpoint` when it holds this run and saving it every `checkpoint_every` steps and at the end."""
    deterministic(device)
    run = load_run(checkpoint, settings, device)
    last = settings.steps if stop_after is None else min(settings.steps, stop_after)
    if run.step >= last:
        return run
    bar = tqdm(total=settings.steps, initial=run.step, desc="baseline", unit="step", disable=not progress, dynamic_ncols=True)
    batches = training_batches(source, settings.batch_size, settings.size, settings.seed, run.step)
    run.model.train()
    started = time.perf_counter()
    try:
        while run.step < last:
            batch = on_device(next(batches), device)
            for group in run.optimiser.param_groups:
                group["lr"] = learning_rate(settings, run.step)
            loss, parts = total_loss(run.model(batch["input"]), batch, source.labels.kind)
            run.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            run.optimiser.step()
            run.history.append([float(loss.detach()), parts["mask"], parts["depth"]])
            run.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{run.history[-1][0]:.3f}", refresh=False)
            if run.step % checkpoint_every == 0 or run.step == last:
                run.seconds += time.perf_counter() - started
                started = time.perf_counter()
                save_run(checkpoint, run, settings)
    finally:  # an interruption is not saved: it may land inside an optimiser step; the last checkpoint is whole
        bar.close()
    return run
