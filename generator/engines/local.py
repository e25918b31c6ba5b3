"""Engines on this machine: `InlineEngine` builds each shard in this process as it is submitted
(--workers 1); `PoolEngine` hands shards to worker processes forked from a fork server."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from ..output.manifest import ShardRecord
from ..pipeline.plan import ShardSpec
from ..pipeline.shard import ShardContext
from .job import write_shard


class InlineEngine:
    name = "fg_bg"
    capacity = 1

    def __init__(self, context: ShardContext, out: Path | str):
        self.context, self.out = context, out
        self._done: list[tuple[int, ShardRecord]] = []

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, position: int, spec: ShardSpec, depths: np.ndarray | None) -> None:
        self._done.append((position, write_shard(self.context, spec, self.out, depths)))

    def wait(self) -> list[tuple[int, ShardRecord]]:
        done, self._done = self._done, []
        return done

    def close(self, cancel: bool) -> None:
        self._done = []


def worker_processes() -> multiprocessing.context.BaseContext:
    """Where the pool's workers come from: a fork server, a clean process that imported this module once
    (about a second: pyarrow, datasets). Each worker is a fork of it, ready at once; not a fork of this
    process, which may hold torch or threads that a fork would copy half-locked, and not a fresh interpreter
    per worker (spawn), which would import everything again, in series with the build. Calling this early
    starts the server while this process loads its inputs."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    multiprocessing.forkserver.ensure_running()
    return context


_worker_context: ShardContext | None = None


def _init_worker(context: ShardContext) -> None:
    global _worker_context
    _worker_context = context


def _build_one(spec: ShardSpec, out: Path | str, depths: np.ndarray | None) -> ShardRecord:
    return write_shard(_worker_context, spec, out, depths)


class PoolEngine:
    """Worker processes, each given the build's context once (pickled into its initializer)."""

    name = "fg_bg"

    def __init__(self, context: ShardContext, out: Path | str, workers: int):
        self.out = out
        self.capacity = 2 * workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=worker_processes(), initializer=_init_worker, initargs=(context,))
        self._pending: dict[Future, int] = {}

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, position: int, spec: ShardSpec, depths: np.ndarray | None) -> None:
        self._pending[self._pool.submit(_build_one, spec, self.out, depths)] = position

    def wait(self) -> list[tuple[int, ShardRecord]]:
        # A worker's exception is re-raised here; UserError and OutputError keep their one-line message.
        done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        return [(self._pending.pop(future), future.result()) for future in done]

    def close(self, cancel: bool) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)
