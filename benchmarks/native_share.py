"""How much of a shard's CPU is the Python interpreter, and how much compiled code (the encoders and
decoders whose bytes the format fixes, numpy, PIL), sampled with py-spy's native stacks.

    pip install py-spy                                                # not a project dependency
    python -m benchmarks.native_share                                 # a 10 x 100 demo: 30 warm shards, the last 10 sampled
    python -m benchmarks.native_share --warm 30 --shards 30 -- --demo --num-backgrounds 100 --num-foregrounds 100
    python -m benchmarks.native_share --plain ...                     # CPU a shard, not sampled

A child process builds shards as a worker does (`plan.submission_order`), the first `--warm` of them
unsampled (inputs, floors, the cut-out cache); py-spy then records the `--shards` after them. Each sample's
innermost frame names the code that ran; memory copies and allocation (libc) count for the frame that called
them. The interpreter's share bounds what any rewrite of the per-row Python could gain: with none of it, a
shard would take (1 - share) of its time.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import after_dashes, warm_worker

# (category, pattern of a native frame's module or file); the first that matches wins.
CATEGORIES = [
    ("encoders and decoders (bytes fixed)", r"_deflate|libdeflate|libjpeg|libz\.|libzstd|libparquet|libarrow"),
    ("numpy", r"numpy"),
    ("PIL's C (paste, resize, histogram, fill)", r"PIL|\.c$"),
]
PYTHON = "the Python interpreter"
# Frames that do work for whoever called them (memory copies, allocation, unresolved addresses).
_PASS_THROUGH = re.compile(r"libc\.so|libstdc\+\+|libm\.so|^\?$")
# CPython itself and its C modules' glue (argument parsing, buffers for zlib's output).
_CPYTHON = re.compile(r"libpython|python3|module\.c(\.h)?$|^_struct\.c$|^pycore_|^<frozen")
_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*?)(?::\d+)?\)$")


def category(stack: list[str]) -> str:
    """The category of the innermost frame of `stack` (outermost first) that is not a pass-through one."""
    for frame in reversed(stack):
        match = _FRAME.match(frame)
        where = match.group("where") if match else "?"
        if _PASS_THROUGH.search(where):
            continue
        if where.endswith(".py") or where == "<string>" or _CPYTHON.search(where):
            return PYTHON
        for name, pattern in CATEGORIES:
            if re.search(pattern, where):
                return name
        return "other compiled code"
    return "other compiled code"


def shares(raw: str) -> dict[str, float]:
    """Category -> share of the samples in py-spy's raw output (`stack;stack;... count` lines)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack:
            counts[category(stack.split(";"))] += int(count)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name, _ in counts.most_common()}


def build(inputs: list[str], warm: int, count: int, wait: bool) -> float:
    """CPU a shard of `count` shards built after `warm` (untimed); with `wait`, say "ready" on stdout once
    the warm ones are built and wait for a line on stdin before going on."""
    with warm_worker(inputs, warm, count) as build_the_rest:
        if wait:
            print("ready", flush=True)
            sys.stdin.readline()
        start = time.process_time()
        built = build_the_rest()
        return (time.process_time() - start) / max(len(built), 1)


def sample(inputs: list[str], warm: int, count: int, rate: int) -> tuple[dict[str, float], float]:
    """(shares, CPU a shard) of `count` shards after `warm`, sampled by py-spy at `rate` a second."""
    command = [sys.executable, "-m", "benchmarks.native_share", "--child", "--warm", str(warm), "--shards", str(count), "--", *inputs]
    root = Path(__file__).parent.parent
    worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root)
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "stacks.txt"
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit("the shard builder stopped before its warm shards were built")
        record = ["py-spy", "record", "--native", "--format", "raw", "--rate", str(rate), "--pid", str(worker.pid), "--output", str(raw)]
        spy = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)  # py-spy attaches before the sampled shards begin
        worker.stdin.write("go\n")
        worker.stdin.flush()
        per_shard = float(worker.stdout.readline())
        worker.wait()
        if spy.wait() != 0 or not raw.exists():
            raise SystemExit("py-spy could not sample the shard builder (it needs ptrace: root, or kernel.yama.ptrace_scope 0)")
        return shares(raw.read_text()), per_shard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=30, help="shards built first, not sampled (default %(default)s)")
    parser.add_argument("--shards", type=int, default=30, help="shards sampled (default %(default)s)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy's samples a second (default %(default)s)")
    parser.add_argument("--plain", action="store_true", help="only time the shards, without py-spy")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs=argparse.REMAINDER, help="-- then generate's input options")
    args = parser.parse_args()
    inputs = after_dashes(args.inputs) or ["--demo", "--num-backgrounds", "10", "--num-foregrounds", "100"]
    if args.child or args.plain:
        per_shard = build(inputs, args.warm, args.shards, wait=args.child)
        print(f"{per_shard:.3f}" if args.child else f"CPU a shard: {per_shard:.3f} s", flush=True)
        return
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    found, per_shard = sample(inputs, args.warm, args.shards, args.rate)
    print(f"CPU a shard (sampled, so slowed a little): {per_shard:.3f} s")
    for name, share in found.items():
        print(f"{name:<44} {100 * share:5.1f} %")
    python = found.get(PYTHON, 0.0)
    print(f"with no interpreter time at all a shard would be {1 / (1 - python):.2f}x faster")


if __name__ == "__main__":
    main()
