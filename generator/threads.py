"""An ordered map over threads, for input work that releases the GIL: PIL decoding and resizing, numpy
rendering. The inputs load before anything else can start, so on N cores they load up to N times sooner
(measured in benchmarks/README.md). Builds use as many threads as --workers."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Each thread holds one decoded input photo at a time.
MAX_THREADS = 16


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ordered_map(function: Callable[[T], R], items: Iterable[T], threads: int = 1) -> list[R]:
    """[function(item) for item in items] on up to `threads` threads (no more than the cores, nor 16),
    results in order; the first exception in item order is raised."""
    items = list(items)
    threads = min(threads, cores(), MAX_THREADS, len(items))
    if threads <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(function, items))
