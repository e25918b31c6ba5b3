"""Output to an fsspec URL: the same files, bytes and layout as a local folder, published atomically."""

from __future__ import annotations

import sys

import fsspec
from tests.conftest import SMALL, generate, input_args

from generator.cli import main
from generator.output.folder import sha256_file


def local_files(out):
    return {p.relative_to(out).as_posix(): sha256_file(p) for p in sorted(out.rglob("*")) if p.is_file()}


def test_file_url_gives_the_same_files_as_a_local_folder(inputs, tmp_path, local_reference):
    url = (tmp_path / "ds").as_uri()
    assert url.startswith("file://")
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--workers", "2"]) == 0
    files = local_files(tmp_path / "ds")
    assert files == local_files(local_reference)  # shards, input configs, manifest and card
    assert not [name for name in files if name.rsplit("/", 1)[-1].startswith(".")]  # no temporary left


def test_file_url_rerun_and_other_options(inputs, tmp_path, capsys):
    url = (tmp_path / "ds").as_uri()
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--workers", "1"]) == 0
    before = local_files(tmp_path / "ds")
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--workers", "1"]) == 0
    assert local_files(tmp_path / "ds") == before
    capsys.readouterr()
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--seed", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--seed", "3", "--overwrite"]) == 0
    assert local_files(tmp_path / "ds") != before


def test_memory_url_single_process(inputs, local_reference):
    """memory:// stands in for an object store (a single put per file) in one process."""
    url = "memory://mono-depth-mask-test/ds"
    fs = fsspec.filesystem("memory")
    try:
        assert main(["generate", "--out", url, *input_args(inputs), *SMALL, "--workers", "1"]) == 0
        remote = {}
        for path in fs.find("/mono-depth-mask-test/ds"):
            import hashlib

            remote[path.split("/mono-depth-mask-test/ds/", 1)[1]] = hashlib.sha256(fs.cat_file(path)).hexdigest()
        assert remote == local_files(local_reference)
    finally:
        if fs.exists("/mono-depth-mask-test"):
            fs.rm("/mono-depth-mask-test", recursive=True)


def test_memory_url_refuses_more_than_one_process(inputs, capsys):
    assert main(["generate", "--out", "memory://x/ds", *input_args(inputs), *SMALL, "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "memory://" in err[0]


def test_engine_ray_without_ray_says_how_to_install(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--engine", "ray") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'mono-depth-mask[ray]'" in err[0], err
    assert not (tmp_path / "ds").exists()


def test_ray_flags_need_the_ray_engine(inputs, tmp_path, capsys):
    assert generate(tmp_path / "ds", *input_args(inputs), *SMALL, "--gpus-per-worker", "1") == 2
    assert "--engine ray" in capsys.readouterr().err

