"""The encoders of one sample, against the straightforward way, on demo data:

- masks and 16-bit depth: generator.pipeline.encode's greyscale PNG writer against PIL's PNG encoder at the same
  level (ms and bytes per image; both must decode to the same pixels);
- composites: a JPEG spliced from its background's MCUs with its exact statistics from a decode of the
  changed MCUs (jpeg_splice.py), against encoding the whole composite and decoding it whole for the
  statistics (ms per composite; the bytes and the statistics must be the same).

    python -m benchmarks.bench_encode                  # builds 2,000 demo samples in a temp folder
    python -m benchmarks.bench_encode --dataset DIR --samples 500
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


from benchmarks.common import decoded_samples
from generator.pipeline.shard import make_context
from generator.cli import main as cli
from generator.pipeline.encode import PNG_COMPRESS_LEVEL, encode_grey_png, encode_image, quantize_depth
from generator.pipeline.jpeg_splice import BackgroundJpeg, Box
from generator.config import BuildOptions, DepthPlan
from generator.pipeline.plan import plan_shards
from generator.pipeline.shard import groups, render_group
from generator.pipeline.moments import IMAGE, DatasetStats


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
    results["composite"] = measure_composites(args.samples, args.repeats)
    whole, spliced = results["composite"]["whole"], results["composite"]["spliced"]
    print(f"composite ({results['composite']['count']} JPEGs, q95): whole encode {whole['encode_ms']:.3f} ms, + whole decode for the "
          f"statistics {whole['total_ms']:.3f} ms; spliced {spliced['encode_ms']:.3f} ms, + decode of the changed MCUs {spliced['total_ms']:.3f} ms "
          f"({whole['total_ms'] / spliced['total_ms']:.2f}x faster)")
    print(json.dumps(results))


def demo_composites(count: int) -> list[tuple[np.ndarray, np.ndarray, Box]]:
    """(background, composite, mask box) of the first `count` samples of a 10 x 5 demo build, made by the
    generator's own plan and composite stages."""
    options = BuildOptions(demo=True, num_backgrounds=10, num_foregrounds=5)
    context, _ = make_context(options, DepthPlan.of(options))
    made = []
    for spec in plan_shards(context.grid, options):
        for group in groups(context.grid, spec.samples):
            background = context.sources.backgrounds[group.bg_id].rgb
            for rendered in render_group(context, group)[1]:
                x0, y0, x1, y1 = rendered.objects[0].bbox
                made.append((background, rendered.image, Box(y0, y1, x0, x1)))
                if len(made) == count:
                    return made
    return made


def measure_composites(count: int, repeats: int) -> dict:
    made = demo_composites(count)
    coded = {}  # one BackgroundJpeg per background, as a shard makes it (not timed: once per background)
    for background, _, _ in made:
        coded.setdefault(id(background), BackgroundJpeg(background, 95))
    timings = {"whole": {"encode_ms": [], "total_ms": []}, "spliced": {"encode_ms": [], "total_ms": []}}
    for _ in range(repeats):
        for with_statistics in (False, True):
            key = "total_ms" if with_statistics else "encode_ms"
            whole, spliced = DatasetStats(), DatasetStats()
            started = time.perf_counter()
            whole_bytes = []
            for _, image, _ in made:
                whole_bytes.append(encode_image(image, "jpeg", 95))
                if with_statistics:
                    whole.add_jpeg(IMAGE, whole_bytes[-1], (image.shape[1], image.shape[0]))
            timings["whole"][key].append((time.perf_counter() - started) / len(made) * 1e3)
            started = time.perf_counter()
            spliced_bytes = []
            for background, image, box in made:
                composite = coded[id(background)].composite(image, box)
                spliced_bytes.append(composite.to_bytes())
                if with_statistics:
                    moments = composite.moments()
                    spliced.add_image_moments(IMAGE, moments.sums, moments.squares, (image.shape[1], image.shape[0]), len(spliced_bytes[-1]))
            timings["spliced"][key].append((time.perf_counter() - started) / len(made) * 1e3)
            if spliced_bytes != whole_bytes or (with_statistics and whole.to_json() != spliced.to_json()):
                raise SystemExit("spliced composites differ from whole ones")
    best = {way: {key: round(min(values), 3) for key, values in keys.items()} for way, keys in timings.items()}
    return {"count": len(made), **best}


if __name__ == "__main__":
    main()
