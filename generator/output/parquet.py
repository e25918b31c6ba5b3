"""Shard writer: an Arrow table to a Parquet file with the `datasets` Features embedded, written atomically
(output/folder.py: a hidden temporary file beside the target, fsync, rename), so a reader or a resumed build
never sees half a file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import DICTIONARY_COLUMNS, FEATURES, ROW_GROUP_SIZE
from .folder import atomic_path

ZSTD_LEVEL = 3


def write_table(table: pa.Table, path: Path, config: str) -> None:
    # The canonical schema, always: a table read back from Parquet names its list items differently
    # ("element"), which would change the file's bytes though not its values.
    table = table.cast(FEATURES[config].arrow_schema)
    with atomic_path(path) as temporary:
        pq.write_table(
            table,
            temporary,
            row_group_size=ROW_GROUP_SIZE,
            # Image bytes are unique per row: dictionary-encoding them costs time for nothing. The
            # background repeats, so it is dictionary-encoded and stored once per row group.
            use_dictionary=DICTIONARY_COLUMNS[config] or False,
            # zstd on already-compressed images still pays: composites of one background share long
            # identical JPEG/PNG byte runs (everything above the foreground), which zstd finds within a
            # page. Level 3: a third smaller than no compression, for ~0.2 ms per row (bench_pipeline.py).
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            write_statistics=False,
        )
