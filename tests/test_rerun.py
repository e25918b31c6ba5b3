"""A rerun of a finished build costs what is left to do: nothing, when every shard is intact."""

from __future__ import annotations

import shutil

from generator.cli import main
from tests.conftest import generate

DEMO = ["--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--bg-size", "64", "--placements", "3", "--no-progress"]


def files(out):
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_rerun_of_a_finished_build_touches_nothing(tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *DEMO, "--workers", "2") == 0
    before = files(out)
    capsys.readouterr()
    assert generate(out, *DEMO, "--workers", "1") == 0  # how a build runs is not what it builds
    said = capsys.readouterr().out
    assert said.startswith("nothing to do: ") and f"{len([p for p in before if p.endswith('.parquet')])} shards verified" in said
    assert files(out) == before  # bytes and modification times


def test_a_rerun_redraws_what_is_missing_and_rebuilds_what_is_damaged(tmp_path, capsys):
    out = tmp_path / "ds"
    assert generate(out, *DEMO) == 0
    reference = {name: data for name, (data, _) in files(out).items()}
    shutil.rmtree(out / "gallery")
    capsys.readouterr()
    assert generate(out, *DEMO) == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert {name: data for name, (data, _) in files(out).items()} == reference
    shard = next((out / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    assert generate(out, *DEMO) == 0
    assert "resumed" in capsys.readouterr().out
    assert {name: data for name, (data, _) in files(out).items()} == reference
    assert main(["validate", str(out), "--no-progress"]) == 0
