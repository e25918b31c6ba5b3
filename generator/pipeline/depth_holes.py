"""Background depth with holes: pixels a stereo rig or depth sensor could not measure.

A depth file marks a hole with 0 (the sensors' convention, in `.npy` and in 16-bit PNG), NaN or an infinity
(`.npy`). Inside the pipeline a hole is NaN in the float32 map, so that every comparison with it is false:
the floor fit and the contact pixels take only known pixels (geometry.py), and an object is never hidden
by an unknown pixel (render.occluded: NaN is never nearer). Stored maps mark holes per pixel in the
`depth_known` column (encode.py), null for a map without holes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import BadInput

# What the card says of a build from depth files.
CARD_TEXT = (" Holes in the depth files (0, NaN or inf) are unknown pixels, marked in `depth_known`: the floor is fitted "
             "to known pixels only, no object stands on a hole, and a hole hides nothing.")
# A map must know at least this share of its pixels: fewer cannot show a floor or a scene.
MIN_KNOWN_FRACTION = 0.01
# A resized pixel is known where at least this share of its resampling weight falls on known pixels.
_KNOWN_WEIGHT = 0.5


def mark_holes(depth: np.ndarray, path) -> np.ndarray:
    """float32 metres with every hole (0, NaN, +-inf) as NaN; negative depth is refused (it is a wrong
    sign convention, not a missing value), and so is a map that knows too few pixels to be used."""
    depth = np.array(depth, dtype=np.float32)
    holes = ~np.isfinite(depth) | (depth == 0)
    if (depth[~holes] < 0).any():
        raise BadInput(f"{path}: depth holds negative values; depth must be positive metres (0, NaN or inf mark a hole)", str(path))
    depth[holes] = np.nan
    require_known(~holes, path)
    return depth


def require_known(known: np.ndarray, path) -> None:
    count = int(np.count_nonzero(known))
    if count < max(1, MIN_KNOWN_FRACTION * known.size):
        raise BadInput(f"{path}: depth is known at {count} of {known.size} pixels (0, NaN and inf are holes); "
                       f"at least {MIN_KNOWN_FRACTION:.0%} must be known", str(path))


def crop_resize(depth: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The map cropped to `box` and resized (bilinear) to size x size. With holes, each resized pixel is
    the weighted mean of the known pixels under it, and a hole where they carry less than half the weight:
    a hole never bleeds into a known depth, nor a depth into a hole."""
    known = np.isfinite(depth)
    if known.all():
        return _resized(depth, box, size)
    weight = _resized(known.astype(np.float32), box, size)
    total = _resized(np.where(known, depth, np.float32(0)), box, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        resized = total / weight
    resized[~(weight >= _KNOWN_WEIGHT)] = np.nan
    return resized.astype(np.float32)


def _resized(values: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), "F").crop(box)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))

