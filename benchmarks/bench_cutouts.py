"""CPU cost per object of the cutouts command's steps around its models (README, Cut-outs from plain photos):
the trimap, the soft edge of --no-matting, the matting region's crop, resize and paste (with a stand-in model
that echoes the trimap, so no model time is counted), and the colour estimation with the crop, on a
disc-shaped object of a given size in a 12-megapixel photo. One thread, time.process_time, best of `--repeats`.

    python -m benchmarks.bench_cutouts                  # objects of 300 and 1200 px, best of 3
    python -m benchmarks.bench_cutouts --sizes 600 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import VitMatteImageProcessorPil  # noqa: E402

from generator.extract.cutout import make_cutout  # noqa: E402
from generator.extract.matte import Matter  # noqa: E402
from generator.extract.trimap import make_trimap, soft_alpha  # noqa: E402

PHOTO = (3000, 4000)


class TrimapEcho(torch.nn.Module):
    def forward(self, pixel_values):
        return type("Output", (), {"alphas": pixel_values[:, 3:4]})()


def best(step, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1200], help="object diameters in px")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (*PHOTO, 3), dtype=np.uint8)
    matter = Matter(TrimapEcho(), VitMatteImageProcessorPil(), torch.device("cpu"), torch.float32, batch_size=1)
    y, x = np.mgrid[: PHOTO[0], : PHOTO[1]]
    for size in args.sizes:
        mask = (y - PHOTO[0] / 2) ** 2 + (x - PHOTO[1] / 2) ** 2 < (size / 2) ** 2
        trimap = make_trimap(mask)
        alpha = matter([photo], [trimap])[0]
        steps = {
            "trimap": lambda: make_trimap(mask),
            "soft edge (--no-matting)": lambda: soft_alpha(mask),
            "matting around the model": lambda: matter([photo], [trimap]),
            "colours and crop": lambda: make_cutout(photo, alpha, "bench"),
        }
        for name, step in steps.items():
            print(f"object {size} px in a {PHOTO[1]}x{PHOTO[0]} photo: {name:26s} {1000 * best(step, args.repeats):7.1f} ms")


if __name__ == "__main__":
    main()
