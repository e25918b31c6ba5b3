"""The Hub card, `push`, and loading / streaming / training from a real Hub server.

The demo dataset is published as the git repo `org/mono-depth-mask` on olah (Parquet as LFS objects, as
the Hub stores them); every client call runs unpatched huggingface_hub / datasets / torch code in a fresh
interpreter whose HF_ENDPOINT points at the server (see tests/hub_server.py). olah is a read-only mirror,
so `push` is exercised up to its remote diff (`--dry-run`); the upload itself cannot be tested here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator.cli import main
from tests.hub_server import HAVE_OLAH, hub_client_env, run_hub_client, serve_dataset_repo

REPO_ID = "org/mono-depth-mask"
DEMO = ["--demo", "--num-backgrounds", "4", "--num-foregrounds", "3", "--placements", "4", "--shard-size", "30",
        "--no-progress", "--workers", "1"]
SECRET = "hf_secretTOKENnotToBePrinted0123456789"
needs_olah = pytest.mark.skipif(not HAVE_OLAH, reason="olah is not installed (pip install olah); needed to serve a local HF Hub")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("publish") / "ds"
    assert main(["generate", "--out", str(out), *DEMO]) == 0
    assert (out / "stats.json").is_file()  # the training pipeline normalises with it
    assert main(["card", str(out), "--repo-id", REPO_ID, "--license", "cc-by-4.0"]) == 0
    return out


@pytest.fixture(scope="module")
def hub(demo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("publish_hub")
    with serve_dataset_repo(demo, REPO_ID, tmp, lfs_patterns=["*.parquet"]) as endpoint:
        yield endpoint, hub_client_env(endpoint, tmp / "client")


def _header(out: Path) -> dict:
    text = (out / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])


def _num_examples(out: Path) -> dict:
    return {(info["config_name"], s["name"]): s["num_examples"] for info in _header(out)["dataset_info"] for s in info["splits"]}


# --- the card ---------------------------------------------------------------


def test_card_follows_hub_rules(demo):
    from huggingface_hub import DatasetCard

    from generator.dataset.hub_rules import card_problems, size_categories

    text = (demo / "README.md").read_text(encoding="utf-8")
    assert card_problems(text) == []
    data = DatasetCard(text).data
    assert data.license == "cc-by-4.0"
    assert data.task_categories == ["depth-estimation", "image-segmentation"]
    assert data.size_categories == ["n<1K"] and "n<1K" in size_categories()
    assert data.pretty_name == "mono-depth-mask"
    manifest = json.loads((demo / "manifest.json").read_text())
    for (config, split), n in _num_examples(demo).items():
        assert n == sum(s["rows"] for s in manifest["shards"] if s["config"] == config and s["split"] == split)
    assert sum(n for (c, _), n in _num_examples(demo).items() if c == "fg_bg") == 96
    for heading in ("## Loading", "## How it was made", "## Fields", "## Limitations", "## License", "## Credits"):
        assert heading in text
    assert f'load_dataset("{REPO_ID}", streaming=True)' in text and "cc-by-4.0" in text


def test_card_problems_are_found():
    from generator.dataset.hub_rules import card_problems

    text = "---\nlicense: not-a-license\ntask_categories:\n- depth-guessing\nsize_categories:\n- lots\n---\nbody\n"
    problems = " | ".join(card_problems(text))
    assert "not-a-license" in problems and "depth-guessing" in problems and "lots" in problems
    assert "no configs" in problems
    assert card_problems("---\nlicense: [mit\n---\n")[0].startswith("the YAML header does not parse")


def test_card_cli_rejects_unknown_license(demo, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["card", str(demo), "--license", "not-a-license"])
    assert exit.value.code == 2
    assert main(["card", str(demo.parent / "nothing-here")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")


# --- push: local side -------------------------------------------------------


def test_local_files_leave_out_locks_and_temporaries(demo, tmp_path):
    from generator.dataset.push import local_files

    copy = tmp_path / "ds"
    shutil.copytree(demo, copy)
    (copy / "data" / ".train-00000-of-00003.parquet.123.tmp").write_bytes(b"partial")
    (copy / "data" / "train.lock").write_text("")
    (copy / ".cache").mkdir()
    (copy / ".cache" / "x").write_text("")
    (copy / "notes.txt").write_text("mine")
    paths = {f.path for f in local_files(copy)}
    manifest = json.loads((copy / "manifest.json").read_text())
    assert paths == {"README.md", "manifest.json", "stats.json", *(s["path"] for s in manifest["shards"])} | {
        p.relative_to(copy).as_posix() for p in (copy / "gallery").rglob("*") if p.is_file()}


def test_push_without_token_is_one_error_line(demo, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "home" / "token"))
    assert main(["push", str(demo), "--repo-id", REPO_ID]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no Hugging Face token")


def test_network_errors_become_one_line_without_the_token():
    import httpx

    from generator.errors import UserError
    from generator.dataset.push import hub_errors

    with pytest.raises(UserError, match=r"cannot reach http://hub\.invalid") as error:
        with hub_errors(SECRET, "http://hub.invalid"):
            raise httpx.ConnectError(f"connection refused (Authorization: Bearer {SECRET})")
    assert SECRET not in str(error.value) and "***" in str(error.value)


# --- through the Hub server -------------------------------------------------


@needs_olah
def test_load_dataset_all_configs_from_the_hub(hub, demo):
    _, env = hub
    result = run_hub_client(
        """
        from datasets import load_dataset
        from PIL import Image
        out = {}
        for config in ("fg_bg", "backgrounds", "foregrounds"):
            ds = load_dataset("org/mono-depth-mask", config)
            first = {split: ds[split][0] for split in ds}
            out[config] = {
                "rows": {split: ds[split].num_rows for split in ds},
                "pil": {split: sorted(k for k, v in row.items() if isinstance(v, Image.Image)) for split, row in first.items()},
                "sizes": {split: sorted({v.size[0] for v in row.values() if isinstance(v, Image.Image)}) for split, row in first.items()},
                "streamed": {split: sum(1 for _ in load_dataset("org/mono-depth-mask", config, split=split, streaming=True)) for split in ds},
            }
        emit(out)
        """,
        env,
        timeout=300,
    )
    expected = _num_examples(demo)
    for config, got in result.items():
        assert got["rows"] == {split: n for (c, split), n in expected.items() if c == config}
        assert got["streamed"] == got["rows"]
    assert result["fg_bg"]["pil"]["train"] == ["amodal_mask", "background", "depth", "image", "instances", "mask"]
    assert result["fg_bg"]["sizes"]["train"] == [224]
    assert result["backgrounds"]["pil"]["train"] == ["depth", "image"]
    assert result["foregrounds"]["pil"]["train"] == ["image", "mask"]


@needs_olah
def test_streaming_shuffle_dataloader_and_training_loader_from_the_hub(hub, demo):
    _, env = hub
    sizes = sorted((demo / "data").glob("train-*.parquet"))
    assert max(p.stat().st_size for p in sizes) > 64 * 1024  # needs the harness's range requests
    result = run_hub_client(
        """
        import torch
        from torch.utils.data import DataLoader
        from datasets import load_dataset
        from generator.training import streaming_loader

        def collate(rows):
            keys = ("image", "background", "mask", "depth")
            return {k: torch.stack([r[k] for r in rows]) for k in keys} | {"name": [r["name"] for r in rows]}

        if __name__ == "__main__":
            stream = load_dataset("org/mono-depth-mask", streaming=True)
            names = [r["name"] for r in stream["train"]]
            shuffled = [r["name"] for r in stream["train"].shuffle(seed=0, buffer_size=16)]
            loader = DataLoader(stream["train"].with_format("torch"), batch_size=8, num_workers=2, collate_fn=collate)
            batches = list(loader)
            train = streaming_loader("org/mono-depth-mask", "train", batch_size=8, num_workers=2, shuffle_buffer=16)
            first = next(iter(train))
            emit({
                "names": names, "shuffled": shuffled, "shards": stream["train"].num_shards,
                "loader_names": sorted(n for b in batches for n in b["name"]),
                "shapes": {k: sorted({tuple(b[k].shape[1:]) for b in batches}) for k in ("image", "background", "mask", "depth")},
                "dtypes": {k: sorted({str(b[k].dtype) for b in batches}) for k in ("image", "background", "mask", "depth")},
                "train": {k: [list(v.shape), str(v.dtype)] for k, v in first.items()},
                "depth_range": [float(first["depth"].min()), float(first["depth"].max())],
                "mask_values": sorted({float(v) for v in first["mask"].unique()}),
            })
        """,
        {**env, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    n = _num_examples(demo)[("fg_bg", "train")]
    assert len(result["names"]) == n and len(set(result["names"])) == n
    assert sorted(result["shuffled"]) == sorted(result["names"]) and result["shuffled"] != result["names"]
    assert result["shards"] == 3
    assert result["loader_names"] == sorted(result["names"])
    assert result["shapes"] == {"image": [[3, 224, 224]], "background": [[3, 224, 224]], "mask": [[1, 224, 224]], "depth": [[1, 224, 224]]}
    assert result["dtypes"] == {"image": ["torch.uint8"], "background": ["torch.uint8"], "mask": ["torch.uint8"], "depth": ["torch.uint16"]}
    assert result["train"] == {"input": [[8, 6, 224, 224], "torch.float32"], "mask": [[8, 1, 224, 224], "torch.float32"],
                               "depth": [[8, 1, 224, 224], "torch.float32"], "depth_valid": [[8], "torch.bool"],
                               "depth_known": [[8, 1, 224, 224], "torch.bool"]}
    assert 0 < result["depth_range"][0] < result["depth_range"][1] < 100
    assert set(result["mask_values"]) <= {0.0, 1.0}


def _parse_plan(text: str) -> dict[str, set[str]]:
    found = {"add": set(), "change": set(), "delete": set()}
    for verb, path in re.findall(r"^  (add|change|delete)\s+(\S+)  ", text, flags=re.M):
        found[verb].add(path)
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@needs_olah
def test_push_dry_run_diffs_against_the_hub(hub, demo, tmp_path):
    _, env = hub
    env = {**env, "HF_TOKEN": SECRET, "PYTHONPATH": str(ROOT)}

    def dry_run(folder: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "generator", "push", str(folder), "--repo-id", REPO_ID, "--dry-run"],
                              env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    same = dry_run(demo)
    assert same.returncode == 0, same.stderr
    assert _parse_plan(same.stdout) == {"add": set(), "change": set(), "delete": set()}
    assert "would add 0 (0 B), change 0 (0 B), delete 0 (0 B)" in same.stdout

    # rebuilt with another seed and shard size: train goes from 3 shards to 2, the test shard keeps its name
    copy = tmp_path / "ds"
    shutil.copytree(demo, copy)
    args = [a for a in DEMO]
    args[args.index("--shard-size") + 1] = "40"
    assert main(["generate", "--out", str(copy), *args, "--seed", "1", "--overwrite"]) == 0
    assert (copy / "stats.json").is_file()
    assert main(["card", str(copy), "--repo-id", REPO_ID, "--license", "cc-by-4.0"]) == 0
    (copy / "data" / ".train-00000-of-00002.parquet.99.tmp").write_bytes(b"partial")
    (copy / "data" / "x.lock").write_text("")

    result = dry_run(copy)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    plan = _parse_plan(result.stdout)
    local = {p: b for p, b in _files(copy).items() if not p.endswith((".tmp", ".lock"))}
    remote = _files(demo)
    assert plan["add"] == set(local) - set(remote)
    assert plan["change"] == {p for p in set(local) & set(remote) if local[p] != remote[p]}
    assert plan["delete"] == {p for p in set(remote) - set(local) if "/" in p}
    assert plan["add"] >= {"data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"}
    assert plan["delete"] >= {f"data/train-0000{i}-of-00003.parquet" for i in range(3)}
    assert {"README.md", "manifest.json", "data/test-00000-of-00001.parquet"} <= plan["change"]  # git blob and LFS compare
    assert "nothing uploaded (--dry-run)" in result.stdout

    missing = subprocess.run([sys.executable, "-m", "generator", "push", str(copy), "--repo-id", "org/absent", "--dry-run"],
                             env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert missing.returncode == 0 and "does not exist yet" in missing.stdout
    assert _parse_plan(missing.stdout)["add"] == set(local)


# --- the training recipe on a local folder ----------------------------------


def test_training_loader_on_a_local_dataset(demo):
    import torch

    from generator.training import streaming_loader

    stats = json.loads((demo / "stats.json").read_text())
    loader = streaming_loader(demo, "test", batch_size=6, num_workers=0, shuffle_buffer=0)
    batches = [b for _, b in zip(range(3), loader)]
    assert len(batches) == 3
    batch = batches[0]
    assert batch["input"].shape == (6, 6, 224, 224) and batch["input"].dtype == torch.float32
    assert batch["depth_valid"].all()
    # undo the normalisation of the composite half: back in [0, 1]
    mean = torch.tensor(stats["kinds"]["image"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(stats["kinds"]["image"]["std"]).view(1, 3, 1, 1)
    pixels = batch["input"][:, 3:] * std + mean
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


def test_training_loader_needs_stats(tmp_path, demo):
    from generator.errors import UserError
    from generator.training import streaming_loader

    copy = tmp_path / "ds"
    shutil.copytree(demo, copy)
    (copy / "stats.json").unlink()
    with pytest.raises(UserError, match="stats.json does not exist"):
        streaming_loader(copy, "train")
    with pytest.raises(UserError, match="kinds.background"):
        streaming_loader(copy, "train", stats={"kinds": {"image": {"mean": [0, 0, 0], "std": [1, 1, 1]}}})
