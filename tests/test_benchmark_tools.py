"""The benchmarks behind the performance figures run: stage_times finds every stage it names and accounts
for no more time than the shards took; cutout_lookups replays a build's lookups through the real cache;
native_share sorts py-spy's native stacks by the code that ran."""

from __future__ import annotations

from benchmarks.cutout_lookups import misses_a_shard, shard_lookups
from benchmarks.native_share import PYTHON, build, shares
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


def test_native_share_counts_each_sample_for_the_code_that_ran():
    shard = "<module> (loop.py:15);encode_rows (generator/pipeline/rows/encoder.py:47)"
    raw = "\n".join([
        f"{shard};grey_png (generator/pipeline/encode.py:193);0x7f01 (deflate/_deflate.abi3.so) 6",
        f"{shard};Image.frombytes (PIL/Image.py:961);0x5601 (?);0x7f02 (libjpeg-6dc8d115.so.62.4.0) 2",
        # a copy numpy asked libc for is numpy's; an allocation the interpreter asked for is the interpreter's
        f"{shard};scanlines (generator/pipeline/encode.py:175)"
        ";_contig_to_contig (numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so);0x7f03 (libc.so.6) 4",
        f"{shard};_chunk (generator/pipeline/encode.py:200);malloc (libc.so.6) 3",
        f"{shard} 1",
        f"{shard};crop (PIL/Image.py:1412);paste (Paste.c:58) 2",
        f"{shard};_chunk (generator/pipeline/encode.py:200);zlib_crc32 (zlibmodule.c.h:824) 2",
    ])
    found = shares(raw)
    assert found == {
        "encoders and decoders (bytes fixed)": 8 / 20,
        "numpy": 4 / 20,
        PYTHON: 6 / 20,
        "PIL's C (paste, resize, histogram, fill)": 2 / 20,
    }


def test_native_share_times_the_shards_after_the_warm_ones():
    assert build(TINY, warm=1, count=2, wait=False) > 0
