"""A training run's settings (no torch here: the CLI declares its flags from them at every start)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_WIDTH = 24  # the U-Net's first width: 1.09 M parameters (32: 1.93 M)


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 2000
    batch_size: int = 16
    size: int = 96
    seed: int = 0
    learning_rate: float = 2e-3
    width: int = DEFAULT_WIDTH

    def identity(self) -> dict:
        """What a checkpoint must share with a run to be resumed by it."""
        return asdict(self)
