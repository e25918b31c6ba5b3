"""A shard is built and written a row group at a time: the file's bytes are those of its whole table written
at once (the footer's Arrow size included), and a worker never holds more than a row group and one
(background, foreground, flip) group of rows."""

from __future__ import annotations

import random

import pytest

from benchmarks.common import context_from_flags
from generator.output.parquet import TableSize, values_nbytes, write_row_groups, write_table
from generator.pipeline import shard
from generator.pipeline.plan import plan_shards
from generator.pipeline.table import rows_to_table
from generator.schema import FG_BG, ROW_GROUP_SIZE

SMALL = ["--demo", "--num-backgrounds", "2", "--num-foregrounds", "4", "--bg-size", "64", "--placements", "20", "--shard-size", "250"]


def _context(*flags: str):
    context = context_from_flags([*SMALL, *flags])
    return context, plan_shards(context.grid, context.options)


@pytest.fixture(scope="module")
def several_objects():
    """A shard's columns with several objects and distractors (lists of records, amodal PNGs), and nulls
    in every kind of column."""
    context, shards = _context("--objects", "1-3", "--distractors", "1")
    columns = shard.build_rows(context, shards[0])
    rng = random.Random(0)
    for name in ("image", "depth", "depth_known", "objects", "bbox", "name", "flipped", "x", "scale"):
        for row in rng.sample(range(len(columns[name])), 7):
            columns[name][row] = None
    return columns


def _cut(columns: dict[str, list], bounds: list[int]) -> list[dict[str, list]]:
    return [{name: values[a:b] for name, values in columns.items()} for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("bounds", [[0, 250], [0, 100, 200, 250], [0, 1, 2, 99, 250], [0, 0, 250]], ids=str)
def test_the_size_of_the_parts_added_up_is_the_whole_tables(several_objects, bounds):
    size = TableSize()
    for part in _cut(several_objects, bounds):
        size.add(rows_to_table(FG_BG, part))
    assert size.nbytes == values_nbytes(rows_to_table(FG_BG, several_objects))


def test_nothing_added_is_the_size_of_the_empty_table(several_objects):
    empty = {name: [] for name in several_objects}
    size = TableSize()
    size.add(rows_to_table(FG_BG, empty))
    assert size.nbytes == values_nbytes(rows_to_table(FG_BG, empty)) == 0


def test_a_file_written_a_row_group_at_a_time_is_the_whole_tables_bytes(several_objects, tmp_path):
    write_table(rows_to_table(FG_BG, several_objects), tmp_path / "whole.parquet", FG_BG)
    parts = (rows_to_table(FG_BG, part) for part in _cut(several_objects, [0, 100, 200, 250]))
    write_row_groups(parts, tmp_path / "parts.parquet", FG_BG)
    assert (tmp_path / "parts.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_an_empty_shard_written_a_row_group_at_a_time_is_the_empty_tables_bytes(several_objects, tmp_path):
    empty = {name: [] for name in several_objects}
    write_table(rows_to_table(FG_BG, empty), tmp_path / "whole.parquet", FG_BG)
    write_row_groups(iter([rows_to_table(FG_BG, empty)]), tmp_path / "parts.parquet", FG_BG)
    assert (tmp_path / "parts.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_a_shard_comes_a_row_group_at_a_time_holding_at_most_one_more_group(monkeypatch):
    context, shards = _context()
    held = []
    encode_rows = shard.encode_rows

    def counted(options, drawn, depths, background, columns, *rest):
        encode_rows(options, drawn, depths, background, columns, *rest)
        held.append(len(columns["name"]))

    monkeypatch.setattr(shard, "encode_rows", counted)
    rows = len(shards[0].samples)
    assert rows > ROW_GROUP_SIZE and rows % ROW_GROUP_SIZE
    sizes = [len(group["name"]) for group in shard.row_groups(context, shards[0])]
    assert sizes == [ROW_GROUP_SIZE] * (rows // ROW_GROUP_SIZE) + [rows % ROW_GROUP_SIZE]
    group = 20  # one (background, foreground, flip) group: --placements
    assert max(held) <= ROW_GROUP_SIZE - 1 + group and max(held) >= ROW_GROUP_SIZE
