"""Shards carry a page index, as datasets' own writer writes them for the Hub: an offset index for every
column and a column index (statistics) for the scalar columns, none for the image bytes; row groups stay
small enough for the dataset viewer."""

from __future__ import annotations

import pyarrow.parquet as pq

from generator.cli import main
from generator.schema import ROW_GROUP_SIZE


def test_every_shard_has_a_page_index(tmp_path):
    out = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--workers", "1",
                 "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    shards = sorted(out.rglob("*.parquet"))
    assert {p.parent.name for p in shards} == {"data", "backgrounds", "foregrounds"}
    for path in shards:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            assert row_group.num_rows <= ROW_GROUP_SIZE
            assert row_group.total_byte_size < 100 * 2**20  # the viewer's limit per row group
            for i in range(row_group.num_columns):
                column = row_group.column(i)
                image = column.path_in_schema.endswith((".bytes", ".path"))
                assert column.has_offset_index, (path, column.path_in_schema)
                assert column.has_column_index == (not image), (path, column.path_in_schema)
                assert column.is_stats_set == (not image)
        if path.parent.name == "data":
            first = metadata.row_group(0).column(metadata.schema.names.index("bg_id")).statistics
            assert first.has_min_max and first.min <= first.max
