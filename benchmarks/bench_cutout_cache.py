"""One worker's placed cut-outs over a build: how many, how many bytes, and what each shard costs as the
cache fills (and, with a smaller --limit-mb, once it drops entries).

Builds, in this one process and in build order, the shards one worker of a `--workers`-worker build gets:
a random share of the whole plan, since the pool hands each shard to whichever worker is free (every
other shard meets about half the cut-outs: 11,700 after 150 of its 200 shards at 400,000 samples, where
a worker of the real build ends with ~21,000).
Prints every `--every` shards: the mean process CPU of a shard, the cache's size and its misses a shard
(the cut-outs resized from the source).

    python -m benchmarks.bench_cutout_cache                        # the 400,000 build, 1 of 2 workers' shards
    python -m benchmarks.bench_cutout_cache --shards 60 --limit-mb 150
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from generator.config import BuildOptions, DepthPlan
from generator.engines.heap import keep_freed_memory
from generator.pipeline.cutouts import CUTOUTS
from generator.pipeline.moments import DatasetStats
from generator.pipeline.plan import plan_shards
from generator.pipeline.shard import build_table, make_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backgrounds", type=int, default=100)
    parser.add_argument("--foregrounds", type=int, default=100)
    parser.add_argument("--shards", type=int, default=200, help="shards to build (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="the build's workers: this one builds 1/WORKERS of its shards (default %(default)s)")
    parser.add_argument("--every", type=int, default=10, help="print every N shards (default %(default)s)")
    parser.add_argument("--limit-mb", type=int, help="the cache's limit (default: the build's)")
    args = parser.parse_args()

    keep_freed_memory()  # as a worker does
    if args.limit_mb is not None:
        CUTOUTS.limit = args.limit_mb << 20
    options = BuildOptions(demo=True, num_backgrounds=args.backgrounds, num_foregrounds=args.foregrounds)
    context, _ = make_context(options, DepthPlan.of(options), threads=2)
    plan = plan_shards(context.grid, options)
    share = np.sort(np.random.default_rng(0).choice(len(plan), len(plan) // args.workers, replace=False))
    specs = [plan[i] for i in share[: args.shards]]
    print(f"{len(specs)} shards of the {context.grid.total:,}-sample build, cache limit {CUTOUTS.limit >> 20} MB")
    print("shards  CPU/shard  cut-outs  MB  misses/shard")
    cpu, misses = time.process_time(), CUTOUTS.misses
    for done, spec in enumerate(specs, 1):
        build_table(context, spec, DatasetStats())
        if done % args.every == 0 or done == len(specs):
            count = args.every if done % args.every == 0 else done % args.every
            now = time.process_time()
            print(f"{done:6d}  {(now - cpu) / count:8.2f} s  {len(CUTOUTS):8d}  {CUTOUTS.bytes >> 20:3d}  {(CUTOUTS.misses - misses) / count:12.0f}", flush=True)
            cpu, misses = now, CUTOUTS.misses


if __name__ == "__main__":
    main()
