"""Fixed costs: the smallest build (one background, one cut-out, one placement, `--depth none`, gallery
on) against a 16,000-sample build at 160 px (20 x 20 x 2 flips x 20 placements, `--depth none`), each
`generate` a fresh process timed from the outside, the two alternated, best of the repeats. The smallest
build's output must pass `validate`. Target: the smallest build at most 10 % of the 16,000-sample one.

    python -m benchmarks.bench_fixed_costs                 # best of 3
    python -m benchmarks.bench_fixed_costs --repeats 5 --workers 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = ["--num-backgrounds", "1", "--num-foregrounds", "1", "--placements", "1", "--no-flip"]
BIG = ["--num-backgrounds", "20", "--num-foregrounds", "20", "--bg-size", "160"]


def timed_build(out: Path, args: list[str], workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "generator", "generate", "--demo", "--depth", "none", "--no-progress",
               "--workers", str(workers), "--out", str(out), *args]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    env_note = "" if os.environ.get("PYTHONDONTWRITEBYTECODE") is None else " (PYTHONDONTWRITEBYTECODE is set: modules recompiled each run)"
    small, big = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):
            small.append(timed_build(Path(scratch) / "small", SMALL, args.workers))
            big.append(timed_build(Path(scratch) / "big", BIG, args.workers))
            print(f"small {small[-1]:.2f} s   16,000 samples {big[-1]:.2f} s", flush=True)
        subprocess.run([sys.executable, "-m", "generator", "validate", str(Path(scratch) / "small")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"best of {args.repeats}, --workers {args.workers}: smallest build {min(small):.2f} s, 16,000 samples "
          f"{min(big):.2f} s -> {min(small) / min(big):.1%} (target 10 %; smallest build passes validate){env_note}")


if __name__ == "__main__":
    main()
