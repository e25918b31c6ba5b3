"""The card's repo id, title and license are kept: later commands re-render the card without losing them."""

from __future__ import annotations

import json

import yaml

from generator.cli import main
from tests.conftest import SMALL, generate, input_args


def card_header(out) -> dict:
    return yaml.safe_load((out / "README.md").read_text().split("---")[1])


def test_card_settings_survive_stats_gallery_and_a_rebuild(inputs, tmp_path):
    out = tmp_path / "ds"
    assert generate(out, *input_args(inputs), *SMALL, "--no-gallery") == 0
    assert card_header(out)["license"] == "other"
    assert main(["card", str(out), "--repo-id", "my-org/rooms", "--license", "cc-by-4.0", "--pretty-name", "Rooms"]) == 0
    for command in (["stats", str(out)], ["gallery", str(out)]):
        assert main(command) == 0
        header = card_header(out)
        assert header["license"] == "cc-by-4.0" and header["pretty_name"] == "Rooms"
        assert 'load_dataset("my-org/rooms")' in (out / "README.md").read_text()
    # The same build again (a resume that keeps every shard) keeps them too.
    assert generate(out, *input_args(inputs), *SMALL, "--no-gallery") == 0
    assert card_header(out)["license"] == "cc-by-4.0"
    assert json.loads((out / "manifest.json").read_text())["card"]["repo_id"] == "my-org/rooms"
    # A setting given later replaces only itself.
    assert main(["card", str(out), "--license", "mit"]) == 0
    assert card_header(out)["license"] == "mit" and card_header(out)["pretty_name"] == "Rooms"
