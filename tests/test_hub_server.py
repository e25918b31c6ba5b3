"""A dataset folder published as a Hub dataset repo works with the real clients.

The repo is served by olah (offline, local git mirror) on 127.0.0.1; every client
call below goes through unmodified huggingface_hub / datasets code, in a fresh
interpreter whose HF_ENDPOINT points at the server (see tests/hub_server.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pytest

from tests.hub_server import _DIRECT, HAVE_OLAH, start_olah, http_get, hub_client_env, run_hub_client, serve_dataset_repo

pytestmark = pytest.mark.skipif(not HAVE_OLAH, reason="olah is not installed (pip install olah); needed to serve a local HF Hub")

REPO_ID = "org/name"
IMAGE_SIDE = 8
# rows per parquet file, by repo path; train has two shards so that two
# DataLoader workers each get one.
SHARDS = {
    "data/train-00000-of-00002.parquet": range(0, 6),
    "data/train-00001-of-00002.parquet": range(6, 10),
    "data/test-00000-of-00001.parquet": range(100, 104),
    "backgrounds/train-00000-of-00001.parquet": range(200, 203),
}
README = """\
---
configs:
- config_name: fg_bg
  default: true
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: test
    path: data/test-*.parquet
- config_name: backgrounds
  data_files:
  - split: train
    path: backgrounds/train-*.parquet
---
# org/name

Tiny test dataset.
"""


def _png(value: int, side: int = IMAGE_SIDE, noise: bool = False) -> bytes:
    import numpy as np
    from PIL import Image

    if noise:
        arr = np.random.default_rng(value).integers(0, 256, (side, side, 3), dtype=np.uint8)
    else:
        arr = np.full((side, side, 3), value % 256, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _write_shard(path: Path, idx, side: int = IMAGE_SIDE, noise: bool = False) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = datasets.Features({"image": datasets.Image(), "idx": datasets.Value("int64")})
    table = pa.Table.from_pydict(
        {"image": [{"bytes": _png(i, side, noise), "path": None} for i in idx], "idx": list(idx)},
        schema=features.arrow_schema,  # embeds the HF features in the schema metadata
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=2)


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    for rel, idx in SHARDS.items():
        _write_shard(root / rel, idx)
    (root / "README.md").write_text(README)
    return root


@pytest.fixture(scope="module")
def hub(dataset_folder, tmp_path_factory):
    """The dataset served with its Parquet files stored as git-LFS objects, as on the Hub."""
    tmp = tmp_path_factory.mktemp("hub_lfs")
    with serve_dataset_repo(dataset_folder, REPO_ID, tmp, lfs_patterns=["*.parquet"]) as endpoint:
        yield endpoint, hub_client_env(endpoint, tmp / "client")


def test_load_dataset_downloads_both_configs(hub):
    endpoint, env = hub
    result = run_hub_client(
        """
        import os
        from datasets import load_dataset
        from PIL import Image
        ds = load_dataset("org/name")
        bg = load_dataset("org/name", "backgrounds")
        def summary(d):
            return {
                split: {
                    "idx": sorted(d[split]["idx"]),
                    "image_types": sorted({type(r["image"]).__name__ for r in d[split]}),
                    "is_pil": all(isinstance(r["image"], Image.Image) for r in d[split]),
                    "sizes": sorted({r["image"].size for r in d[split]}),
                    "features": {k: type(v).__name__ for k, v in d[split].features.items()},
                }
                for split in d
            }
        emit({"default": summary(ds), "backgrounds": summary(bg), "endpoint": os.environ["HF_ENDPOINT"],
              "cache_files": ds["train"].cache_files[0]["filename"]})
        """,
        env,
    )
    assert result["endpoint"] == endpoint
    default = result["default"]
    assert set(default) == {"train", "test"}
    assert default["train"]["idx"] == list(range(10))
    assert default["test"]["idx"] == list(range(100, 104))
    for split in default.values():
        assert split["is_pil"], split
        assert split["sizes"] == [[IMAGE_SIDE, IMAGE_SIDE]]
        assert split["features"] == {"image": "Image", "idx": "Value"}
    assert set(result["backgrounds"]) == {"train"}
    assert result["backgrounds"]["train"]["idx"] == list(range(200, 203))
    assert result["backgrounds"]["train"]["is_pil"]
    # the prepared Arrow data lives in the private cache, not the user's
    assert result["cache_files"].startswith(env["HF_DATASETS_CACHE"])


def test_load_dataset_streaming_and_shuffle(hub):
    _, env = hub
    result = run_hub_client(
        """
        from datasets import load_dataset
        from PIL import Image
        ds = load_dataset("org/name", streaming=True)
        train = [r["idx"] for r in ds["train"]]
        first = next(iter(ds["test"]))
        # (each pass over a shuffled multi-shard stream ends with datasets' fixed 5 s
        # SLEEP_TIME_ON_THREADS_SHUTDOWN, so iterate it only once)
        shuffled = [r["idx"] for r in ds["train"].shuffle(buffer_size=4, seed=42)]
        bg = [r["idx"] for r in load_dataset("org/name", "backgrounds", split="train", streaming=True)]
        emit({"splits": sorted(ds), "train": train, "shuffled": shuffled,
              "test_first_is_pil": isinstance(first["image"], Image.Image), "test_first_size": first["image"].size,
              "bg": bg})
        """,
        env,
    )
    assert result["splits"] == ["test", "train"]
    assert result["train"] == list(range(10))
    assert result["test_first_is_pil"] and result["test_first_size"] == [IMAGE_SIDE, IMAGE_SIDE]
    assert sorted(result["shuffled"]) == list(range(10))
    assert result["shuffled"] != list(range(10))
    assert result["bg"] == list(range(200, 203))


def test_streaming_dataloader_with_two_workers(hub):
    _, env = hub
    result = run_hub_client(
        """
        import os, torch
        from torch.utils.data import DataLoader, get_worker_info
        from datasets import load_dataset

        def worker_init(_):
            # each worker must still talk to the local server
            assert os.environ["HF_ENDPOINT"].startswith("http://127.0.0.1:"), os.environ.get("HF_ENDPOINT")

        if __name__ == "__main__":
            ds = load_dataset("org/name", streaming=True)["train"].with_format("torch")
            loader = DataLoader(ds, batch_size=3, num_workers=2, worker_init_fn=worker_init)
            batches = list(loader)
            emit({
                "n_shards": ds.num_shards,
                "idx": sorted(int(i) for b in batches for i in b["idx"]),
                "image_shapes": sorted({tuple(b["image"].shape[1:]) for b in batches}),
                "image_dtypes": sorted({str(b["image"].dtype) for b in batches}),
                "batch_sizes": sorted(len(b["idx"]) for b in batches),
            })
        """,
        env,
    )
    assert result["n_shards"] == 2
    assert result["idx"] == list(range(10))
    assert result["image_shapes"] == [[3, IMAGE_SIDE, IMAGE_SIDE]]  # datasets 5 torch formatter: CHW
    assert result["image_dtypes"] == ["torch.uint8"]
    assert sum(result["batch_sizes"]) == 10 and len(result["batch_sizes"]) >= 4  # one stream per worker


def test_file_metadata_lfs(hub, dataset_folder):
    """Which per-file fields olah returns for a repo whose Parquet files are LFS objects."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    endpoint, _ = hub
    api = HfApi(endpoint=endpoint, token=False)
    tree = {f.path: f for f in api.list_repo_tree(REPO_ID, repo_type="dataset", recursive=True)}
    assert {p for p, f in tree.items() if isinstance(f, RepoFolder)} == {"data", "backgrounds"}
    files = {p: f for p, f in tree.items() if isinstance(f, RepoFile)}
    assert set(files) == {"README.md", ".gitattributes", *SHARDS}
    for rel in SHARDS:
        content = (dataset_folder / rel).read_bytes()
        f = files[rel]
        assert f.size == len(content)
        assert f.lfs is not None and f.lfs.sha256 == hashlib.sha256(content).hexdigest()
        assert f.lfs.size == len(content)
        assert f.blob_id and len(f.blob_id) == 40  # sha1 of the pointer blob
    readme = (dataset_folder / "README.md").read_bytes()
    assert files["README.md"].lfs is None
    assert files["README.md"].size == len(readme)
    assert files["README.md"].blob_id == _git_blob_sha1(readme)

    infos = {f.path: f for f in api.get_paths_info(REPO_ID, ["README.md", *SHARDS, "missing.txt"], repo_type="dataset")}
    assert set(infos) == {"README.md", *SHARDS}  # missing paths are just left out
    for rel in SHARDS:
        assert infos[rel].lfs.sha256 == files[rel].lfs.sha256 and infos[rel].size == files[rel].size
    assert infos["README.md"].blob_id == _git_blob_sha1(readme)

    info = api.dataset_info(REPO_ID, revision="main", files_metadata=True)
    assert info.card_data["configs"][0]["config_name"] == "fg_bg"
    assert {s.rfilename for s in info.siblings} == set(files)
    # olah's mirror answers repo info from git without per-file sizes/blob ids
    assert all(s.size is None and s.blob_id is None and s.lfs is None for s in info.siblings)
    # olah 0.5.x offline: repo info *without* a revision is only answered from its
    # download cache, never from a local mirror.
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(REPO_ID)


def test_plain_git_blobs_via_fixture(hub_endpoint, dataset_folder):
    """Parquet committed as regular git blobs; `hub_endpoint` points os.environ at the server."""
    from huggingface_hub import HfApi

    endpoint = hub_endpoint(dataset_folder, "other-org/plain")
    assert os.environ["HF_ENDPOINT"] == endpoint and "HF_HUB_OFFLINE" not in os.environ
    api = HfApi(endpoint=endpoint, token=False)
    for f in api.get_paths_info("other-org/plain", list(SHARDS), repo_type="dataset"):
        content = (dataset_folder / f.path).read_bytes()
        assert f.lfs is None
        assert f.size == len(content)
        assert f.blob_id == _git_blob_sha1(content)

    result = run_hub_client(
        """
        from datasets import load_dataset
        ds = load_dataset("other-org/plain", split="test")
        st = load_dataset("other-org/plain", split="test", streaming=True)
        emit({"idx": list(ds["idx"]), "streamed": [r["idx"] for r in st]})
        """,
        os.environ,
    )
    assert result == {"idx": list(range(100, 104)), "streamed": list(range(100, 104))}


def test_harness_reports_startup_failure_and_stops_server(tmp_path):
    (tmp_path / "mirrors").mkdir()
    with pytest.raises(TimeoutError, match=r"(?s)did not answer .*org/missing.*HTTP 401.*olah output") as exc:
        with start_olah(tmp_path / "mirrors", tmp_path / "olah", probe_repo_id="org/missing", startup_timeout=3):
            pass
    assert "Uvicorn running on http://127.0.0.1:" in str(exc.value)


# --- olah limitation worked around by the harness: range requests -------------


def test_resolve_honours_single_range_requests(hub, dataset_folder):
    """olah 0.5.x ignores `Range` on mirror files; tests/olah_with_ranges.py adds it (206 + Content-Range)."""
    endpoint, _ = hub
    rel = "data/train-00000-of-00002.parquet"
    url = f"{endpoint}/datasets/{REPO_ID}/resolve/main/{rel}"
    content = (dataset_folder / rel).read_bytes()
    size = len(content)
    for header, first, last in [("bytes=4-11", 4, 11), (f"bytes={size - 8}-", size - 8, size - 1),
                                ("bytes=-8", size - 8, size - 1), (f"bytes=10-{size + 100}", 10, size - 1)]:
        status, headers, body = http_get(url, {"Range": header})
        assert status == 206, header
        assert headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert int(headers["content-length"]) == last - first + 1
        assert body == content[first:last + 1]
    status, headers, body = http_get(url, {"Range": f"bytes={size}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{size}"
    # no Range, or several ranges: the whole file, as olah answers it
    for extra in ({}, {"Range": "bytes=0-1,4-5"}):
        status, headers, body = http_get(url, extra)
        assert status == 200 and body == content
    # HEAD unchanged
    req = urllib.request.Request(url, method="HEAD", headers={"Range": "bytes=4-11"})
    with _DIRECT.open(req, timeout=10) as r:
        assert r.status == 200 and int(r.headers["content-length"]) == size


def test_parse_range():
    from tests.olah_with_ranges import parse_range

    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    assert parse_range("bytes=3-2", 10) is None
    assert parse_range("bytes=10-", 10) is None
    with pytest.raises(ValueError):
        parse_range("bytes=-", 10)


def test_streaming_shard_larger_than_footer_read(tmp_path):
    """HfFileSystem reads the Parquet footer with a range request when the file is larger than pyarrow's
    64 KiB footer read: fails against bare olah 0.5.x, works through the harness's range middleware."""
    folder = tmp_path / "big"
    _write_shard(folder / "data/train-00000-of-00001.parquet", range(6), side=128, noise=True)
    assert (folder / "data/train-00000-of-00001.parquet").stat().st_size > 64 * 1024
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n")
    with serve_dataset_repo(folder, "org/big", tmp_path / "hub", lfs_patterns=["*.parquet"]) as endpoint:
        result = run_hub_client(
            """
            from datasets import load_dataset
            emit([r["idx"] for r in load_dataset("org/big", split="train", streaming=True)])
            """,
            hub_client_env(endpoint, tmp_path / "client"),
        )
    assert result == list(range(6))
