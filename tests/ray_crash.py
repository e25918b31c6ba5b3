"""Test hook for the Ray engine, installed in every Ray worker process by `worker_process_setup_hook`: the
first actor that picks up a shard named by a request file in $CRASH_DIR consumes the request and kills its
own process, as a lost node or an OOM kill would."""

from __future__ import annotations

import os
from pathlib import Path

CRASH_DIR = "MONO_DEPTH_MASK_TEST_CRASH_DIR"


def install() -> None:
    from generator.engines import ray as engine
    from generator.schema import FG_BG, shard_path

    write = engine.ShardWorker.write

    def write_or_crash(self, spec, out):
        name = shard_path(FG_BG, spec.split, spec.index, spec.count).split("/")[-1].removesuffix(".parquet")
        request = Path(os.environ[CRASH_DIR]) / name
        try:
            os.rename(request, request.with_suffix(".crashed"))  # only one process wins the rename
        except OSError:
            return write(self, spec, out)
        os._exit(1)

    engine.ShardWorker.write = write_or_crash
