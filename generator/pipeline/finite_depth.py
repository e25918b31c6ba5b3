"""A teacher's depth maps must be finite before anything stores them: a NaN or an infinity (what a
half-precision overflow gives) would be written as the map's `depth_min`/`depth_max`, pass for a label
and break every reader. The check costs nothing: every map's range is computed anyway."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import UserError


def finite_ranges(mins: np.ndarray, maxs: np.ndarray) -> np.ndarray:
    """Per map: its range is finite and its span fits in float32, where quantisation subtracts (a map
    holding NaN has NaN for its minimum and maximum)."""
    with np.errstate(over="ignore", invalid="ignore"):
        span = np.asarray(maxs, np.float32) - np.asarray(mins, np.float32)
    return np.isfinite(mins) & np.isfinite(maxs) & np.isfinite(span)


def require_finite(mins: np.ndarray, maxs: np.ndarray, model: str, dtype: str, where: Callable[[int], str]) -> None:
    """One line naming the model and the first map (`where(i)` says which input it is) whose depth is not
    finite, and the way out: full precision, or another model if it already ran in it."""
    bad = np.flatnonzero(~finite_ranges(mins, maxs))
    if bad.size == 0:
        return
    hint = ("rerun with --dtype fp32 (half precision overflows)" if dtype != "fp32"
            else "it does so in fp32 too: use another depth model")
    raise UserError(
        f"depth model '{model}' gave depth that is not finite (NaN or infinity) for {where(int(bad[0]))} "
        f"({bad.size} of {len(mins)} maps); nothing of it was written: {hint}"
    )


def nth_image(index: int) -> str:
    return f"image {index}"
