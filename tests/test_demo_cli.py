"""The README's main command: the built-in demo builds a dataset that load_dataset reads."""

from __future__ import annotations

import json

import datasets
import numpy as np
from tests.conftest import generate


def test_demo_builds_a_loadable_dataset(tmp_path):
    out = tmp_path / "demo"
    assert generate(out, "--demo", "--num-backgrounds", "4", "--num-foregrounds", "3", "--placements", "3", "--no-progress") == 0
    ds = datasets.load_dataset(str(out))
    assert ds["train"].num_rows + ds["test"].num_rows == 4 * 3 * 2 * 3
    row = ds["train"][0]
    assert row["image"].size == (224, 224) and row["mask"].size == (224, 224)
    depth = np.asarray(row["depth"])
    assert depth.dtype in (np.uint16, np.int32) and depth.max() == 65535 and 0 < row["depth_min"] < row["depth_max"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["backgrounds"] == ["room_0", "room_1", "room_2", "room_3"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: fg_bg" in card and "mono-depth-mask generate --demo" in card
