"""Names for what a build puts in /dev/shm (the teacher's depth blocks, the worker pool's semaphores), so
that a build killed whole leaves nothing there for good.

A build's shared memory is unlinked at its end, or by multiprocessing's resource tracker when the main
process dies; but SIGKILL of the whole process group (`timeout -s KILL`, a scheduler, a cgroup's OOM
kill) takes the tracker too, and its blocks (about 100 MB each at the default shard size) and semaphores
would stay until the machine restarts. So each is named after its owner, `mdm-NS-PID-...` (NS: the PID
namespace, since /dev/shm may be shared by containers whose pids mean other processes), and every build
first removes those of owners in its namespace that are gone."""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets

SHM_FOLDER = "/dev/shm"
_OWNED = re.compile(r"(?:sem\.)?mdm-(\d+)-(\d+)-\w+")


def _namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # no /proc (macOS): one namespace
        return 0


def owner_prefix() -> str:
    return f"mdm-{_namespace()}-{os.getpid()}"


def block_name() -> str:
    """A fresh name for a shared memory block of this process."""
    return f"{owner_prefix()}-{secrets.token_hex(6)}"


def name_semaphores() -> None:
    """Name the semaphores this process makes from now on (a pool's queues and locks) after it, as
    multiprocessing lets each process set the prefix of its semaphores' names (`/mp` by default)."""
    multiprocessing.current_process()._config["semprefix"] = "/" + owner_prefix()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_orphans(folder: str = SHM_FOLDER) -> list[str]:
    """Remove the blocks and semaphores whose owner, in this PID namespace, is gone. Returns their names."""
    try:
        names = os.listdir(folder)
    except OSError:  # no /dev/shm here
        return []
    namespace, removed = _namespace(), []
    for name in names:
        match = _OWNED.fullmatch(name)
        if match and int(match.group(1)) == namespace and not _alive(int(match.group(2))):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:  # gone meanwhile, or not ours to remove
                pass
    return removed
