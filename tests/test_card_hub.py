"""The card's header as the Hub and `datasets` define it: `license: other` with license_name and
license_link; dataset_info sizes as datasets measures them (num_bytes: in-memory Arrow bytes); an input
config whose split files are the same bytes listed once; no absolute local path for a local teacher,
which the manifest records by name and sha256."""

from __future__ import annotations

import json
import shutil
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
    assert teacher["model"] == "my-teacher" and str(tmp_path) not in (out / "manifest.json").read_text(encoding="utf-8")
    assert {"config.json", "model.safetensors"} <= set(teacher["sha256"])


def test_user_inputs_are_named_not_located_and_moved_inputs_are_the_same_dataset(inputs, tmp_path, capsys):
    """The manifest keeps input folders and files by name; the inputs are known by their sha256, so the
    same files moved elsewhere rerun as the same dataset, and other files under the same names do not."""
    from tests.conftest import SMALL, generate
    from tests.test_rerun import files

    here = tmp_path / "secret-place"
    shutil.copytree(inputs["backgrounds"], here / "bg")
    shutil.copytree(inputs["foregrounds"], here / "fg")
    shutil.copytree(inputs["depths"], here / "depth")
    (here / "heights.csv").write_text("".join(f"{p.stem},1.2\n" for p in (here / "fg").glob("*.png")))

    def args(root: Path) -> list[str]:
        return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--background-depths",
                str(root / "depth"), "--fg-heights", str(root / "heights.csv"), *SMALL]

    out = tmp_path / "ds"
    assert generate(out, *args(here)) == 0
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert str(tmp_path) not in manifest and str(tmp_path) not in (out / "README.md").read_text(encoding="utf-8")
    options = json.loads(manifest)["options"]
    assert (options["backgrounds"], options["fg_heights"]) == ("bg", "heights.csv")

    moved = tmp_path / "elsewhere"
    shutil.move(here, moved)
    before = files(out)
    capsys.readouterr()
    assert generate(out, *args(moved)) == 0
    assert capsys.readouterr().out.startswith("nothing to do: ") and files(out) == before

    (moved / "heights.csv").write_text("".join(f"{p.stem},0.6\n" for p in (moved / "fg").glob("*.png")))  # edited in place
    assert generate(out, *args(moved)) == 0
    assert "nothing to do" not in capsys.readouterr().out and files(out) != before
    before = files(out)

    first = next((moved / "bg").iterdir())
    first.write_bytes(next(p for p in (moved / "bg").iterdir() if p != first).read_bytes())  # other pixels, same name
    assert generate(out, *args(moved)) == 0
    assert files(out) != before
