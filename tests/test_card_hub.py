"""The card's header as the Hub and `datasets` define it: `license: other` with license_name and
license_link; dataset_info sizes as datasets measures them (num_bytes: in-memory Arrow bytes); an input
config whose split files are the same bytes listed once; no absolute local path for a local teacher,
which the manifest records by name and sha256."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.cli import main
from generator.dataset.hub_rules import card_problems


def header(out: Path) -> dict:
    return yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("---\n")[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("card") / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "3", "--num-foregrounds", "2", "--workers", "1",
                 "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    return out


def test_license_other_comes_with_name_and_link(demo):
    data = header(demo)
    assert (data["license"], data["license_name"], data["license_link"]) == ("other", "inputs-licenses", "README.md")
    assert "the licenses of the inputs apply" in (demo / "README.md").read_text(encoding="utf-8")
    assert main(["card", str(demo), "--license-name", "my-inputs", "--license-link", "https://example.org/terms"]) == 0
    assert (header(demo)["license_name"], header(demo)["license_link"]) == ("my-inputs", "https://example.org/terms")
    assert main(["card", str(demo), "--license", "cc-by-4.0"]) == 0
    assert "license_name" not in header(demo) and not card_problems((demo / "README.md").read_text(encoding="utf-8"))
    assert main(["card", str(demo), "--license", "other"]) == 0
    text = (demo / "README.md").read_text(encoding="utf-8")
    assert not card_problems(text) and card_problems(text.replace("license_name: my-inputs\n", ""))


def test_sizes_are_what_datasets_measures(demo, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    manifest = json.loads((demo / "manifest.json").read_text())
    for info in header(demo)["dataset_info"]:
        loaded = datasets.load_dataset(str(demo), info["config_name"], cache_dir=str(tmp_path / "cache"))
        assert [s["name"] for s in info["splits"]] == list(loaded)
        for split in info["splits"]:
            measured = loaded[split["name"]].info.splits[split["name"]].num_bytes
            assert abs(split["num_bytes"] - measured) <= 0.001 * measured, (info["config_name"], split, measured)
        assert info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"])
        listed = [s for s in manifest["shards"] if s["config"] == info["config_name"] and s["split"] in loaded]
        assert info["download_size"] == sum(s["bytes"] for s in listed)


def test_identical_split_files_are_listed_once(demo):
    data = header(demo)
    configs = {c["config_name"]: [f["split"] for f in c["data_files"]] for c in data["configs"]}
    assert configs["foregrounds"] == ["train"]  # every foreground is in both splits when split by background
    assert configs["fg_bg"] == ["train", "test"] and configs["backgrounds"] == ["train", "test"]


def test_a_local_teacher_is_named_not_located(tmp_path):
    from tests.tiny_models import save_tiny_dpt

    model = save_tiny_dpt(tmp_path / "secret-place" / "my-teacher")
    out = tmp_path / "ds"
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "1", "--placements", "2",
                 "--depth", "model", "--depth-model", str(model), "--device", "cpu", "--workers", "1",
                 "--no-progress", "--no-gallery", "--out", str(out)]) == 0
    card = (out / "README.md").read_text(encoding="utf-8")
    assert str(tmp_path) not in card and "my-teacher" in card
    teacher = json.loads((out / "manifest.json").read_text())["depth"]["teacher"]
    assert teacher["model"] == "my-teacher" and str(tmp_path) not in json.dumps(teacher)
    assert {"config.json", "model.safetensors"} <= set(teacher["sha256"])
