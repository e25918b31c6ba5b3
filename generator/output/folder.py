"""Where a dataset is written, behind one interface: a local folder or any fsspec URL (file://, a shared
file system, s3://, gs://, ...). `OutputFolder` answers "may this build write here?" (`check`, `prepare`),
holds the build's lock and publishes every file whole.

Every output file is written whole and then published in one step, so a reader, a resumed build or a
retried worker never sees half a file:

- local folder: a hidden temporary file beside the target, fsync, rename (`atomic_path`);
- URL: the file is written completely to a local temporary folder, then uploaded. Object stores
  (s3, gs, az, ...) make a single put visible all at once; on other file systems (file://, sftp, hdfs, ...)
  it is put under a hidden temporary name in the target folder and moved over the target.

The fg_bg shards go straight to their destination from whichever worker built them. The driver writes
the small files (input configs, manifest, card) into a local staging folder with the same code as for a
local build and uploads them at the end, the manifest and the card last.

`OUT/.mono-depth-mask.lock` is held for the whole build (lock.py). The lock file and `.*.tmp` files are
never part of the dataset (`UNPUBLISHED`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from ..errors import OutputError, UserError, describe_os_error
from .lock import LOCK, build_lock  # noqa: F401  (build_lock: imported from here by the commands)

# Every file is written as `.NAME.<random>.tmp` beside its final name, then renamed.
TEMPORARY_SUFFIX = ".tmp"
# Glob patterns of files under OUT that are never published (relative to OUT, any folder depth).
UNPUBLISHED = [LOCK, f".*{TEMPORARY_SUFFIX}", f"**/.*{TEMPORARY_SUFFIX}"]
# Protocols where one put of a completed file is atomic: no temporary name and rename needed.
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "oci", "r2", "memory"}


# --- one file, published whole ------------------------------------------------------------------------


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync and rename it over `path`, on failure
    remove it. A failed write (disk full, file-size limit, no permission) becomes one `OutputError`
    naming `path`; a killed process leaves only a `.NAME.*.tmp` file, which the next build removes."""
    # The name is chosen before the file exists, so an interrupt (SIGTERM raises KeyboardInterrupt at
    # any bytecode) that lands while the file is being created still finds it to remove.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}{TEMPORARY_SUFFIX}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        # Created private (0600) until whole; published files get the usual mode under the umask.
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException as error:
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


# --- one folder, replaced whole -------------------------------------------------------------------------


def _aside(target: Path, role: str) -> Path:
    return target.with_name(f".{target.name}.{role}")


def replace_folder(target: Path, fill: Callable[[Path], object]) -> None:
    """Fill a new folder beside `target`, then swap it in: the old one is moved aside, the new one renamed
    in, the old one removed. A kill at any moment leaves a state `repair_folder_swap` sets right: the old
    folder is only moved aside once the new one is complete."""
    repair_folder_swap(target)
    new, old = _aside(target, "new"), _aside(target, "old")
    new.mkdir(parents=True)
    try:
        fill(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def repair_folder_swap(target: Path) -> None:
    """Finish or undo a `replace_folder` that was killed: a new folder beside an old one moved aside is
    complete and goes in; a new folder without one was still being filled and goes; an old one moved aside
    goes back if nothing replaced it, else it goes."""
    new, old = _aside(target, "new"), _aside(target, "old")
    if not (new.exists() or old.exists()):
        return
    if old.is_dir() and new.is_dir() and not target.exists():
        os.replace(new, target)
    if old.is_dir() and not target.exists():
        os.replace(old, target)
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)


# --- local folder or URL -------------------------------------------------------------------------


def is_url(out: str | Path) -> bool:
    return "://" in str(out)


def filesystem(url: str):
    """(fsspec filesystem, root path inside it) of a URL."""
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)
    except (ImportError, ValueError) as error:
        raise UserError(f"--out {url}: {error}") from None


def _protocols(fs) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def upload(fs, local: Path, remote: str) -> None:
    """Publish a completed local file at `remote` in one step."""
    parent = str(PurePosixPath(remote).parent)
    if _protocols(fs) & ATOMIC_PUT:
        fs.put_file(str(local), remote)
        return
    fs.makedirs(parent, exist_ok=True)
    temporary = f"{parent}/.{PurePosixPath(remote).name}.{uuid.uuid4().hex}.tmp"
    fs.put_file(str(local), temporary)
    try:
        fs.mv(temporary, remote)
    except BaseException:
        if fs.exists(temporary):
            fs.rm(temporary)
        raise


def write_file(out: str | Path, relative: str, write: Callable[[Path], None]) -> tuple[int, str]:
    """Write one output file at `out/relative` with `write(path)` and publish it atomically; returns its
    size in bytes and sha256."""
    if not is_url(out):
        path = Path(out) / relative
        write(path)
        return path.stat().st_size, sha256_file(path)
    fs, root = filesystem(str(out))
    with tempfile.TemporaryDirectory(prefix="mono-depth-mask-") as folder:
        local = Path(folder) / PurePosixPath(relative).name
        write(local)
        size, digest = local.stat().st_size, sha256_file(local)
        upload(fs, local, f"{root.rstrip('/')}/{relative}")
    return size, digest


def open_input(root: str | Path, relative: str):
    """A readable binary stream of ROOT/relative, ROOT a folder or an fsspec URL."""
    if is_url(root):
        fs, path = filesystem(f"{str(root).rstrip('/')}/{relative}")
        return fs.open(path, "rb")
    return open(Path(root) / relative, "rb")


def check_engine(out: str | Path, engine: str, workers: int) -> None:
    """memory:// lives inside one process: only a single-process local build can write to it."""
    if is_url(out):
        fs, _ = filesystem(str(out))
        if "memory" in _protocols(fs) and (engine != "local" or workers > 1):
            raise UserError("a memory:// --out lives in one process: use --engine local --workers 1, or a shared URL")


class OutputFolder:
    """The output of one build. `shards` is where workers write fg_bg shards (the folder or the URL);
    `local` is a local folder for the driver's own files (the folder itself, or a staging folder that
    `publish` uploads to the URL)."""

    def __init__(self, out: str | Path):
        self.url = str(out) if is_url(out) else None
        self.shards: str | Path = self.url or Path(out)
        self._staging: tempfile.TemporaryDirectory | None = None
        self.local = Path(out) if self.url is None else self._make_staging()

    def _make_staging(self) -> Path:
        self._staging = tempfile.TemporaryDirectory(prefix="mono-depth-mask-staging-")
        return Path(self._staging.name)

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, *exc) -> None:
        if self._staging is not None:
            self._staging.cleanup()

    @property
    def target(self) -> str | Path:
        """What the user named: the folder, or the URL."""
        return self.url or self.local

    def publish(self) -> None:
        """Upload the driver's files to the URL: input configs first, then the card, then the manifest."""
        if self.url is None:
            return
        from ..schema import CARD, MANIFEST

        fs, root = filesystem(self.url)
        last = {CARD: 1, MANIFEST: 2}  # the manifest says the dataset is complete: it goes up last
        files = sorted((p for p in self.local.rglob("*") if p.is_file()), key=lambda p: (last.get(p.name, 0), str(p)))
        for path in files:
            upload(fs, path, f"{root.rstrip('/')}/{path.relative_to(self.local).as_posix()}")


def is_scratch(name: str) -> bool:
    """The lock file or a temporary file: build machinery, not data."""
    return name == LOCK or (name.startswith(".") and name.endswith(TEMPORARY_SUFFIX))


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


class LocalTree:
    """What the output policy (manifest.check_output) needs to know of a local folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.where = str(self.root)

    def kind(self) -> str:
        return "missing" if not self.root.exists() else "folder" if self.root.is_dir() else "file"

    def is_empty(self) -> bool:
        """No entries but build machinery (the lock, temporaries of a build killed before its first
        manifest) and empty folders."""
        return all(
            is_scratch(path.name) or (path.is_dir() and not path.is_symlink() and not any(path.iterdir()))
            for path in self.root.iterdir()
        )

    def read(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def remove(self, name: str) -> None:
        path = self.root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class RemoteTree:
    """The same for a folder behind an fsspec URL."""

    def __init__(self, url: str):
        self.fs, root = filesystem(url)
        self.root = root.rstrip("/")
        self.where = url.rstrip("/")

    def kind(self) -> str:
        return "missing" if not self.fs.exists(self.root) else "folder" if self.fs.isdir(self.root) else "file"

    def is_empty(self) -> bool:
        return not self.fs.ls(self.root)

    def read(self, name: str) -> bytes | None:
        path = f"{self.root}/{name}"
        return self.fs.cat_file(path) if self.fs.exists(path) else None

    def create(self) -> None:
        self.fs.makedirs(self.root, exist_ok=True)

    def remove(self, name: str) -> None:
        path = f"{self.root}/{name}"
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


def tree(out: str | Path) -> LocalTree | RemoteTree:
    return RemoteTree(str(out)) if is_url(out) else LocalTree(Path(out))
