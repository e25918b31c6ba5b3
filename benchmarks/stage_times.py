"""Where a shard's CPU goes, stage by stage, against the encoding floor (the output encoders alone).

    python -m benchmarks.stage_times                                  # a 10 x 100 demo, shards 9-16
    python -m benchmarks.stage_times --warm 20 --shards 10 -- --demo --num-backgrounds 20

One process builds shards as a worker does (in `plan.submission_order`), the first `--warm` of them to
fill the cut-out cache, then times `--shards` more: each stage's CPU (`time.process_time`), exclusive of
the stages inside it, and the whole shard. Everything after `--` is `generate`'s input options.
"""

from __future__ import annotations

import argparse
import importlib
import time
from contextlib import contextmanager

from .common import after_dashes, warm_worker

# (what, module, attribute): each is timed where the code calls it. The encoders are the floor.
STAGES = [
    ("compose: scenes, placements, cut-outs", "generator.pipeline.shard", "group_scenes", False),
    ("render: blend, visible masks, boxes", "generator.pipeline.shard", "render", False),
    ("depth stage: the object's depth spliced in", "generator.pipeline.depth", "SceneDepth.__call__", False),
    ("JPEG: the changed MCUs encoded", "generator.pipeline.jpeg_splice", "McuCodedJpeg.encode_patch", True),
    ("JPEG: spliced into the background's bytes", "generator.pipeline.jpeg_splice", "CompositeJpeg.to_bytes", True),
    ("JPEG: exact moments (statistics)", "generator.pipeline.jpeg_splice", "CompositeJpeg.moments", False),
    ("depth PNG", "generator.pipeline.depth_splice", "SplicedDepth.png", True),
    ("depth PNG (whole maps)", "generator.pipeline.depth_splice", "PlainDepth.png", True),
    ("mask PNGs", "generator.pipeline.rows.encoder", "encode_png", True),
    ("objects column (boxes, areas, amodal PNGs)", "generator.pipeline.rows.encoder", "object_columns", False),
    ("instance map PNG", "generator.pipeline.rows.objects", "encode_one_label_png", True),
    ("instance map PNG (several objects)", "generator.pipeline.rows.objects", "encode_label_png", True),
    ("Arrow table", "generator.pipeline.shard", "rows_to_table", False),
    ("Parquet write (zstd pages)", "pyarrow.parquet", "ParquetWriter.write_table", True),
]


class StageClock:
    """CPU seconds per stage, each exclusive of the timed stages it calls."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._stack: list[list[float]] = []  # [start, time spent in timed callees]

    def wrap(self, what: str, function):
        def timed(*args, **kwargs):
            self._stack.append([time.process_time(), 0.0])
            try:
                return function(*args, **kwargs)
            finally:
                start, inner = self._stack.pop()
                spent = time.process_time() - start
                self.seconds[what] = self.seconds.get(what, 0.0) + spent - inner
                if self._stack:
                    self._stack[-1][1] += spent

        return timed


@contextmanager
def timed_stages(clock: StageClock):
    originals = []
    for what, module_name, attribute, _ in STAGES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, clock.wrap(what, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


def measure(inputs: list[str], warm: int, count: int) -> tuple[dict[str, float], float, int]:
    """(CPU per stage, CPU of the shards, rows) over `count` shards after `warm` shards."""
    clock = StageClock()
    with warm_worker(inputs, warm, count) as build_the_rest:
        start = time.process_time()
        with timed_stages(clock):
            built = build_the_rest()
        total = time.process_time() - start
    return clock.seconds, total, sum(spec.rows for spec in built)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=8, help="shards built first, untimed (default %(default)s)")
    parser.add_argument("--shards", type=int, default=8, help="shards timed (default %(default)s)")
    parser.add_argument("inputs", nargs=argparse.REMAINDER, help="-- then generate's input options")
    args = parser.parse_args()
    inputs = after_dashes(args.inputs) or ["--demo", "--num-backgrounds", "10", "--num-foregrounds", "100"]
    seconds, total, rows = measure(inputs, args.warm, args.shards)
    shards = max(args.shards, 1)
    floor = sum(seconds.get(what, 0.0) for what, *_, encoder in STAGES if encoder)
    print(f"{'stage':<46} {'CPU a shard':>12} {'share':>7}")
    for what, *_ in STAGES:
        if what in seconds:
            print(f"{what:<46} {seconds[what] / shards:>10.3f} s {100 * seconds[what] / total:>6.1f} %")
    rest = total - sum(seconds.values())
    print(f"{'rest (rows, statistics, Python)':<46} {rest / shards:>10.3f} s {100 * rest / total:>6.1f} %")
    print(f"{'the shard':<46} {total / shards:>10.3f} s   ({rows // shards} rows)")
    print(f"the encoders alone (the floor): {floor / shards:.3f} s a shard, {100 * floor / total:.0f} %")


if __name__ == "__main__":
    main()
