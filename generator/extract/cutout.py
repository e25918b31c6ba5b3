"""Stages 4 and 5: the object's true colours under partial alpha (the project's foreground-colour
estimation, so none of the photo's background shows at the edge), then the RGBA cropped to its alpha."""

from __future__ import annotations

import numpy as np

from ..pipeline.matting import decontaminate
from ..pipeline.sources import crop_to_alpha


def make_cutout(photo: np.ndarray, alpha: np.ndarray, origin: str) -> np.ndarray:
    """(H, W, 3) photo and (H, W) alpha -> the RGBA cut-out, cropped to the alpha's bounding box."""
    rgba = np.dstack([photo, alpha])
    cropped = crop_to_alpha(rgba, origin)  # first: the estimation's blur reaches only the object's own surroundings
    return decontaminate(np.ascontiguousarray(cropped))
