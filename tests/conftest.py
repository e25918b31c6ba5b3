from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from inputs import write_backgrounds, write_cutouts, write_depths  # noqa: E402

from generator.cli import main  # noqa: E402

# Small but not trivial: 4 backgrounds x 3 foregrounds x 2 flips x 5 placements = 120 samples.
SMALL = ["--bg-size", "64", "--placements", "5", "--shard-size", "40", "--no-progress"]


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    backgrounds = write_backgrounds(root / "bg", 4)
    write_cutouts(root / "fg", 3)
    write_depths(root / "depth", backgrounds)
    return {"backgrounds": root / "bg", "foregrounds": root / "fg", "depths": root / "depth"}


def input_args(inputs: dict[str, Path]) -> list[str]:
    return ["--backgrounds", str(inputs["backgrounds"]), "--foregrounds", str(inputs["foregrounds"]),
            "--background-depths", str(inputs["depths"])]


def generate(out: Path, *args: str) -> int:
    return main(["generate", "--out", str(out), *args])


@pytest.fixture(scope="session")
def small_dataset(inputs, tmp_path_factory) -> Path:
    """A dataset built once with lossless composites, for the tests that only read it."""
    out = tmp_path_factory.mktemp("small") / "ds"
    assert generate(out, *input_args(inputs), *SMALL, "--image-format", "png", "--workers", "1") == 0
    return out
