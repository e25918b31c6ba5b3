"""Rows to an Arrow table in the dataset's schema (the `datasets` Features ride along in its metadata).

The arrays are assembled from their buffers (numpy for numbers, pyarrow's string builder for text, one
buffer of the exact size for bytes) rather than with `pa.array`: `pa.array` imports pandas the first time it runs, to ask whether its
input is a pandas object, and that import is most of the cost of a small build's table.
tests/test_fast_paths.py checks every column type against `pa.array`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..schema import ARROW_SCHEMAS, IMAGE_STORAGE

_NUMPY = {pa.int32(): np.int32, pa.int64(): np.int64, pa.float32(): np.float32, pa.float64(): np.float64}


def rows_to_table(config: str, columns: dict[str, list]) -> pa.Table:
    """Columns in the schema's order and types; `datasets` reads the Features back from the metadata.
    Image columns are given as their encoded bytes (or None)."""
    schema = ARROW_SCHEMAS[config]
    arrays = [column_array(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def column_array(values: list, arrow_type: pa.DataType) -> pa.Array:
    """What `pa.array(values, arrow_type)` gives, for the types of the schema; None is null."""
    if arrow_type == IMAGE_STORAGE:
        return image_array(values)
    if arrow_type == pa.string():
        return _text(values)
    if arrow_type == pa.binary():
        return _binary(values)
    if arrow_type == pa.bool_():
        return pa.Array.from_buffers(arrow_type, len(values), [*_validity(values), _bits([bool(v) for v in values])])
    if pa.types.is_fixed_size_list(arrow_type):
        return _fixed_size_lists(values, arrow_type)
    if arrow_type in _NUMPY:
        numbers = np.array([0 if v is None else v for v in values], _NUMPY[arrow_type])
        return pa.Array.from_buffers(arrow_type, len(values), [*_validity(values), pa.py_buffer(numbers)])
    if pa.types.is_list(arrow_type):
        return _record_lists(values, arrow_type)
    raise TypeError(f"no column builder for {arrow_type}")


def image_array(data: list[bytes | None]) -> pa.StructArray:
    """The storage of a `datasets.Image` column: the bytes, and no path (nothing outside the shard).
    Built from one binary array, several times faster than converting a dict per row."""
    binary = _binary(data)
    paths = pa.nulls(len(data), pa.string())
    validity = [None] if binary.null_count == 0 else [binary.buffers()[0]]
    return pa.Array.from_buffers(IMAGE_STORAGE, len(data), validity, children=[binary, paths])


def _record_lists(values: list, arrow_type: pa.ListType) -> pa.Array:
    """A list of records (dicts) per row, each field built by column_array (pa.array would import pandas)."""
    records = [record for row in values if row is not None for record in row]
    struct = arrow_type.value_type
    fields = [column_array([r[f.name] for r in records], f.type) for f in struct]
    offsets = np.cumsum([0] + [0 if row is None else len(row) for row in values], dtype=np.int32)
    nulls = [row is None for row in values]
    mask = pa.Array.from_buffers(pa.bool_(), len(values), [None, _bits(nulls)]) if any(nulls) else None
    starts = pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)])
    return pa.ListArray.from_arrays(starts, pa.StructArray.from_arrays(fields, fields=list(struct)), arrow_type, mask=mask)


def _text(values: list) -> pa.Array:
    """Strings, through pyarrow's builder."""
    builder = pa.lib.StringBuilder()
    builder.append_values(values)
    return builder.finish()


_MAX_BINARY_BYTES = 2**31 - 1  # a binary array's offsets are int32


def _binary(values: list) -> pa.Array:
    """Bytes (or None), copied once into one buffer of their exact total size. A builder grows its buffer
    by doubling and copies it at each step and when it finishes: for a shard's image columns (tens of MB)
    that held two to three times the column at once, a worker's largest allocation. The buffer comes from
    pyarrow's pool, which keeps its pages from shard to shard (fresh pages from the kernel for every
    shard's columns cost more than the copy)."""
    lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > _MAX_BINARY_BYTES:
        raise OverflowError(f"a binary column of {offsets[-1]} bytes is past Arrow's {_MAX_BINARY_BYTES}: write smaller shards")
    data = pa.allocate_buffer(int(offsets[-1]))
    view = memoryview(data).cast("B")
    for value, start, stop in zip(values, offsets[:-1].tolist(), offsets[1:].tolist()):
        if value is not None:
            view[start:stop] = value
    return pa.Array.from_buffers(pa.binary(), len(values), [*_validity(values), pa.py_buffer(offsets.astype(np.int32)), data])


def _fixed_size_lists(values: list, arrow_type: pa.FixedSizeListType) -> pa.Array:
    size = arrow_type.list_size
    flat = [x for v in values for x in (v if v is not None else [None] * size)]  # null items, as pa.array has them
    if len(flat) != size * len(values):
        raise ValueError(f"a value of a {arrow_type} column has not {size} items")
    items = column_array(flat, arrow_type.value_type)
    return pa.Array.from_buffers(arrow_type, len(values), _validity(values), children=[items])


def _validity(values: list) -> list[pa.Buffer | None]:
    """The validity bitmap as a one-item buffer list: [None] when nothing is null."""
    valid = [v is not None for v in values]
    return [None] if all(valid) else [_bits(valid)]


def _bits(flags: list[bool]) -> pa.Buffer:
    return pa.py_buffer(np.packbits(np.array(flags, dtype=bool), bitorder="little"))
