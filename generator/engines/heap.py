"""Keep freed memory for reuse instead of handing it back to the kernel. glibc returns freed blocks above
a threshold (and free space at the top of its heaps) to the kernel, so a process that allocates and frees
the same large arrays every shard takes fresh pages, each zeroed by the kernel on first touch. Every
process that builds shards keeps freed memory instead: the workers, and the teacher's process, which
composites and labels whole shards of large arrays (the gains are in benchmarks/README.md)."""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory(trim_threshold: int = 1 << 30, mmap_threshold: int = 32 << 20) -> bool:
    """In this process: blocks up to `mmap_threshold` (glibc's maximum) come from the heap, and up to
    `trim_threshold` of free heap is kept. False where the C library has no mallopt (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library already loaded: no `ldconfig -p` child, as find_library starts
        return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False
