"""Real heights of user foregrounds, for floor placement: `--fg-heights FILE` (CSV `name,height_m`, the name
being the file's stem, an optional header line, an optional third column such as the `category` that
`cutouts` writes) and `--fg-height M` for the ones it does not list."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import UserError


def read_heights(path: str | Path) -> dict[str, float]:
    """{name: metres} from a CSV of `name,height_m` rows; one line naming the row for anything else."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read --fg-heights {path}: {getattr(error, 'strerror', None) or error}") from None
    heights: dict[str, float] = {}
    for number, row in enumerate(rows, start=1):
        if not row or (number == 1 and len(row) > 1 and row[1].strip().lower() in ("height_m", "height")):
            continue
        if len(row) not in (2, 3):
            raise UserError(f"--fg-heights {path} line {number}: expected name,height_m[,category]; got {','.join(row)!r}")
        name, value = row[0].strip(), row[1].strip()
        try:
            height = float(value)
        except ValueError:
            height = math.nan
        if not (math.isfinite(height) and 0.01 <= height <= 100):
            raise UserError(f"--fg-heights {path} line {number}: height of {name!r} must be 0.01-100 metres; got {value!r}")
        heights[name] = height
    return heights


def assign_heights(foregrounds: list, heights_file: str | None, default: float) -> None:
    """Give every foreground its height: from the file where it is listed, else `default`."""
    heights = read_heights(heights_file) if heights_file else {}
    for foreground in foregrounds:
        foreground.height_m = heights.get(foreground.name, default)
