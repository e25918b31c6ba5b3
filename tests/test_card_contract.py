"""The card tells the truth about its dataset: its "Reproducing" command, run as written from the folder
it names, makes the same bytes; its split table lists the splits its YAML header lists; every column of
every config (schema.COLUMNS) is described."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import generator
from generator.cli import main
from generator.schema import COLUMNS
from tests.inputs import write_backgrounds, write_cutouts, write_depths


def card(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def shard_digests(out: Path) -> dict[str, str]:
    return {s["path"]: s["sha256"] for s in json.loads((out / "manifest.json").read_text())["shards"]}


def reproduce(out: Path, cwd: Path, again: Path) -> subprocess.CompletedProcess:
    """Run the card's command as written, from `cwd`, into `again` (the `mono-depth-mask` entry point is
    the package's `python -m generator`)."""
    command = re.search(r"## Reproducing\n\n```\n(.+)\n```", card(out)).group(1)
    words = shlex.split(command)
    assert words[:2] == ["mono-depth-mask", "generate"] and words[-2:] == ["--out", "OUT"], command
    env = {**os.environ, "PYTHONPATH": str(Path(generator.__file__).parents[1])}  # this checkout's, from any folder
    return subprocess.run([sys.executable, "-m", "generator", *words[1:-2], "--out", str(again), "--no-progress",
                           "--no-gallery", "--workers", "1"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """Options that differ from every default: flags that are on by default, off ones, values."""
    out = tmp_path_factory.mktemp("card") / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--placements", "2",
                 "--no-flip", "--no-decontaminate", "--shadow", "--harmonize", "--blend", "mix", "--background-jitter",
                 "--image-format", "png", "--scale-jitter", "0.1", "--seed", "3", "--workers", "1", "--no-progress",
                 "--no-gallery", "--out", str(out)]) == 0
    return out


def test_the_reproducing_command_of_a_demo_build_makes_the_same_bytes(demo, tmp_path):
    result = reproduce(demo, tmp_path, tmp_path / "again")
    assert result.returncode == 0, result.stderr
    assert shard_digests(tmp_path / "again") == shard_digests(demo)
    assert "It needs no input files." in card(demo)


def test_zero_values_are_spelled_out(tmp_path):
    """0 is a value, not an absent option: without `--test-fraction 0` the command would split off 30 %."""
    out = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--placements", "1",
                 "--test-fraction", "0", "--seed", "0", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    result = reproduce(out, tmp_path, tmp_path / "again")
    assert result.returncode == 0, result.stderr
    assert shard_digests(tmp_path / "again") == shard_digests(out)
    assert "--test-fraction 0.0" in card(out) and "--seed 0" in card(out)


def test_the_reproducing_command_runs_from_the_folder_of_the_inputs_it_names(tmp_path):
    inputs = tmp_path / "inputs"
    backgrounds = write_backgrounds(inputs / "bg", 2)
    write_depths(inputs / "depth", backgrounds)
    write_cutouts(inputs / "fg", 2)
    (inputs / "heights.csv").write_text("name,height_m\nfg_1,0.5\n", encoding="utf-8")
    out = tmp_path / "ds"
    assert main(["generate", "--backgrounds", str(inputs / "bg"), "--foregrounds", str(inputs / "fg"),
                 "--background-depths", str(inputs / "depth"), "--fg-heights", str(inputs / "heights.csv"),
                 "--placements", "2", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    text = card(out)
    assert str(tmp_path) not in text  # the builder's paths stay private
    assert "(`bg`, `fg`, `depth`, `heights.csv`)" in text
    result = reproduce(out, inputs, tmp_path / "again")
    assert result.returncode == 0, result.stderr
    assert shard_digests(tmp_path / "again") == shard_digests(out)


def test_the_split_table_lists_the_splits_of_the_yaml_header(demo):
    text = card(demo)
    header = yaml.safe_load(text.split("---\n")[1])
    listed = {(c["config_name"], f["split"]) for c in header["configs"] for f in c["data_files"]}
    table = set(re.findall(r"^\| (fg_bg|backgrounds|foregrounds) \| (\w+) \| [\d,]+ \|$", text, re.M))
    assert table == listed
    assert ("foregrounds", "test") not in table  # the same bytes in both splits: listed once, as in the YAML


def test_every_column_of_every_config_is_described(demo):
    text = card(demo)
    missing = [f"{config}.{column}" for config, columns in COLUMNS.items() for column in columns
               if not re.search(rf"^\|[^\n]*`{column}`[^\n]*\|[^\n]*\|[^\n]*\S[^\n]*\|$", text, re.M)]
    assert not missing
