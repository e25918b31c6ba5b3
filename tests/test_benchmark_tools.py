"""The benchmarks behind the performance figures run: stage_times finds every stage it names and accounts
for no more time than the shards took; cutout_lookups replays a build's lookups through the real cache."""

from __future__ import annotations

from benchmarks.cutout_lookups import misses_a_shard, shard_lookups
from benchmarks.stage_times import STAGES, measure
from benchmarks.common import context_from_flags
from generator.pipeline.plan import plan_shards

TINY = ["--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "64", "--placements", "4", "--shard-size", "8"]


def test_stage_times_time_the_stages_a_shard_runs():
    seconds, total, rows = measure(TINY, warm=1, count=2)
    assert rows == 16
    named = {what for what, *_ in STAGES}
    assert set(seconds) <= named
    # Every stage a floor build with one object runs was found and timed.
    assert named - set(seconds) <= {"depth PNG (whole maps)", "instance map PNG (several objects)"}
    assert all(value >= 0 for value in seconds.values()) and sum(seconds.values()) <= total


def test_cutout_lookups_replays_each_shards_sizes_through_the_cache():
    context = context_from_flags(TINY)
    shards = plan_shards(context.grid, context.options)
    lookups = [shard_lookups(context, spec) for spec in shards]
    distinct = len({key for keys in lookups for key in keys})
    order = list(range(len(shards)))
    assert misses_a_shard(context, lookups, [order], 1 << 30) * len(shards) == distinct  # each first sight only
    assert misses_a_shard(context, lookups, [order], 0) * len(shards) == sum(map(len, lookups))  # no cache: all
