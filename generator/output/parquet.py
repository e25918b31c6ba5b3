"""Shard writer: an Arrow table to a Parquet file with the `datasets` Features embedded, written atomically
(output/folder.py: a hidden temporary file beside the target, fsync, rename), so a reader or a resumed build
never sees half a file.

Written with a page index, as `datasets`' own ParquetWriter (datasets/arrow_writer.py) writes for the Hub:
the offset index and a column index (from statistics of the scalar columns), so the dataset viewer reads
any row group page by page.

Not written with content-defined chunking of the pages (datasets >= 4.1's default, pyarrow >= 21), because
measured here (`python -m benchmarks.bench_dedup`, figures in benchmarks/README.md) it gives larger files
and no fewer new chunks to send after a background is replaced, a foreground added or a relabel. Our row
groups are a fixed 100 rows, so
unchanged rows already give unchanged pages; CDC cuts the pages smaller, which zstd compresses worse.
CDC_OPTIONS turns it on (pyarrow >= 21)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import ARROW_SCHEMAS, DICTIONARY_COLUMNS, ROW_GROUP_SIZE
from .folder import atomic_path

ZSTD_LEVEL = 3
# Footer key holding the Arrow table's in-memory size, which `datasets` calls a split's num_bytes: the card
# sums it from the footers without reading any data.
ARROW_NBYTES_KEY = "mono_depth_mask.arrow_nbytes"
# None: fixed-size pages (see above). datasets.config.DEFAULT_CDC_OPTIONS would be
# {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}.
CDC_OPTIONS: dict | None = None


def scalar_columns(schema: pa.Schema) -> list[str]:
    """Leaf paths of the columns that are not image structs: ids, flags, positions, depth ranges, names,
    and the same fields of records in lists (`objects`). These get statistics (min/max per page, the
    column index); image bytes do not, since a min/max of JPEG bytes is useless and costs space in every
    page header."""
    return [path for field in schema for path in _scalar_paths(field.name, field.type)]


def _scalar_paths(path: str, kind: pa.DataType) -> list[str]:
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        return [p for child in kind.value_type for p in _scalar_paths(f"{path}.list.element.{child.name}", child.type)]
    if pa.types.is_struct(kind):
        return []
    if pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind):
        return [f"{path}.list.element"]
    return [path]


def values_nbytes(table: pa.Table) -> int:
    """The table's Arrow size without the validity bitmaps of columns that hold no null. pyarrow counts such
    a bitmap when one is allocated, which depends on where the table came from (Parquet's reader allocates
    some, a table built in memory none), so this is the size that is the same for the same values: a shard
    read back and rewritten with the same values (relabel-depth with the same teacher) keeps its bytes."""
    return sum(chunk.nbytes - _unneeded_bitmaps(chunk) for column in table.columns for chunk in column.chunks)


def _unneeded_bitmaps(array: pa.Array) -> int:
    bitmap = array.buffers()[0]
    own = bitmap.size if bitmap is not None and array.null_count == 0 and array.offset == 0 else 0
    kind = array.type
    if pa.types.is_struct(kind):
        children = [array.field(i) for i in range(kind.num_fields)]
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        children = [array.values]
    else:
        children = []
    return own + sum(_unneeded_bitmaps(child) for child in children)


@dataclass
class _Node:
    """One array of the type tree, over every part added: its length, whether it has a null, its values'
    bytes (binary and strings), whether its validity is its first child's (image structs)."""

    kind: pa.DataType
    length: int = 0
    has_null: bool = False
    data: int = 0
    shares_validity: bool = False

    @property
    def nbytes(self) -> int:
        kind, length = self.kind, self.length
        bitmap = (length + 7) // 8 if self.has_null and not self.shares_validity and not pa.types.is_null(kind) else 0
        if pa.types.is_binary(kind) or pa.types.is_string(kind):
            return bitmap + 4 * length + self.data
        if pa.types.is_list(kind):
            return bitmap + 4 * length
        if pa.types.is_boolean(kind):
            return bitmap + (length + 7) // 8
        if pa.types.is_primitive(kind):
            return bitmap + length * kind.bit_width // 8
        return bitmap  # structs and fixed-size lists: their children hold the values


class TableSize:
    """values_nbytes of the table that tables built in the dataset's schema (pipeline/table.py) make when
    put together, one chunk a column, kept as they are added so that the whole never has to be held. Each
    array of the tree adds its own terms, as pyarrow counts them (`Array.nbytes`): a validity bitmap where
    it has a null, a 4-byte offset a value for binary and lists, the values' bits or bytes."""

    def __init__(self):
        self._nodes: dict[tuple, _Node] = {}  # by path in the type tree

    def add(self, table: pa.Table) -> None:
        for index, column in enumerate(table.columns):
            for chunk in column.chunks:
                self._add((index,), chunk)

    def _add(self, path: tuple, array: pa.Array) -> None:
        node = self._nodes.setdefault(path, _Node(array.type))
        node.length += len(array)
        node.has_null = node.has_null or array.null_count > 0
        kind = array.type
        # Children are sliced by hand: flatten() would import pyarrow.compute, which a small build avoids.
        if pa.types.is_binary(kind) or pa.types.is_string(kind):
            first, last = _offset_range(array)
            node.data += last - first
        elif pa.types.is_struct(kind):
            # pyarrow counts a buffer once within an array: an image struct's validity is its bytes' (table.py).
            node.shares_validity = node.shares_validity or _shares_validity(array, array.field(0))
            for child in range(kind.num_fields):
                self._add((*path, child), array.field(child))
        elif pa.types.is_list(kind):
            first, last = _offset_range(array)
            self._add((*path, 0), array.values.slice(first, last - first))
        elif pa.types.is_fixed_size_list(kind):
            self._add((*path, 0), array.values.slice(array.offset * kind.list_size, len(array) * kind.list_size))

    @property
    def nbytes(self) -> int:
        return sum(node.nbytes for node in self._nodes.values())


def _offset_range(array: pa.Array) -> tuple[int, int]:
    """The first and last of the 32-bit offsets of a binary or list array's values."""
    if not len(array):
        return 0, 0
    offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, 4 * array.offset)
    return int(offsets[0]), int(offsets[-1])


def _shares_validity(array: pa.Array, child: pa.Array) -> bool:
    own, childs = array.buffers()[0], child.buffers()[0]
    return own is not None and childs is not None and own.address == childs.address


def arrow_nbytes(source) -> int | None:
    """The in-memory Arrow size of a shard's table, from its footer (None for a shard written without it).
    `source`: a path or a readable binary stream."""
    value = (pq.read_metadata(source).metadata or {}).get(ARROW_NBYTES_KEY.encode())
    return int(value) if value is not None else None


def write_table(table: pa.Table, path: Path, config: str) -> None:
    # The canonical schema, always: a table read back from Parquet names its list items differently
    # ("element"), which would change the file's bytes though not its values. (A table built in this
    # schema needs no cast, nor an import of pyarrow.compute.)
    if not table.schema.equals(ARROW_SCHEMAS[config], check_metadata=True):
        table = table.cast(ARROW_SCHEMAS[config])
    _write([table], lambda: values_nbytes(table), path, config)


def write_row_groups(tables: Iterable[pa.Table], path: Path, config: str) -> None:
    """Tables built in the config's schema (pipeline/table.py), each of ROW_GROUP_SIZE rows but the last,
    written one after another as the file's row groups: the bytes of write_table of them all as one table,
    with one row group held at a time instead of the whole shard (its rows, then its table, each several
    times a row group)."""
    size = TableSize()

    def counted() -> Iterator[pa.Table]:
        for table in tables:
            size.add(table)
            yield table

    _write(counted(), lambda: size.nbytes, path, config)


def _write(tables: Iterable[pa.Table], nbytes: Callable[[], int], path: Path, config: str) -> None:
    """The tables (in the config's schema) as a Parquet file's row groups, and `nbytes()`, asked once they
    are written, in the footer."""
    schema = ARROW_SCHEMAS[config]
    with atomic_path(path) as temporary:
        with pq.ParquetWriter(
            temporary,
            schema,
            # Image bytes are unique per row: dictionary-encoding them costs time for nothing. The
            # background repeats, so it is dictionary-encoded and stored once per row group.
            use_dictionary=DICTIONARY_COLUMNS[config] or False,
            # zstd on already-compressed images still pays: composites of one background share long
            # identical JPEG/PNG byte runs (everything above the foreground), which zstd finds within a
            # page. Level 3: a third smaller than no compression, for little time (bench_pipeline.py).
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            write_statistics=scalar_columns(schema),
            write_page_index=True,
            **({"use_content_defined_chunking": CDC_OPTIONS} if CDC_OPTIONS else {}),
        ) as writer:
            for table in tables:
                if table.num_rows:  # no row group at all where the strict floor rule left every sample out:
                    writer.write_table(table, row_group_size=ROW_GROUP_SIZE)  # `datasets` cannot read an empty one
            writer.add_key_value_metadata({ARROW_NBYTES_KEY: str(nbytes())})
            if CDC_OPTIONS:
                # The same key datasets writes, so tools can tell how the pages were cut.
                writer.add_key_value_metadata({"content_defined_chunking": json.dumps(CDC_OPTIONS)})
