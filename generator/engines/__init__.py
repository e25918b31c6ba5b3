"""Engines build shard jobs (job.py) somewhere: in this process, in worker processes on this machine
(local.py) or on a Ray cluster (ray.py). They share one small interface, `Engine`; which job runs when, the
progress bar, the teacher's hand-over and what happens as each shard is published are decided once, by the
scheduling loop (loop.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..output.manifest import ShardRecord
    from ..pipeline.handover import QuantizedDepth
    from ..pipeline.plan import ShardSpec


class Engine(Protocol):
    name: str  # shown on the progress bar
    capacity: int  # jobs held at once; the loop waits for one to finish before it submits more
    in_flight: int  # jobs submitted and not yet returned by wait()
    lanes: int  # workers that keep their own cut-out cache (plan.worker_stretches): 1 where none does

    def submit(self, position: int, spec: "ShardSpec", depths: "np.ndarray | None", lane: int = 0) -> None:
        """Start building shard `spec` on worker `lane` (free_lane's; `depths`: the teacher's maps of its
        rows, when this process labelled it)."""

    def free_lane(self) -> int:
        """The worker (lane) holding the fewest jobs: the next job's."""

    def depth_buffer(self, count: int, height: int, width: int) -> "QuantizedDepth | None":
        """Where the teacher in this process may write a shard's maps so that they reach the worker
        without a copy (memory it shares with its workers); None: anywhere."""

    def wait(self) -> list[tuple[int, "ShardRecord"]]:
        """Block until at least one job is published; return (position, record) of each finished one.
        A job that failed raises here (a lost worker is retried by the engine itself, where it can)."""

    def close(self, cancel: bool) -> None:
        """Release the workers; with `cancel`, drop the jobs not started."""
