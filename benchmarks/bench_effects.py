"""CPU cost per sample of the edge and light options (README, Edges and light): whole shards built by the
generator's own shard builder (composite, effects, depth, encoding, exact statistics, Parquet table) on
the demo, each option set against none, timed with time.process_time in this process (one thread),
alternating the option sets, best of `--repeats` rounds. The first shards are built once untimed so the
resize cache is warm for every option set alike.

    python -m benchmarks.bench_effects                       # 2 demo shards of 1,000 samples, best of 3
    python -m benchmarks.bench_effects --shards 4 --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # like a build's worker processes: one core each

from generator.config import BuildOptions, DepthPlan  # noqa: E402
from generator.pipeline.moments import DatasetStats  # noqa: E402
from generator.pipeline.plan import plan_shards  # noqa: E402
from generator.pipeline.blend import with_mix_modes  # noqa: E402
from generator.pipeline.shard import build_table, make_context  # noqa: E402

NONE = dict(blend="alpha", decontaminate=False, shadow=False, harmonize=False, background_jitter=False)
CASES = {
    "none": {},
    "decontaminate": dict(decontaminate=True),
    "gaussian": dict(blend="gaussian"),
    "box": dict(blend="box"),
    "motion": dict(blend="motion"),
    "poisson": dict(blend="poisson"),
    "mix": dict(blend="mix"),
    "shadow": dict(shadow=True),
    "harmonize": dict(harmonize=True),
    "background-jitter": dict(background_jitter=True),
    "defaults": "defaults",
}


def options_of(case, base: BuildOptions) -> BuildOptions:
    if case == "defaults":
        defaults = BuildOptions()
        return dataclasses.replace(base, **{k: getattr(defaults, k) for k in NONE})
    return with_mix_modes(dataclasses.replace(base, **{**NONE, **case}))


def shard_seconds(options: BuildOptions, shards: int) -> float:
    """CPU seconds to build the first `shards` shards' tables (statistics included)."""
    context, _ = make_context(options, DepthPlan.of(options))
    specs = plan_shards(context.grid, options)[:shards]
    build_table(context, specs[0], DatasetStats())  # warm-up: imports, resize cache
    started = time.process_time()
    for spec in specs:
        build_table(context, spec, DatasetStats())
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    base = BuildOptions(demo=True)
    samples = min(args.shards, len(plan_shards(make_context(base, DepthPlan.of(base))[0].grid, base))) * base.shard_size
    best = {name: float("inf") for name in args.cases}
    for _ in range(args.repeats):
        for name in args.cases:
            best[name] = min(best[name], shard_seconds(options_of(CASES[name], base), args.shards))
    per_sample = {name: seconds / samples * 1e3 for name, seconds in best.items()}
    reference = per_sample.get("none")
    for name, ms in per_sample.items():
        extra = f"  +{ms - reference:.3f} ms, {ms / reference:.2f}x" if reference else ""
        print(f"{name:>18}: {ms:.3f} ms per sample{extra}")
    print(json.dumps({"samples": samples, "ms_per_sample": {k: round(v, 4) for k, v in per_sample.items()}}))


if __name__ == "__main__":
    main()
