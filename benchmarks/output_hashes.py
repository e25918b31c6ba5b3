"""Build a few small datasets and print the sha256 of every file they hold, so that a change can say which
output bytes it changes and why (a pure refactoring changes none).

    python -m benchmarks.output_hashes                  # print "case/path sha256" lines
    python -m benchmarks.output_hashes --json FILE      # also save them
    python -m benchmarks.output_hashes --compare FILE   # list what differs from a saved run; exit 1 if any

Cases: the demo with `--depth scene` and `--depth none`, a tiny random DPT teacher (`--depth model`, one
torch thread), user-input photos with `.npy` depth (default placement, and `--placement uniform`), and the
Ray engine when Ray is installed. Each build runs `python -m generator` in a fresh process, as a user would.
Besides each file, every fg_bg column gets a digest of its values over all rows (`case/data#column`), so a
change that adds columns can show that the old ones kept their values.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SMALL = ["--bg-size", "64", "--placements", "4", "--shard-size", "50", "--no-progress"]
DEMO = ["--demo", "--num-backgrounds", "3", "--num-foregrounds", "3", *SMALL]


def tiny_teacher(folder: Path) -> Path:
    """A randomly initialised DPT saved like a Hub checkpoint (seeded, so its depth is reproducible)."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessorPil

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, image_size=64,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5], use_auxiliary_head=False, initializer_range=0.1,
    )
    processor = DPTImageProcessorPil(size={"height": 64, "width": 64}, keep_aspect_ratio=True, ensure_multiple_of=16, do_pad=True, size_divisor=32)
    DPTForDepthEstimation(config).eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def user_inputs(root: Path) -> list[str]:
    """Three photo-like backgrounds with a floor-like .npy depth each, and three RGBA cut-outs."""
    rng = np.random.default_rng(7)
    for name in ("bg", "fg", "depth"):
        (root / name).mkdir(parents=True)
    for i in range(1, 4):
        y, x = np.mgrid[0:60, 0:80] / 80
        rgb = rng.uniform(0, 255, 3) * (1 - x[..., None]) + rng.uniform(0, 255, 3) * y[..., None]
        rgb = np.clip(rgb / 2 + rng.normal(0, 12, rgb.shape) + 40, 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(root / "bg" / f"room_{i}.jpg", quality=95)
        np.save(root / "depth" / f"room_{i}.npy", np.linspace(8.0, 1.0, 60, dtype=np.float32)[:, None].repeat(80, 1))
        yy, xx = np.mgrid[0:60, 0:40]
        alpha = np.clip((1 - np.hypot((xx - 20) / 16, (yy - 30) / 27)) * 20, 0, 1) * 255
        rgba = np.dstack([rng.integers(0, 255, (60, 40, 3)), alpha]).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(root / "fg" / f"thing_{i}.png")
    return ["--backgrounds", str(root / "bg"), "--foregrounds", str(root / "fg"), "--background-depths", str(root / "depth")]


def cases(root: Path) -> dict[str, list[str]]:
    found = {
        "demo-scene": [*DEMO, "--workers", "2"],
        "demo-none": [*DEMO, "--depth", "none", "--image-format", "png"],
        "demo-model": [*DEMO, "--depth", "model", "--depth-model", str(tiny_teacher(root / "teacher")), "--workers", "2"],
        "user-scene": [*user_inputs(root / "inputs"), *SMALL],
        "user-uniform": [*user_inputs(root / "inputs-uniform"), *SMALL, "--placement", "uniform"],
    }
    try:
        import ray  # noqa: F401  (only whether it is installed)

        found["demo-ray"] = [*DEMO, "--engine", "ray", "--workers", "2"]
    except ImportError:
        print("Ray is not installed: the Ray case is left out", file=sys.stderr)
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(root: Path) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    found = {}
    for name, args in cases(root).items():
        out = root / name
        command = [sys.executable, "-m", "generator", "generate", "--out", str(out), *args]
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            found[f"{name}/{path.relative_to(out).as_posix()}"] = sha256(path)
        found.update({f"{name}/data#{column}": digest for column, digest in column_digests(out / "data").items()})
    return found


def column_digests(folder: Path) -> dict[str, str]:
    """A digest of each column's values over every row of the shards in `folder`, in file order."""
    import pyarrow.parquet as pq

    digests: dict[str, hashlib._Hash] = {}
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        for column in table.column_names:
            digests.setdefault(column, hashlib.sha256()).update(repr(table.column(column).to_pylist()).encode())
    return {column: digest.hexdigest() for column, digest in digests.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="save the hashes to this file")
    parser.add_argument("--compare", type=Path, help="compare with hashes saved by --json; exit 1 if any differ")
    args = parser.parse_args()
    # A fixed folder: the manifests record the input paths, so a random one would change their hashes.
    folder = Path(tempfile.gettempdir()) / "mono-depth-mask-output-hashes"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        found = hashes(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for name, digest in found.items():
        print(f"{name} {digest}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1) + "\n")
    if args.compare:
        saved = json.loads(args.compare.read_text())
        differ = sorted(k for k in saved.keys() | found.keys() if saved.get(k) != found.get(k))
        for name in differ:
            print(f"differs: {name}  {saved.get(name, 'absent')[:12]} -> {found.get(name, 'absent')[:12]}")
        print(f"{len(found) - len(differ)} of {len(found)} files identical; {len(differ)} differ")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
