"""An error line suggests only flags of the command that printed it: a depth model that cannot be loaded
gives `generate` its --depth / --depth-model / --background-depth-model ways out and `relabel-depth` its
own, never the other's."""

from __future__ import annotations

import re

import pytest

from generator.cli import main
from tests.test_cli_polish import subparsers

MISSING = "no-such-org/no-such-model"


def flags_of(command: str) -> set[str]:
    return {option for action in subparsers()[command]._actions for option in action.option_strings}


def error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


@pytest.fixture
def offline(hub_offline):
    """The model is looked for in the cache only: not found at once."""


@pytest.mark.parametrize("model_flags, named", [
    (["--depth", "model", "--depth-model", MISSING], "--depth-model"),
    (["--depth", "scene", "--background-depth-model", MISSING], "--background-depth-model"),
])
def test_generate_names_the_flag_the_model_came_through(model_flags, named, offline, capsys, tmp_path):
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--workers", "1",
                 "--no-progress", "--no-gallery", *model_flags, "--out", str(tmp_path / "ds")]) == 2
    line = error_line(capsys)
    assert f"pass a local folder to {named}" in line and "--depth none" in line
    assert set(re.findall(r"--[a-z][\w-]*", line)) <= flags_of("generate")


def test_relabel_depth_suggests_only_its_own_flags(offline, capsys, tmp_path):
    out = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--placements", "1",
                 "--workers", "1", "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["relabel-depth", str(out), "--depth-model", MISSING, "--no-progress"]) == 2
    line = error_line(capsys)
    assert "pass a local folder to --depth-model" in line
    assert set(re.findall(r"--[a-z][\w-]*", line)) <= flags_of("relabel-depth"), line


DATASET_COMMANDS = {
    "validate": [], "stats": [], "gallery": [], "card": [], "push": ["--repo-id", "org/x", "--dry-run"],
    "relabel-depth": ["--depth-model", MISSING],
}


@pytest.mark.parametrize("command", sorted(DATASET_COMMANDS))
@pytest.mark.parametrize("folder", ["empty", "foreign manifest"])
def test_a_folder_that_is_no_dataset_is_named_with_this_commands_flags_only(command, folder, offline, capsys, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    if folder == "foreign manifest":
        (out / "manifest.json").write_text('{"name": "another program"}', encoding="utf-8")
    assert main([command, str(out), *DATASET_COMMANDS[command], "--no-progress"]) == 2
    line = error_line(capsys)
    assert set(re.findall(r"--[a-z][\w-]*", line)) <= flags_of(command), line
