"""The CLI's surface: --version, metavars that say what a value is, every default in the help, the standard
progress switches (TQDM_DISABLE, HF_HUB_DISABLE_PROGRESS_BARS, --no-progress) for every bar, the finishing
steps named, and the skip warning naming a file's kind once."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest
from PIL import Image
import numpy as np

from generator import __version__
from generator.cli import main, parser

GENERIC_METAVARS = {"N", "N|MIN-MAX", "PX", "F", "K", "Q", "DIR", "ID", "OUT", "TEXT", "TOKEN", "BRANCH", "ID_OR_PATH", "DIR_OR_URL", "URL_OR_FILE",
                    "ORG/NAME", "auto|HOST:PORT", "NAME", "T", "FILE", "M", "DEGREES", "SECONDS"}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"mono-depth-mask {__version__}"


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_metavars_are_generic_and_defaults_shown(command):
    for action in subparsers()[command]._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.dest in ("help",):
            continue
        takes_value = action.nargs != 0
        if takes_value and not action.choices:
            assert action.metavar in GENERIC_METAVARS, (command, action.option_strings, action.metavar)
        if takes_value and action.default not in (None, argparse.SUPPRESS):  # a value is used when the flag is absent
            assert "default" in (action.help or ""), (command, action.option_strings, action.help)


# Every step of a build, and so every progress bar, runs however small the build: 16 samples.
TINY_DEMO = ["--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--placements", "2", "--bg-size", "64", "--workers", "1"]


def test_gallery_names_its_steps_unless_no_progress(tmp_path):
    out = tmp_path / "g"
    assert main(["generate", *TINY_DEMO, "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    run = [sys.executable, "-m", "generator", "gallery", str(out)]
    shown = subprocess.run(run, capture_output=True, text=True, timeout=300)
    quiet = subprocess.run([*run, "--no-progress"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == quiet.returncode == 0
    assert "gallery: gallery" in shown.stderr and "gallery: card" in shown.stderr and quiet.stderr == ""


def _generate(tmp_path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "generator", "generate", *TINY_DEMO, "--out", str(tmp_path / "ds"), "--overwrite", *extra],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


def test_progress_names_the_finishing_steps(tmp_path):
    result = _generate(tmp_path)
    assert result.returncode == 0, result.stderr
    for step in ("finishing: statistics", "finishing: gallery", "finishing: card"):
        assert step in result.stderr


@pytest.mark.parametrize("switch", [("--no-progress",), {"TQDM_DISABLE": "1"}, {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}])
def test_every_progress_switch_silences_every_bar(tmp_path, switch):
    flags, env = (switch, None) if isinstance(switch, tuple) else ((), switch)
    result = _generate(tmp_path, *flags, env=env)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"\d+%\|", result.stderr), result.stderr


NO_PROGRESS_THEN_TRANSFORMERS = """
import sys
from generator.cli import quiet_if_asked
import argparse
imported_first = sys.argv[1] == "before"
if imported_first:
    import transformers.utils.logging
quiet_if_asked(argparse.Namespace(progress=False))
from transformers.utils import logging
print(logging.is_progress_bar_enabled())
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_no_progress_silences_transformers_bars(when):
    """Whether transformers is imported before --no-progress takes effect (a teacher) or after."""
    result = subprocess.run([sys.executable, "-c", NO_PROGRESS_THEN_TRANSFORMERS, when], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items() if "PROGRESS" not in k and k != "TQDM_DISABLE"})
    assert result.stdout.strip() == "False", result.stderr


def test_skip_warning_names_the_kind_once(tmp_path, capsys):
    bg, fg = tmp_path / "bg", tmp_path / "fg"
    bg.mkdir()
    fg.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(bg / "a.png")
    Image.fromarray(np.full((32, 32, 4), 255, np.uint8)).save(fg / "a.png")
    Image.fromarray(np.zeros((32, 32, 4), np.uint8)).save(fg / "b.png")
    assert main(["generate", "--backgrounds", str(bg), "--foregrounds", str(fg), "--depth", "none", "--placement", "uniform", "--bg-size", "64",
                 "--skip-bad-inputs", "--workers", "1", "--no-progress", "--no-gallery", "--out", str(tmp_path / "o")]) == 0
    warning = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:"))
    assert "foreground foreground" not in warning and warning.startswith("warning: skipping foreground "), warning


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_every_command_takes_no_progress(command):
    flags = {option for action in subparsers()[command]._actions for option in action.option_strings}
    assert "--no-progress" in flags
