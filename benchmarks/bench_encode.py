"""PNG writers for the masks and the 16-bit depth: generator.encode's own greyscale writer against
PIL's PNG encoder at the same zlib level, on masks and depth maps of a demo build: ms per image and bytes
per image, and a check that both decode to the same pixels.

    python benchmarks/bench_encode.py                  # builds 2,000 demo samples in a temp folder
    python benchmarks/bench_encode.py --dataset DIR --samples 500
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_pipeline import decoded_samples  # noqa: E402
from generator.cli import main as cli  # noqa: E402
from generator.encode import PNG_COMPRESS_LEVEL, encode_grey_png, quantize_depth  # noqa: E402


def pil_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def measure(encoder, arrays: list[np.ndarray], repeats: int) -> dict:
    """Best of `repeats` passes: ms per image; and mean bytes per image."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        encoded = [encoder(array) for array in arrays]
        best = min(best, time.perf_counter() - started)
    for array, png in zip(arrays, encoded):
        if not np.array_equal(np.asarray(Image.open(io.BytesIO(png))), array):
            raise SystemExit(f"{encoder.__name__} did not round-trip")
    return {"ms": round(best / len(arrays) * 1e3, 3), "bytes": round(float(np.mean([len(p) for p in encoded])), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="a built dataset (default: build 2,000 demo samples)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset
        if dataset is None:
            dataset = Path(tmp) / "demo"
            cli(["generate", "--demo", "--num-backgrounds", "10", "--num-foregrounds", "5", "--no-progress", "--out", str(dataset)])
        samples = decoded_samples(dataset, args.samples)
    kinds = {"mask": [mask for _, mask, _ in samples], "depth": [quantize_depth(depth)[0] for _, _, depth in samples]}
    results = {}
    for kind, arrays in kinds.items():
        results[kind] = {"pil": measure(pil_png, arrays, args.repeats), "ours": measure(encode_grey_png, arrays, args.repeats)}
        pil, ours = results[kind]["pil"], results[kind]["ours"]
        print(f"{kind:>5} ({len(arrays)} images): PIL {pil['ms']:.3f} ms, {pil['bytes']:,.0f} B; "
              f"encode_grey_png {ours['ms']:.3f} ms, {ours['bytes']:,.0f} B ({pil['ms'] / ours['ms']:.2f}x faster)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
