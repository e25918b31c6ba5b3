"""The output folder while a build runs: one build at a time (a lock file), and the leftovers of a killed
build (temporary files) cleaned before the next one starts.

`OUT/.mono-depth-mask.lock` is held with `flock` for the whole build and removed at its end. The kernel
releases the lock when the process dies, however it dies, so a crash never leaves OUT locked: the next build
takes the lock over. The lock file and `.*.tmp` files are never part of the dataset: `UNPUBLISHED` lists
them for whatever uploads OUT (e.g. `ignore_patterns` of `huggingface_hub.upload_folder`).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputError, describe_os_error
from .output.parquet import TEMPORARY_SUFFIX

LOCK = ".mono-depth-mask.lock"
# Glob patterns of files under OUT that are never published (relative to OUT, any folder depth).
UNPUBLISHED = [LOCK, f".*{TEMPORARY_SUFFIX}", f"**/.*{TEMPORARY_SUFFIX}"]


def is_scratch(name: str) -> bool:
    """The lock file or a temporary file: build machinery, not data."""
    return name == LOCK or (name.startswith(".") and name.endswith(TEMPORARY_SUFFIX))


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold OUT's lock for the duration of the block; refuse at once if another build holds it."""
    path = out / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(describe_os_error(error, path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"another build is writing to {out} (it holds {path}); wait for it to finish") from None
        # The holder before us may have removed the file between our open and our flock: then we locked
        # a file nobody else can see. Lock the file that is at the path now instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(fd)


def remove_temporaries(out: Path, folders: list[str]) -> list[Path]:
    """Remove the `.*.tmp` files a killed build left in OUT and in its own `folders` (call with the lock
    held, so no running build's temporaries are removed). Returns what was removed."""
    removed = []
    for folder in [out, *(out / name for name in folders)]:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name != LOCK and is_scratch(path.name) and path.is_file():
                path.unlink()
                removed.append(path)
    return removed
