"""The cut-out cache's misses over a whole build, by shard order and limit: each shard's lookups (one per
distinct size in each (background, foreground, flip) group) found from the placements alone, then replayed
through the real CutoutCache, one per worker.

    python -m benchmarks.cutout_lookups                              # the 400,000-sample demo, 2 workers
    python -m benchmarks.cutout_lookups --limits-mb 32 48 -- --demo --num-backgrounds 20

`stretches` is what builds do (plan.worker_stretches: each worker its own stretch of plan.submission_order),
`submission` that order taken by the workers in turn, `plan` the shards' own order, longest first. At
400,000 samples, taken in turn, 112 misses a shard are each cut-out's first sight in a worker, which no
cache avoids; by stretches a worker meets half the cut-outs (48 MB: 81 misses a shard, 121 in turn).
"""

from __future__ import annotations

import argparse

from generator.pipeline.cutouts import CutoutCache
from generator.pipeline.plan import plan_shards, submission_order, worker_stretches
from generator.pipeline.scene.compose import _on_floor
from generator.pipeline.shard import groups
from generator.rules import FloorMiss

from .common import after_dashes, context_from_flags


def shard_lookups(context, spec) -> list[tuple[int, bool, tuple[int, int]]]:
    """(fg_id, flipped, (w, h)) of each cut-out the shard's floor placements ask the cache for."""
    keys = []
    for group in groups(context.grid, spec.samples):
        foreground, background = context.sources.foregrounds[group.fg_id], context.sources.backgrounds[group.bg_id]
        spots = _on_floor(context.options, background, foreground, group.bg_id, group.fg_id, group.flipped, group.ks)
        keys += [(group.fg_id, group.flipped, size) for size in {(p.w, p.h) for p in spots if not isinstance(p, FloorMiss)}]
    return keys


def misses_a_shard(context, lookups: list[list], built: list[list[int]], limit: int) -> float:
    """Misses a shard when each worker builds its list of `built` shards in turn, with a cache of `limit` bytes."""
    misses = 0
    for shards in built:
        cache = CutoutCache(limit)
        for shard in shards:
            for fg_id, flipped, size in lookups[shard]:
                cache.get(context.sources.foregrounds[fg_id].source, flipped, size, context.options.soft_mask)
        misses += cache.misses
    return misses / sum(map(len, built))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limits-mb", type=int, nargs="+", default=[32, 48, 64])
    parser.add_argument("inputs", nargs=argparse.REMAINDER, help="-- then generate's input options (a floor build)")
    args = parser.parse_args()
    context = context_from_flags(after_dashes(args.inputs) or ["--demo", "--num-backgrounds", "100", "--num-foregrounds", "100"])
    shards = plan_shards(context.grid, context.options)
    lookups = [shard_lookups(context, spec) for spec in shards]
    print(f"{len(shards)} shards, {sum(map(len, lookups)) / len(shards):.0f} lookups a shard, {len({k for keys in lookups for k in keys})} distinct cut-outs")
    taken = {"submission": submission_order(context.grid, shards), "plan": sorted(range(len(shards)), key=lambda i: -shards[i].rows)}
    built = {name: [order[worker :: args.workers] for worker in range(args.workers)] for name, order in taken.items()}
    built["stretches"] = worker_stretches(context.grid, shards, args.workers)
    for name, shards_of in built.items():
        for limit in args.limits_mb:
            print(f"{name:>10} order, {limit:>4} MB: {misses_a_shard(context, lookups, shards_of, limit << 20):.0f} misses a shard", flush=True)


if __name__ == "__main__":
    main()
