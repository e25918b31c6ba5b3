"""Run one `generate` build and sample the resident memory of its whole process tree every second: the
peak of each process (main, fork server, each worker, resource tracker) and the peak of their sum, and
the CPU time (user + sys) of the tree.

    python -m benchmarks.build_memory -- --demo --num-backgrounds 100 --num-foregrounds 100 --workers 2
    python -m benchmarks.build_memory --json mem.json -- --demo --num-backgrounds 20 --num-foregrounds 20 --workers 2

Everything after `--` goes to `python -m generator generate` (with --no-gallery --no-progress and an
--out under a fresh temporary folder, removed afterwards, unless given). Linux only: it reads /proc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The process's direct children, from /proc (each thread's children file)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found += [int(child) for child in file.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children(pid)
    return pids


def sample(pid: int) -> tuple[int, float, int] | None:
    """(resident bytes, CPU seconds so far, parent pid) of `pid`, None once it has gone."""
    try:
        with open(f"/proc/{pid}/statm") as file:
            rss = int(file.read().split()[1]) * PAGE
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()  # after the command's name, which may hold spaces
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return rss, (int(fields[11]) + int(fields[12])) / TICKS, int(fields[1])


def role(pid: int, parent: int, root: int, servers: set[int]) -> str:
    """What the process is in the build: main, fork server, worker (a fork of the fork server, with its
    command line), resource tracker, or other (a child on its way to exec something)."""
    if pid == root:
        return "main"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            command = file.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    if parent in servers:
        return "worker"
    if "resource_tracker" in command:
        return "resource tracker"
    if "forkserver" in command and parent == root:
        return "fork server"
    return "other"


def measure(arguments: list[str], interval: float = 1.0) -> dict:
    """Run the build and sample it: the peaks in bytes, the wall time, and the tree's CPU seconds (each
    process's as last sampled, so up to `interval` of each one's last moments is missed)."""
    command = [sys.executable, "-m", "generator", "generate", *arguments]
    start = time.perf_counter()
    process = subprocess.Popen(command)
    peaks: dict[int, tuple[str, int]] = {}
    cpu: dict[int, float] = {}
    peak_total = 0
    while process.poll() is None:
        total = 0
        for pid in tree(process.pid):  # parents before their children
            found = sample(pid)
            if found is None or found[0] == 0:  # gone, or a zombie not yet reaped
                continue
            rss, cpu[pid], parent = found
            total += rss
            # Asked each time: a process just forked carries its parent's command line until it execs.
            name = role(pid, parent, process.pid, {p for p, (n, _) in peaks.items() if n == "fork server"})
            peaks[pid] = (name, max(rss, peaks.get(pid, (name, 0))[1]))
        peak_total = max(peak_total, total)
        time.sleep(interval)
    wall = time.perf_counter() - start
    return {
        "command": command,
        "returncode": process.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(sum(cpu.values()), 2),
        "peak_total_bytes": peak_total,
        "processes": [{"pid": pid, "role": name, "peak_bytes": peak, "cpu_s": round(cpu[pid], 2)} for pid, (name, peak) in sorted(peaks.items())],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default %(default)s)")
    parser.add_argument("build", nargs=argparse.REMAINDER, help="-- then generate's arguments")
    args = parser.parse_args()
    build = args.build[1:] if args.build[:1] == ["--"] else args.build
    build += [flag for flag in ("--no-gallery", "--no-progress") if flag not in build]
    folder = None
    if "--out" not in build:
        folder = Path(tempfile.mkdtemp(prefix="build-memory-"))
        build += ["--out", str(folder / "out")]
    try:
        result = measure(build, args.interval)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    for process in result["processes"]:
        print(f"{process['role']:>16} {process['pid']:>8}  peak {process['peak_bytes'] / 2**20:8.1f} MiB  CPU {process['cpu_s']:7.1f} s")
    print(f"{'all together':>16} {'':>8}  peak {result['peak_total_bytes'] / 2**20:8.1f} MiB")
    print(f"wall {result['wall_s']:.1f} s, CPU of the tree {result['cpu_s']:.1f} s, exit {result['returncode']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result["returncode"]


if __name__ == "__main__":
    sys.exit(main())
