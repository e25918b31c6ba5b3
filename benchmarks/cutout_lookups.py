"""The cut-out cache's misses over a whole build, by shard order and limit: each shard's lookups (one per
distinct size in each (background, foreground, flip) group) found from the placements alone, then replayed
through the real CutoutCache, the workers taking the shards in turn.

    python -m benchmarks.cutout_lookups                              # the 400,000-sample demo, 2 workers
    python -m benchmarks.cutout_lookups --limits-mb 32 48 -- --demo --num-backgrounds 20

`submission` is the order builds use (plan.submission_order), `plan` the shards' own order, longest
first. 112 misses a shard at 400,000 samples are each cut-out's first sight in a worker: no cache misses less.
"""

from __future__ import annotations

import argparse

from generator.pipeline.cutouts import CutoutCache
from generator.pipeline.plan import plan_shards, submission_order
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


def misses_a_shard(context, lookups: list[list], order: list[int], workers: int, limit: int) -> float:
    misses = 0
    for worker in range(workers):
        cache = CutoutCache(limit)
        for shard in order[worker::workers]:
            for fg_id, flipped, size in lookups[shard]:
                cache.get(context.sources.foregrounds[fg_id].source, flipped, size, context.options.soft_mask)
        misses += cache.misses
    return misses / len(order)


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
    orders = {"submission": submission_order(context.grid, shards), "plan": sorted(range(len(shards)), key=lambda i: -shards[i].rows)}
    for name, order in orders.items():
        for limit in args.limits_mb:
            print(f"{name:>10} order, {limit:>4} MB: {misses_a_shard(context, lookups, order, args.workers, limit << 20):.0f} misses a shard", flush=True)


if __name__ == "__main__":
    main()
