"""The Ray engine: the same shards as the local engine, built by actors across a Ray cluster.

Contract (the same as build._build_shards): `run_shards(context, shards, out, run, teacher, on_done)` builds
every shard with `build.write_shard`, calls `on_done(result)` in the driver as each one is published (the
progress record that makes a build resumable), and returns the ShardResults in shard order. Which shards
to build (resume: the verified ones are kept) is decided by build.py before any engine runs.

Design:
- The driver puts the ShardContext (options, decoded sources, depth stage) in the object store once with
  `ray.put`. Workers need no access to the input folders: the sources travel with the context (the same
  hand-over as the local engine, which pickles the context into each worker process once).
- One actor per CPU of the cluster (or, with --gpus-per-worker N, one per N GPUs, each reserving
  `num_gpus=N`), each receiving the context once in its constructor. The driver keeps a queue of shards and
  gives each actor up to IN_FLIGHT shards at a time, collecting results with `ray.wait` and advancing one
  tqdm bar for the whole cluster.
- With --depth model every actor loads its own teacher once (by the same Hub id or folder, so each node
  must reach it; on the GPUs it reserved with `num_gpus=--gpus-per-worker`, found by --device auto) and
  labels the shards it builds: a cluster's GPUs work side by side. Same device and dtype -> the same
  bytes as the local engine, whose single teacher lives in the main process.
- Failures: a shard is a pure function of the options and its spec, and write_shard publishes it in one
  atomic step, so building a shard twice writes the same bytes to the same name: at-least-once is safe,
  and nothing is ever duplicated or left half written. An actor whose process dies is restarted by Ray
  (`max_restarts`), and the shards it held are retried on it (`max_task_retries`); an actor that is gone
  for good is dropped and its shards go back to the queue for the others, up to MAX_ATTEMPTS per shard.
  Python exceptions (a user error, a bug) are not retried: they are deterministic and end the build.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..pipeline.depth import load_teacher
from ..config import RunOptions, TeacherSettings
from ..pipeline.plan import ShardSpec
from ..schema import FG_BG, shard_path
from ..pipeline.shard import ShardContext, shard_composites

INSTALL_HINT = "--engine ray needs Ray: pip install 'mono-depth-mask[ray]' (or pip install 'ray[default]')"
IN_FLIGHT = 2  # shards queued per actor, so an actor never waits for the driver between two shards
MAX_RESTARTS = 4  # restarts of one actor process after it dies (node lost, OOM kill, crash)
MAX_TASK_RETRIES = 3  # retries of a shard on its restarted actor
MAX_ATTEMPTS = 3  # actors a shard may be handed to by the driver before the build fails
# Test hook: a folder of request files named after shards (train-00001-of-00003); the first actor that
# picks up such a shard consumes the request and kills its own process, as a lost node or an OOM kill would.
CRASH_ENV = "MONO_DEPTH_MASK_TEST_CRASH_DIR"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


class ShardWorker:
    """A Ray actor: holds one build's context (and, with --depth model, its own teacher), both loaded
    once, and writes the shards it is given."""

    def __init__(self, context_box: list, teacher: tuple[str, TeacherSettings] | None = None):
        import ray

        # The context comes boxed in a list so that Ray hands over its ObjectRef instead of resolving it:
        # the driver keeps the object alive for the whole build, so a restarted actor can read it again.
        self.context: ShardContext = ray.get(context_box[0])
        # One teacher per actor, on the GPU Ray gave it (--device auto picks it up): a cluster's GPUs
        # label shards side by side instead of queueing behind one model in the driver.
        self.teacher = load_teacher(*teacher) if teacher else None

    def write(self, spec: ShardSpec, out):
        from ..build import write_shard

        _maybe_crash(spec)
        depths = self.teacher.predict(shard_composites(self.context, spec)) if self.teacher else None
        return write_shard(self.context, spec, out, depths)


def _maybe_crash(spec: ShardSpec) -> None:
    folder = os.environ.get(CRASH_ENV)
    if not folder:
        return
    request = Path(folder) / shard_path(FG_BG, spec.split, spec.index, spec.count).split("/")[-1].removesuffix(".parquet")
    try:
        os.rename(request, request.with_suffix(".crashed"))  # only one process wins the rename
    except OSError:
        return
    os._exit(1)


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


def run_shards(context: ShardContext, shards: list[ShardSpec], out: Path | str, run: RunOptions, teacher=None, on_done=None) -> list:
    if not shards:
        return []
    ray, started = connect(run)
    try:
        return _run(ray, context, shards, out, run, teacher, on_done or (lambda result: None))
    finally:
        if started:
            ray.shutdown()


def _run(ray, context: ShardContext, shards: list[ShardSpec], out, run: RunOptions, teacher, on_done) -> list:
    from dataclasses import replace

    from ray.exceptions import RayActorError, RayTaskError

    from ..pipeline.depth import NoDepth

    actor_teacher = None
    if teacher is not None:  # each actor loads its own copy; the driver's model never travels
        context = replace(context, depth=NoDepth())
        actor_teacher = (context.options.depth_model, run.teacher)

    worker_class = ray.remote(ShardWorker).options(
        num_cpus=1,
        num_gpus=run.gpus_per_worker or 0,
        max_restarts=MAX_RESTARTS,
        max_task_retries=MAX_TASK_RETRIES,
    )
    context_ref = ray.put(context)  # once; every actor reads the same copy from its node's object store
    actors = [worker_class.remote([context_ref], actor_teacher) for _ in range(actor_count(ray, run, len(shards)))]
    queue = deque(range(len(shards)))
    attempts = [0] * len(shards)
    results: list = [None] * len(shards)
    pending: dict = {}  # ObjectRef -> (shard position, actor)
    load = {actor: 0 for actor in actors}

    def feed() -> None:
        for actor in list(load):
            while load[actor] < IN_FLIGHT and queue:
                position = queue.popleft()
                attempts[position] += 1
                pending[actor.write.remote(shards[position], out)] = (position, actor)
                load[actor] += 1

    bar = tqdm(total=sum(s.rows for s in shards), unit="sample", desc="fg_bg (ray)", disable=not run.progress, dynamic_ncols=True)
    try:
        with bar:
            feed()
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                position, actor = pending.pop(ready)
                if actor in load:
                    load[actor] -= 1
                try:
                    results[position] = ray.get(ready)
                except RayTaskError as error:  # a Python exception in write_shard: deterministic, not retried
                    cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else error
                    raise cause from None
                except RayActorError:  # the actor is gone for good (restarts and retries spent)
                    load.pop(actor, None)
                    name = shards[position].split, shards[position].index
                    if attempts[position] >= MAX_ATTEMPTS or not load:
                        raise RuntimeError(f"shard {name} failed on {attempts[position]} Ray workers; giving up") from None
                    queue.append(position)
                else:
                    on_done(results[position])
                    bar.update(shards[position].rows)
                feed()
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
    return results
