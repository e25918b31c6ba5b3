"""Engines on this machine: `InlineEngine` builds each shard in this process as it is submitted
(--workers 1); `PoolEngine` hands shards to worker processes forked from a fork server."""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path


# --- no process outlives the build ---------------------------------------------------------------------
# The workers are children of the fork server, which is a child of the main process. A worker holds the
# fork server's "alive" pipe and its task queue open, so if the main process is killed, neither notices by
# itself: all three (and the resource tracker, whose pipe they hold) would live on, holding memory and the
# caller's stdout. So each dies with its parent: the kernel's parent-death signal where there is one (Linux),
# set by the fork server for itself (parent: the main process) and in every child it forks (parent: the
# fork server), and a watch on the main process in each worker wherever it is missing.

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent (thread) dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The C library already loaded (the program's own symbols): find_library would start `ldconfig -p`
        # in every worker, and in the fork server, a child that looks like a worker while it runs.
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the parent died before the request: nobody will send the signal
        os._exit(1)
    return True


def _in_fork_server() -> bool:
    """True while the fork server imports this module (its preload), not in any other process."""
    server = multiprocessing.forkserver.main.__code__
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is server:
            return True
        frame = frame.f_back
    return False


if _in_fork_server():
    die_with_parent()
    # Ctrl-C is the main process's to handle (it stops the workers and the server goes with it): the
    # server ignores it after this preload anyway, and during it a KeyboardInterrupt would print a
    # traceback from the middle of an import. Its workers inherit this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # In the child right after each fork, before it reads its task (a child blocked on a dead main
    # process's pipe would otherwise wait forever).
    os.register_at_fork(after_in_child=die_with_parent)


def _watch_main_process(pid: int, interval: float = 0.5) -> None:
    """Where the kernel cannot kill a worker with its parent: a daemon thread ends it once the main
    process is gone."""

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(interval)

    threading.Thread(target=watch, name="watch-main-process", daemon=True).start()


import numpy as np  # noqa: E402  (after the parent-death request, which the fork server makes first)

from ..output.manifest import ShardRecord  # noqa: E402
from ..pipeline.handover import QuantizedDepth  # noqa: E402
from ..pipeline.plan import ShardSpec  # noqa: E402
from ..pipeline.shard import ShardContext  # noqa: E402
from .heap import keep_freed_memory  # noqa: E402
from .job import write_shard  # noqa: E402
from .shared_backgrounds import SharedBackgrounds  # noqa: E402
from .shared_depth import SharedDepth, SharedDepthBlocks  # noqa: E402
from .shm import name_semaphores, sweep_orphans  # noqa: E402


class InlineEngine:
    name = "fg_bg"
    capacity = 1
    lanes = 1

    def __init__(self, context: ShardContext, out: Path | str):
        self.context, self.out = context, out
        self._done: list[tuple[int, ShardRecord]] = []
        keep_freed_memory()  # this process builds the shards: each one's arrays are as large as the last one's

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, position: int, spec: ShardSpec, depths: np.ndarray | None, lane: int = 0) -> None:
        self._done.append((position, write_shard(self.context, spec, self.out, depths)))

    def depth_buffer(self, count: int, height: int, width: int) -> None:
        return None

    def free_lane(self) -> int:
        return 0

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


def _init_worker(context: ShardContext, main_pid: int) -> None:
    global _worker_context
    _worker_context = context
    keep_freed_memory()  # each shard's arrays are as large as the last one's
    if not die_with_parent():
        _watch_main_process(main_pid)


def _build_one(spec: ShardSpec, out: Path | str, depths: SharedDepth | np.ndarray | None) -> ShardRecord:
    return write_shard(_worker_context, spec, out, depths.open() if isinstance(depths, SharedDepth) else depths)


class PoolEngine:
    """Worker processes, each given the build's context once (pickled into its initializer), with its
    backgrounds read from shared memory as the shards meet them (shared_backgrounds.py).

    Each worker is a lane, a pool of its own, so that the loop can give each worker the shards meant for
    it (plan.worker_stretches), whose foregrounds its cut-out cache has met."""

    name = "fg_bg"

    def __init__(self, context: ShardContext, out: Path | str, workers: int):
        self.out = out
        self.lanes = workers
        self.capacity = 2 * workers  # each worker's shard and the next, so that it never waits for this process
        sweep_orphans()  # what builds killed whole left in /dev/shm
        name_semaphores()  # each pool's queues make five: named after this process, for the next build's sweep
        self._backgrounds = SharedBackgrounds.write(context.sources.backgrounds)
        if self._backgrounds is not None:
            context = context.with_backgrounds(self._backgrounds)
        try:
            processes = worker_processes()
            self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=processes, initializer=_init_worker, initargs=(context, os.getpid()))
                           for _ in range(workers)]
        except BaseException:
            if self._backgrounds is not None:
                self._backgrounds.remove()
            raise
        self._pending: dict[Future, tuple[int, int, SharedDepth | np.ndarray | None]] = {}  # position, lane, maps
        # The teacher's maps, when this process labels: a block for each shard in flight, and one for the
        # shard it labels while they are (the loop waits for a free slot only after labelling).
        self._shared = SharedDepthBlocks(self.capacity + 1)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, position: int, spec: ShardSpec, depths: np.ndarray | None, lane: int = 0) -> None:
        handed = self._shared.handed(depths) if isinstance(depths, QuantizedDepth) else depths
        self._pending[self._pools[lane].submit(_build_one, spec, self.out, handed)] = position, lane, handed

    def depth_buffer(self, count: int, height: int, width: int) -> QuantizedDepth | None:
        return self._shared.lend(count, height, width)

    def free_lane(self) -> int:
        held = [0] * self.lanes
        for _, lane, _ in self._pending.values():
            held[lane] += 1
        return min(range(self.lanes), key=held.__getitem__)

    def wait(self) -> list[tuple[int, ShardRecord]]:
        # A worker's exception is re-raised here; UserError and OutputError keep their one-line message.
        done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            position, _, handed = self._pending.pop(future)
            finished.append((position, future.result()))
            self._shared.release(handed)
        return finished

    def close(self, cancel: bool) -> None:
        if cancel:
            # A cancelled build discards its unfinished shards: stop the workers now instead of letting
            # each finish the shards already queued to it (seconds each). Their half-written files are
            # removed by the build (remove_temporaries).
            for pool in self._pools:
                if hasattr(pool, "kill_workers"):  # Python 3.14
                    pool.kill_workers()
                else:  # no public way before it
                    for process in list((pool._processes or {}).values()):
                        process.kill()
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=cancel)
        self._shared.close()
        if self._backgrounds is not None:
            self._backgrounds.remove()
