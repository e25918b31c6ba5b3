"""The scheduling loop, one for every engine: submit the shards, at most `engine.capacity` in flight
(depth maps waiting for a worker do not pile up), each to the worker with the fewest (its lane) from that
worker's own stretch of plan.submission_order (plan.ShardQueues); one progress bar, `on_done(record)` in
this process as each shard is published (the progress record that makes a build resumable), results in
shard order.

With a teacher in this process, a thread composites the next shard while the model labels this one, and
the workers encode and write the shards before it: the device never waits on encoding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Iterator

from ..progress import tqdm

from ..pipeline.plan import ShardQueues, ShardSpec, worker_stretches
from ..pipeline.shard import ShardContext, shard_composites
from . import Engine
from .heap import keep_freed_memory

if TYPE_CHECKING:
    from ..output.manifest import ShardRecord
    from ..pipeline.handover import QuantizedDepth
    from ..pipeline.teacher import DepthTeacher


def run_shards(
    engine: Engine, context: ShardContext, shards: list[ShardSpec], teacher: "DepthTeacher | None" = None,
    progress: bool = True, on_done: Callable[["ShardRecord"], None] = lambda record: None,
) -> list["ShardRecord"]:
    """Build `shards` on `engine`; `teacher`: label each shard here and hand the maps to the workers. The
    first failure cancels the shards not started yet and is raised here."""
    if not shards:
        return []
    # Each worker its own stretch of the shards; with a teacher here, one queue: the maps are made in its order.
    stretches = worker_stretches(context.grid, shards, engine.lanes if teacher is None else 1)
    queues = ShardQueues(stretches)
    results: list = [None] * len(shards)
    bar = tqdm(total=sum(s.rows for s in shards), unit="sample", desc=engine.name, disable=not progress, dynamic_ncols=True)

    def collect() -> None:
        for position, record in engine.wait():
            results[position] = record
            on_done(record)
            bar.update(shards[position].rows)  # samples done: the strict floor rule may have left some out

    with bar:
        try:
            in_order = [shards[position] for stretch in stretches for position in stretch]
            for depths in _depth_maps(context, teacher, in_order, engine.depth_buffer):
                while engine.in_flight >= engine.capacity:
                    collect()
                lane = engine.free_lane()  # chosen once a worker has room, so each takes from its own queue
                position = queues.take(lane)
                engine.submit(position, shards[position], depths, lane)
            while engine.in_flight:
                collect()
        except BaseException:
            engine.close(cancel=True)
            raise
    engine.close(cancel=False)
    return results


def _depth_maps(
    context: ShardContext, teacher: "DepthTeacher | None", shards: list[ShardSpec],
    buffer_for: Callable[[int, int, int], "QuantizedDepth | None"],
) -> Iterator["QuantizedDepth | None"]:
    """The teacher's depth maps of each shard in turn, as stored (None without a teacher here), written
    where the engine asks (`buffer_for(count, height, width)`)."""
    if teacher is None:
        yield from (None for _ in shards)
        return
    keep_freed_memory()  # every shard's composites and maps are as large as the last one's
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        upcoming = prefetch.submit(shard_composites, context, shards[0])
        labelled = None  # the composites before these, labelled: the next shard's are written over them
        for index in range(len(shards)):
            composites = upcoming.result()
            if index + 1 < len(shards):
                upcoming = prefetch.submit(shard_composites, context, shards[index + 1], labelled)
            yield teacher.predict_quantized(composites, into=buffer_for(*composites.shape[:3]), where=shards[index].row_name)
            labelled = composites
