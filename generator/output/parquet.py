"""Stage 6, shard writer: rows to Parquet files with the `datasets` Features embedded, written atomically.

A shard is written to a hidden temporary name in its own folder, flushed to disk and renamed, so a reader
(or a resumed build) never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OutputError, describe_os_error
from ..schema import DICTIONARY_COLUMNS, FEATURES, IMAGE_STORAGE, ROW_GROUP_SIZE

# Every file is written as `.NAME.<random>.tmp` beside its final name, then renamed.
TEMPORARY_SUFFIX = ".tmp"


def rows_to_table(config: str, columns: dict[str, list]) -> pa.Table:
    """Columns in the schema's order and types; `datasets` reads the Features back from the metadata.
    Image columns are given as their encoded bytes (or None)."""
    schema = FEATURES[config].arrow_schema
    arrays = [column_array(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def column_array(values: list, arrow_type: pa.DataType) -> pa.Array:
    if arrow_type == IMAGE_STORAGE:
        return image_array(values)
    return pa.array(values, arrow_type)


def image_array(data: list[bytes | None]) -> pa.StructArray:
    """The storage of a `datasets.Image` column: the bytes, and no path (nothing outside the shard).
    Built from one binary array, several times faster than converting a dict per row."""
    binary = binary_array(data)
    paths = pa.nulls(len(data), pa.string())
    return pa.StructArray.from_arrays([binary, paths], fields=list(IMAGE_STORAGE), mask=binary.is_null())


def binary_array(data: list[bytes | None]) -> pa.BinaryArray:
    """pa.array(data, pa.binary()) without its copy into fresh pool memory (~40 ms for a shard's 16 MB
    of composites): the offsets and one joined buffer, wrapped as they are."""
    if any(value is None for value in data):
        return pa.array(data, pa.binary())
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, data), dtype=np.int64, count=len(data)), out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:  # binary's 32-bit offsets: let pyarrow refuse it
        return pa.array(data, pa.binary())
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(pa.binary(), len(data), buffers)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync and rename it over `path`, on failure
    remove it. A failed write (disk full, file-size limit, no permission) becomes one `OutputError`
    naming `path`; a killed process leaves only a `.NAME.*.tmp` file, which the next build removes."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
        os.close(handle)
        temporary = Path(name)
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); published files get the usual mode under the umask.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(error, OSError):
            raise OutputError(describe_os_error(error, path)) from None
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: toggling the umask later could race with threads creating files.
_UMASK = _read_umask()


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


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
