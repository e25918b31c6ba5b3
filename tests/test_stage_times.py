"""benchmarks/stage_times finds every stage it names and accounts for no more time than the shards took."""

from __future__ import annotations

from benchmarks.stage_times import STAGES, measure

TINY = ["--demo", "--num-backgrounds", "2", "--num-foregrounds", "3", "--bg-size", "64", "--placements", "4", "--shard-size", "8"]


def test_stage_times_time_the_stages_a_shard_runs():
    seconds, total, rows = measure(TINY, warm=1, count=2)
    assert rows == 16
    named = {what for what, *_ in STAGES}
    assert set(seconds) <= named
    # Every stage a floor build with one object runs was found and timed.
    assert named - set(seconds) <= {"depth PNG (whole maps)", "instance map PNG (several objects)"}
    assert all(value >= 0 for value in seconds.values()) and sum(seconds.values()) <= total
