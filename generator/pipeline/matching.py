"""Which input files there are and which mask or depth file belongs to which image: by the same stem, or
by number only where both folders are numbered alike, never by a guess."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import BadInput, UserError, describe_os_error

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
DEPTH_SUFFIXES = {".png", ".npy", ".tif", ".tiff"}


def natural_key(name: str) -> list:
    """Sort key so that img_2 comes before img_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_files(folder: str, what: str, suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files of `folder` with one of `suffixes`, in natural order; refuses missing/empty folders and
    two files with the same stem (their masks and depths could not be matched)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} folder {folder} is a file, not a folder: give the folder that holds the files")
    if not path.is_dir():
        raise UserError(f"{what} folder not found: {folder}")
    try:
        files = [p for p in path.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()]
    except OSError as error:  # an input problem (e.g. no permission): exit 2, not an output failure
        raise UserError(f"{describe_os_error(error, folder, 'read')}; make the {what} folder readable") from None
    if not files:
        raise UserError(f"{what} folder {folder} holds no {'/'.join(sorted(suffixes))} files")
    files.sort(key=lambda p: natural_key(p.name))
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise UserError(f"two {what} files share the name {file.stem!r}: {seen[file.stem].name}, {file.name}")
        seen[file.stem] = file
    return files


def printable(text: str) -> str:
    """A file name (or a message naming one) as valid UTF-8 text, the form stored in Parquet, JSON and the
    card: the bytes of a name that is not UTF-8, which Python keeps as lone surrogates, written as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def unread_files(folder: str, suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    """The files of `folder` (a readable folder, as list_files checked) that it leaves out for their type,
    such as a GIF or a text file, in natural order: listed as skipped, never silently ignored. Hidden files
    (.DS_Store) are not inputs."""
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() not in suffixes and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def numbered(stem: str) -> tuple[str, int] | None:
    """(prefix, number) of a stem that ends in a number: fg_img_7 -> ("fg_img_", 7)."""
    match = re.fullmatch(r"(.*?)(\d+)", stem)
    return (match.group(1), int(match.group(2))) if match else None


def numbered_layout(files: list[Path]) -> dict[int, Path] | None:
    """{number: file} when every file is one prefix + a number unique in the folder (fg_img_1, fg_img_2,
    ...), else None: only then does a number name a file without doubt."""
    parts = [numbered(f.stem) for f in files]
    if not parts or None in parts or len({prefix for prefix, _ in parts}) != 1:
        return None
    by_number = {number: f for (_, number), f in zip(parts, files)}
    return by_number if len(by_number) == len(files) else None


def match_by_stem_or_number(items: list[Path], candidates: list[Path]) -> list[Path | None]:
    """For each item, the candidate with the same stem; else, when both folders are numbered layouts
    (fg_img_7.jpg <-> mask_img_7.jpg), the candidate with the same number; else None (missing). A file
    that merely ends in the same number is never taken: it may belong to another input (room_5, hall_5)."""
    by_stem = {c.stem: c for c in candidates}
    item_numbers, candidate_numbers = numbered_layout(items), numbered_layout(candidates)
    by_number = candidate_numbers if item_numbers is not None and candidate_numbers is not None else {}
    matched = []
    for item in items:
        found = by_stem.get(item.stem)
        if found is None and by_number:
            found = by_number.get(numbered(item.stem)[1])
        matched.append(found)
    return matched


def missing_match(what: str, item: Path) -> BadInput:
    return BadInput(
        f"no {what} for {item.name}: name it {item.stem}.* (or number both folders alike, e.g. "
        f"fg_img_7 <-> mask_img_7)", str(item))
