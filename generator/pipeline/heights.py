"""Real heights of user foregrounds, for floor placement: `--fg-heights FILE` (CSV `name,height_m`, an
optional header line, an optional third column such as the `category` that `cutouts` writes, the UTF-8
byte-order mark spreadsheets write allowed), then the typical height of a class named by a whole word of
the file's name (pipeline/classes.py), then `--fg-height M` for the rest. A name
is the file's stem or its whole name, in any case; a name that is no file of --foregrounds, or a file listed
twice, is refused: a silently unused row would draw the object at the default height."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import UserError
from .classes import find_class
from .matching import printable


def read_heights(path: str | Path) -> list[tuple[int, str, float]]:
    """(line number, name, metres) of each row of a CSV of `name,height_m` rows; one line naming the row
    for anything else."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read --fg-heights {path}: {getattr(error, 'strerror', None) or error}") from None
    heights = []
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
        heights.append((number, name, height))
    return heights


def heights_by_stem(path: str | Path, files: list[Path]) -> dict[str, float]:
    """{stem of a file of `files`, as stored (matching.printable): metres} from the CSV at `path`, each
    name matched to its file."""
    by_stem: dict[str, float] = {}
    line_of: dict[str, int] = {}
    for number, name, height in read_heights(path):
        stem = printable(_file_named(name, files, f"--fg-heights {path} line {number}").stem)
        if stem in line_of:
            raise UserError(f"--fg-heights {path} lists {stem!r} twice, lines {line_of[stem]} and {number}: keep one")
        by_stem[stem], line_of[stem] = height, number
    return by_stem


def _file_named(name: str, files: list[Path], where: str) -> Path:
    """The file whose stem or whole name (as stored) is `name`: as written, else ignoring case where only
    one fits."""
    exact = [f for f in files if name in (printable(f.stem), printable(f.name))]
    if exact:
        return exact[0]
    folded = name.casefold()
    found = [f for f in files if folded in (printable(f.stem).casefold(), printable(f.name).casefold())]
    if len(found) == 1:
        return found[0]
    if found:
        raise UserError(f"{where}: {name!r} matches {', '.join(printable(f.name) for f in found)} but for case: write it as one of them")
    raise UserError(f"{where}: no foreground file is named {name!r}: give a file's name (with or without its extension) from --foregrounds")


def assign_heights(foregrounds: list, files: list[Path], heights_file: str | None, default: float) -> None:
    """Give every foreground its height and category: the height from the file where it is listed, else the
    typical height of the class a whole word of its name names (`dog_3`, `two-chairs`; `carpet` is no car),
    else `default`; `height_source` says which (csv, class, default). `files`: every foreground file of the
    folder, the ones not used by this build included (a CSV may cover a larger set)."""
    heights = heights_by_stem(heights_file, files) if heights_file else {}
    for foreground in foregrounds:
        known = find_class(foreground.name)
        foreground.category = known.name if known else None
        if foreground.name in heights:
            foreground.height_m, foreground.height_source = heights[foreground.name], "csv"
        elif known:
            foreground.height_m, foreground.height_source = known.height_m, "class"
        else:
            foreground.height_m, foreground.height_source = default, "default"
