"""What more than one benchmark needs."""

from __future__ import annotations

import io
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def after_dashes(remainder: list[str]) -> list[str]:
    """An argparse REMAINDER without the `--` that leads it."""
    return remainder[1:] if remainder[:1] == ["--"] else remainder


def context_from_flags(flags: list[str]):
    """The ShardContext of `generate`'s input flags, as a build makes it (no output)."""
    from generator.cli import generate_options, parser
    from generator.config import DepthPlan
    from generator.pipeline.shard import make_context

    options, run = generate_options(parser().parse_args(["generate", *flags, "--out", "unused"]))
    return make_context(options, DepthPlan.of(options, run.teacher, run.engine))[0]


@contextmanager
def warm_worker(inputs: list[str], warm: int, count: int):
    """A worker's shard loop as `generate`'s input flags make it: the first `warm` shards of the worker's
    order (`plan.submission_order`) built, into a temporary folder; yields a function that builds the
    `count` after them and returns their specs."""
    from generator.engines.heap import keep_freed_memory
    from generator.engines.job import write_shard
    from generator.pipeline.plan import plan_shards, submission_order

    context = context_from_flags(inputs)
    keep_freed_memory()
    shards = plan_shards(context.grid, context.options)
    order = [shards[i] for i in submission_order(context.grid, shards)][: warm + count]

    with tempfile.TemporaryDirectory() as out:
        for spec in order[:warm]:
            write_shard(context, spec, out)

        def build_the_rest() -> list:
            for spec in order[warm:]:
                write_shard(context, spec, out)
            return order[warm:]

        yield build_the_rest


def decoded_samples(out: Path, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(composite, mask, depth float) arrays of `count` rows spread evenly over the whole dataset (every
    background and foreground weighs in, as in the pipeline), as the pipeline had them."""
    files = [pq.ParquetFile(path) for path in sorted((out / "data").glob("*.parquet"))]
    groups = [(f, g) for f in files for g in range(f.metadata.num_row_groups)]
    per_group = -(-count // len(groups))
    samples = []
    for file, group in groups:
        table = file.read_row_group(group, columns=["image", "mask", "depth", "depth_min", "depth_max"]).slice(0, per_group)
        for row in table.to_pylist():
            image = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])))
            mask = np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"])))
            png = np.asarray(Image.open(io.BytesIO(row["depth"]["bytes"])), dtype=np.float32)
            depth = row["depth_min"] + png / 65535 * (row["depth_max"] - row["depth_min"])
            samples.append((image, mask, depth.astype(np.float32)))
    return samples[:count]
