"""The Ray engine: the same shards as the local engines, built by actors across a Ray cluster, behind the
same `Engine` interface (the scheduling loop in loop.py drives it).

- The driver puts the ShardContext (options, decoded sources, depth stage) in the object store once with
  `ray.put`. Workers need no access to the input folders: the sources travel with the context (the same
  hand-over as the local engine, which pickles the context into each worker process once).
- One actor per CPU of the cluster (or, with --gpus-per-worker N, one per N GPUs, each reserving
  `num_gpus=N`), each receiving the context once in its constructor; up to IN_FLIGHT shards per actor.
- With --depth model the depth plan puts the teacher in the workers: every actor loads its own copy once (by
  the same Hub id or folder, so each node must reach it; on the GPUs it reserved, found by --device auto)
  and labels the shards it builds, so a cluster's GPUs work side by side. Same device and dtype -> the same
  bytes as the local engine, whose single teacher lives in the main process.
- Failures: a shard is a pure function of the options and its spec, and write_shard publishes it in one
  atomic step, so building a shard twice writes the same bytes to the same name: at-least-once is safe,
  and nothing is ever duplicated or left half written. An actor whose process dies is restarted by Ray
  (`max_restarts`), and the shards it held are retried on it (`max_task_retries`); an actor that is gone
  for good is dropped and its shards go to the others, up to MAX_ATTEMPTS per shard. Python exceptions
  (a user error, a bug) are not retried: they are deterministic and end the build.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import RunOptions, TeacherSettings
from ..errors import UserError
from ..output.manifest import ShardRecord
from ..pipeline.depth import load_teacher
from ..pipeline.plan import ShardSpec
from ..pipeline.shard import ShardContext, shard_composites
from .job import write_shard

INSTALL_HINT = "--engine ray needs Ray: pip install 'mono-depth-mask[ray]' (or pip install 'ray[default]')"
IN_FLIGHT = 2  # shards queued per actor, so an actor never waits for the driver between two shards
MAX_RESTARTS = 4  # restarts of one actor process after it dies (node lost, OOM kill, crash)
MAX_TASK_RETRIES = 3  # retries of a shard on its restarted actor
MAX_ATTEMPTS = 3  # actors a shard may be handed to by the driver before the build fails


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


class ShardWorker:
    """A Ray actor: holds one build's context (and, with --depth model, its own teacher), both loaded
    once, and writes the shards it is given."""

    def __init__(self, context_box: list, teacher: TeacherSettings | None = None):
        import ray

        # The context comes boxed in a list so that Ray hands over its ObjectRef instead of resolving it:
        # the driver keeps the object alive for the whole build, so a restarted actor can read it again.
        self.context: ShardContext = ray.get(context_box[0])
        # One teacher per actor, on the GPU Ray gave it (--device auto picks it up): a cluster's GPUs
        # label shards side by side instead of queueing behind one model in the driver.
        self.teacher = load_teacher(teacher) if teacher else None

    def write(self, spec: ShardSpec, out) -> ShardRecord:
        depths = self.teacher.predict_quantized(shard_composites(self.context, spec), where=spec.row_name) if self.teacher else None
        return write_shard(self.context, spec, out, depths)


def connect(run: RunOptions):
    """Join the cluster at run.ray_address, or start a Ray instance on this machine (loopback only) with
    run.workers CPUs. Returns (ray, whether we started it)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    if run.ray_address:
        try:
            ray.init(address=run.ray_address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"cannot join the Ray cluster at --ray-address {run.ray_address}: {reason}") from None
    else:
        ray.init(num_cpus=run.workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    return ray, True


def actor_count(ray, run: RunOptions, shards: int) -> int:
    resources = ray.cluster_resources()
    if run.gpus_per_worker > 0:
        slots = int(resources.get("GPU", 0) // run.gpus_per_worker)
        if slots < 1:
            raise UserError(f"--gpus-per-worker {run.gpus_per_worker:g}: the Ray cluster has {resources.get('GPU', 0):g} GPUs")
    else:
        slots = int(resources.get("CPU", 1))
    return max(1, min(slots, shards))


class RayEngine:
    """Actors on a Ray cluster (joined, or started on this machine and shut down at close)."""

    name = "fg_bg (ray)"

    def __init__(self, context: ShardContext, out: Path | str, run: RunOptions, shards: int, teacher: TeacherSettings | None = None):
        from ray.exceptions import RayActorError, RayTaskError

        self._errors = (RayActorError, RayTaskError)
        self.ray, self._started = connect(run)
        self.out = out
        worker_class = self.ray.remote(ShardWorker).options(
            num_cpus=1, num_gpus=run.gpus_per_worker or 0, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
        )
        self._context_ref = self.ray.put(context)  # once; every actor reads the same copy from its node's store
        count = actor_count(self.ray, run, shards)
        self._actors = [worker_class.remote([self._context_ref], teacher) for _ in range(count)]
        self._load = {actor: 0 for actor in self._actors}
        self.lanes = count
        self.capacity = IN_FLIGHT * count
        self._pending: dict = {}  # ObjectRef -> (position, spec, actor, attempt)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, position: int, spec: ShardSpec, depths: np.ndarray | None, lane: int = 0, attempt: int = 1) -> None:
        actor = self._actors[lane]
        if actor not in self._load:  # gone since: the least busy actor still alive
            actor = self._actors[self.free_lane()]
        self._load[actor] += 1
        self._pending[actor.write.remote(spec, self.out)] = (position, spec, actor, attempt)

    def depth_buffer(self, count: int, height: int, width: int) -> None:
        return None  # the maps go through Ray's object store

    def free_lane(self) -> int:
        """The least busy actor still alive, by its place among the actors started."""
        return self._actors.index(min(self._load, key=self._load.get))

    def wait(self) -> list[tuple[int, ShardRecord]]:
        actor_error, task_error = self._errors
        [ready], _ = self.ray.wait(list(self._pending), num_returns=1)
        position, spec, actor, attempt = self._pending.pop(ready)
        if actor in self._load:
            self._load[actor] -= 1
        try:
            return [(position, self.ray.get(ready))]
        except task_error as error:  # a Python exception in write_shard: deterministic, not retried
            cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else error
            raise cause from None
        except actor_error:  # the actor is gone for good (restarts and retries spent)
            self._load.pop(actor, None)
            if attempt >= MAX_ATTEMPTS or not self._load:
                raise RuntimeError(f"shard {(spec.split, spec.index)} failed on {attempt} Ray workers; giving up") from None
            self.submit(position, spec, None, self.free_lane(), attempt + 1)
            return []

    def close(self, cancel: bool) -> None:
        for actor in self._actors:
            self.ray.kill(actor, no_restart=True)
        if self._started:
            self.ray.shutdown()
