"""OUT's lock: `OUT/.mono-depth-mask.lock`, held with `flock` by every command that writes OUT (a build,
relabel-depth, card, stats, gallery) or must see it unchanged from start to end (push), and removed at its
end. The kernel releases the lock when the process dies, however it dies, so a crash never leaves OUT
locked. The holder writes its command and pid into the file, so a refused command can say who holds it."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import OutputError, describe_os_error

LOCK = ".mono-depth-mask.lock"


@contextmanager
def build_lock(out: Path, holder: str = "build") -> Iterator["HeldLock"]:
    """Hold OUT's lock for the duration of the block; refuse at once if another command (a build, a push)
    holds it. `holder` names this command in the lock file, for the refusal another one prints."""
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
            raise OutputError(f"{_holder(path, out)}; wait for it to finish") from None
        # The holder before us may have removed the file between our open and our flock: then we locked
        # a file nobody else can see. Lock the file that is at the path now instead.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{holder} {os.getpid()}\n".encode())
    try:
        yield HeldLock(out, fd)
    finally:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(fd)


HOLDERS = {"build": "another build is writing to", "push": "a push is uploading"}


def _holder(path: Path, out: Path) -> str:
    """Who holds the lock, from what it wrote there: `a push is uploading OUT (pid 12 holds OUT/.lock)`."""
    try:
        holder, pid = path.read_text(encoding="utf-8").split()
        return f"{HOLDERS.get(holder, HOLDERS['build'])} {out} (pid {int(pid)} holds {path})"
    except (OSError, ValueError):  # not written yet, or by an older version
        return f"{HOLDERS['build']} {out} (it holds {path})"


class HeldLock:
    """OUT's lock while held: `check` finds out whether OUT is still the folder it was taken in."""

    def __init__(self, out: Path, fd: int):
        self.out, self._fd = out, fd

    def check(self) -> None:
        """Raise when OUT was removed, moved or replaced since the lock was taken: the files written since
        went into a folder nobody will read as this dataset (a removed folder, or one recreated by a
        write), so the build must not say it is complete."""
        try:
            same = os.path.samestat(os.fstat(self._fd), os.stat(self.out / LOCK))
        except FileNotFoundError:
            same = False
        if not same:
            raise OutputError(f"{self.out} was removed or moved while this command wrote to it; "
                              "its files are incomplete: run the same command again")
