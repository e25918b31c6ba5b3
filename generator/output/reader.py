"""The one shard reader every command on a built dataset goes through (stats, validate, gallery, relabel,
push): a shard's rows read by its manifest path (refused if it leads out of the dataset; a build's fsspec
URL too), the one integrity check ("this file is the shard the manifest lists": its size and sha256), and
the files under the dataset's folders that the manifest does not list (`load_dataset` would read their
rows as data)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UserError
from ..schema import CONFIG_DIRS, FG_BG, MANIFEST
from .folder import is_url, open_input, sha256_file
from .manifest import shard_file
from .model import ShardRecord


def open_shard(root: str | Path, relative: str):
    """A manifest's shard as a binary stream: in OUT (refused if its path leads out of it), or at a URL."""
    return open_input(root, relative) if is_url(str(root)) else open(shard_file(Path(root), relative), "rb")


def read_shard(root: str | Path, relative: str, columns: list[str] | None = None, row_group: int | None = None) -> pa.Table:
    """A shard's rows (its `columns`, or all; one row group, or all). Through ParquetFile, not read_table,
    which would import pandas. pyarrow raises several kinds of error on a damaged file; they pass through."""
    with open_shard(root, relative) as stream:
        stored = pq.ParquetFile(stream)
        return stored.read(columns=columns) if row_group is None else stored.read_row_group(row_group, columns=columns)


def shard_rows(root: str | Path, relative: str) -> int:
    """The rows a shard's footer counts (its pages are not read)."""
    with open_shard(root, relative) as stream:
        return pq.ParquetFile(stream).metadata.num_rows


def shard_problem(out: Path, record: ShardRecord) -> str | None:
    """Why the file at `record.path` is not the shard the manifest lists ("missing", "size differs",
    "sha256 differs", an OS error), or None when it is. The size is compared first: it costs no read."""
    path = shard_file(out, record.path)
    try:
        if not path.is_file():
            return "missing"
        if path.stat().st_size != record.bytes:
            return "size differs"
        if sha256_file(path) != record.sha256:
            return "sha256 differs"
    except OSError as error:
        return os.strerror(error.errno) if error.errno else str(error)
    return None


def verify_shards(out: Path, manifest: dict, shards: list[dict] | None = None) -> None:
    """Refuse a dataset whose shards (all of them, or `shards`) are missing or differ from the manifest's
    size and sha256, in one line naming them: the commands that rewrite a dataset build on its shards."""
    entries = manifest["shards"] if shards is None else shards
    damaged = []
    for entry in entries:
        problem = shard_problem(out, ShardRecord.from_manifest(entry))
        if problem:
            damaged.append(f"{entry['path']} ({problem})")
    if damaged:
        raise UserError(
            f"cannot read {out}: {', '.join(damaged)} do not match {MANIFEST} (damaged since it was written); "
            f"`mono-depth-mask validate {out}` shows the details, and rerunning the `generate` command that built it repairs it"
        )


def intact_shards(out: Path, previous: dict | None, config: str | None = None) -> dict[str, ShardRecord]:
    """The shards of `previous` (of `config`, or all) whose files are still the ones it lists."""
    records = [ShardRecord.from_manifest(entry) for entry in (previous or {}).get("shards", [])]
    return {r.path: r for r in records if (config is None or r.config == config) and shard_problem(out, r) is None}


def reusable_shards(out: Path, previous: dict | None, inputs: dict) -> dict[str, ShardRecord]:
    """The fg_bg shards of a previous build (finished or killed) with the same options and inputs that are
    still intact: the file exists and its size and sha256 are the ones recorded when it was written."""
    if not previous or previous.get("inputs") != inputs:
        return {}
    return intact_shards(out, previous, FG_BG)


def unlisted_files(out: Path, manifest: dict | None, expected: set[str] = frozenset()) -> list[str]:
    """Files under the configs' folders (data/, backgrounds/, foregrounds/) that `manifest` does not list
    and that are not `expected` (what a build is about to write), relative to `out`: `load_dataset` would
    read their rows. Hidden files (temporaries, the lock, a file manager's) are never data."""
    listed = {entry["path"] for entry in (manifest or {}).get("shards", [])} | set(expected)
    found = []
    for folder in CONFIG_DIRS.values():
        root = Path(out) / folder
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            relative = path.relative_to(out).as_posix()
            hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
            if not hidden and not path.is_dir() and relative not in listed:
                found.append(relative)
    return found
