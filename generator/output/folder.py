"""Where a dataset is written: a local folder (as before) or any fsspec URL (file://, a shared file system,
s3://, gs://, ...).

Every output file is written whole and then published in one step, so a reader, a resumed build or a
retried worker never sees half a file:

- local folder: a hidden temporary file beside the target, fsync, rename (writer.atomic_path);
- URL: the file is written completely to a local temporary folder, then uploaded. Object stores
  (s3, gs, az, ...) make a single put visible all at once; on other file systems (file://, sftp, hdfs, ...)
  it is put under a hidden temporary name in the target folder and moved over the target.

The fg_bg shards go straight to their destination from whichever worker built them. The driver writes
the small files (input configs, manifest, card) into a local staging folder with the same code as for a
local build and uploads them at the end, the manifest and the card last.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import UserError
from ..config import BuildOptions
from .parquet import sha256_file

# Protocols where one put of a completed file is atomic: no temporary name and rename needed.
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "oci", "r2", "memory"}


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

    def publish(self) -> None:
        """Upload the driver's files to the URL: input configs first, then the manifest, then the card."""
        if self.url is None:
            return
        from ..schema import CARD, MANIFEST

        fs, root = filesystem(self.url)
        last = {MANIFEST: 1, CARD: 2}
        files = sorted((p for p in self.local.rglob("*") if p.is_file()), key=lambda p: (last.get(p.name, 0), str(p)))
        for path in files:
            upload(fs, path, f"{root.rstrip('/')}/{path.relative_to(self.local).as_posix()}")


def prepare_remote(url: str, options: BuildOptions, overwrite: bool) -> None:
    """manifest.prepare_output for a URL: empty, our dataset with the same options, or our dataset with
    other options and --overwrite (its files are removed); never a foreign folder."""
    from .manifest import OWNED, parse_manifest, refuse_other_options
    from ..schema import MANIFEST

    fs, root = filesystem(url)
    root = root.rstrip("/")
    if fs.exists(root) and not fs.isdir(root):
        raise UserError(f"--out {url} is a file, not a folder")
    if not fs.exists(root) or not fs.ls(root):
        fs.makedirs(root, exist_ok=True)
        return
    manifest_path = f"{root}/{MANIFEST}"
    if not fs.exists(manifest_path):
        raise UserError(f"--out {url} is not empty and holds no mono-depth-mask dataset; choose an empty folder")
    data = parse_manifest(f"{url}/{MANIFEST}", lambda: fs.cat_file(manifest_path))
    changed = refuse_other_options(url, data, options, overwrite)
    for name in OWNED if changed else ():
        path = f"{root}/{name}"
        if fs.exists(path):
            fs.rm(path, recursive=True)
