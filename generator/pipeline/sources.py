"""Stage 1, sources: read backgrounds, foregrounds, masks and background depths into arrays, once.

Backgrounds come out as RGB squares of `bg_size`, foregrounds as tight RGBA cut-outs whose longest side is
`fg_size`. Every unreadable or unusable file is refused here, named, before any work starts.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadInput, UserError
from ..config import DEMO_BACKGROUNDS, DEMO_FOREGROUNDS, BuildOptions
from ..threads import ordered_map

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
DEPTH_SUFFIXES = {".png", ".npy", ".tif", ".tiff"}
# 16-bit PNG background depths are read as millimetres, the common convention (NYU, ScanNet).
DEPTH_PNG_METRES_PER_UNIT = 0.001


@dataclass
class Background:
    name: str
    rgb: np.ndarray  # (S, S, 3) uint8
    depth: np.ndarray | None  # (S, S) float32, metres, or None
    sha256: tuple[str, ...] = ()  # of the files it was read from (image, depth), as read: inputs known by content


@dataclass
class Foreground:
    name: str
    rgba: np.ndarray  # (h, w, 4) uint8, cropped to alpha > 0, max(h, w) == fg_size
    sha256: tuple[str, ...] = ()  # of the files it was read from (image, mask)


@dataclass
class Sources:
    backgrounds: list[Background]
    foregrounds: list[Foreground]
    # Bad files left out with --skip-bad-inputs: {"input": "background", "file": path, "reason": message}.
    skipped: list[dict] = field(default_factory=list)

    @property
    def has_depth(self) -> bool:
        return all(bg.depth is not None for bg in self.backgrounds)


def load_sources(options: BuildOptions, skip_bad: bool = False, threads: int = 1) -> Sources:
    """Every input, decoded, on up to `threads` threads. A bad file (`BadInput`) stops the build with one
    line naming it, or with `skip_bad` is left out and recorded in `Sources.skipped`; the first N of --num-*
    are then the first N usable files."""
    if options.demo:
        return _demo_sources(options, threads)
    skipped: list[dict] = []
    backgrounds = _load_backgrounds(options, skip_bad, skipped, threads)
    foregrounds = _load_foregrounds(options, skip_bad, skipped, threads)
    return Sources(backgrounds, foregrounds, skipped)


def _load_each(what: str, items: list, limit: int | None, load, skip_bad: bool, skipped: list[dict], threads: int) -> list:
    """load(*item) for the items in order, on threads, until `limit` loaded; a BadInput stops the build
    (the first in file order) or with `skip_bad` is recorded and the next file is tried."""
    loaded: list = []
    pending = list(items)
    while pending and (limit is None or len(loaded) < limit):
        wanted = len(pending) if limit is None else limit - len(loaded)
        batch, pending = pending[:wanted], pending[wanted:]
        for item, outcome in zip(batch, ordered_map(lambda item: _attempt(load, item), batch, threads)):
            if not isinstance(outcome, BadInput):
                loaded.append(outcome)
            elif skip_bad:
                skipped.append({"input": what, "file": str(item[0]), "reason": str(outcome)})
            else:
                raise outcome
    if not loaded:
        raise UserError(f"no usable {what} file: every one was bad and skipped")
    return loaded


def _attempt(load, item: tuple):
    try:
        return load(*item)
    except BadInput as error:
        return error


# --- listing ----------------------------------------------------------------------------------------


def natural_key(name: str) -> list:
    """Sort key so that img_2 comes before img_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_files(folder: str, what: str, suffixes: set[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files of `folder` with one of `suffixes`, in natural order; refuses missing/empty folders and
    two files with the same stem (their masks and depths could not be matched)."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"{what} folder not found: {folder}")
    files = [p for p in path.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()]
    if not files:
        raise UserError(f"{what} folder {folder} holds no {'/'.join(sorted(suffixes))} files")
    files.sort(key=lambda p: natural_key(p.name))
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise UserError(f"two {what} files share the name {file.stem!r}: {seen[file.stem].name}, {file.name}")
        seen[file.stem] = file
    return files


def trailing_number(stem: str) -> int | None:
    match = re.search(r"(\d+)$", stem)
    return int(match.group(1)) if match else None


def match_by_stem_or_number(items: list[Path], candidates: list[Path], what: str, missing_ok: bool = False) -> list[Path | None]:
    """For each item, the candidate with the same stem, else the one with the same trailing number
    (fg_img_7.jpg <-> mask_img_7.jpg, the layout earlier attempts used)."""
    by_stem = {c.stem: c for c in candidates}
    by_number: dict[int, Path] = {}
    for c in candidates:
        number = trailing_number(c.stem)
        if number is not None:
            by_number.setdefault(number, c)
    matched = []
    for item in items:
        found = by_stem.get(item.stem)
        if found is None and trailing_number(item.stem) is not None:
            found = by_number.get(trailing_number(item.stem))
        if found is None and not missing_ok:
            raise BadInput(f"no {what} for {item.name}: expected {item.stem}.* or a file ending in the same number")
        matched.append(found)
    return matched


# --- decoding ---------------------------------------------------------------------------------------


# warnings.catch_warnings swaps the process-wide filters: the loading threads take turns with it.
_WARNINGS = threading.Lock()


def read_input(path: Path, digests: list[str] | None) -> bytes:
    """The file's bytes, read once; their sha256 is appended to `digests`."""
    data = path.read_bytes()
    if digests is not None:
        digests.append(hashlib.sha256(data).hexdigest())
    return data


def open_image(path: Path, digests: list[str] | None = None) -> Image.Image:
    """Fully decoded image with EXIF orientation applied; one-line error for anything unreadable. The
    sha256 of the bytes decoded is appended to `digests`."""
    try:
        data = read_input(path, digests)
        with _WARNINGS, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(data))  # the header only: PIL's size (bomb) check is made here
            except UnidentifiedImageError:
                raise UnidentifiedImageError("cannot identify image file") from None
        with image:
            image.load()
            return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadInput(f"{path}: image is too large to be safe to decode (decompression-bomb guard)", str(path)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadInput(f"cannot read image {path}: {error}", str(path)) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any mode; 16-bit greyscale is scaled down instead of clipped to white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.int64)
        scale = 257.0 if array.max(initial=0) > 255 else 1.0
        return Image.fromarray(np.clip(array / scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def center_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


# --- backgrounds ------------------------------------------------------------------------------------


def _load_backgrounds(options: BuildOptions, skip_bad: bool, skipped: list[dict], threads: int) -> list[Background]:
    files = list_files(options.backgrounds, "background")
    if not skip_bad:
        files = files[: options.num_backgrounds]
    depth_files: list[Path | None] = [None] * len(files)
    if options.background_depths:
        candidates = list_files(options.background_depths, "background depth", DEPTH_SUFFIXES)
        depth_files = match_by_stem_or_number(files, candidates, "background depth", missing_ok=True)

    def load(file: Path, depth: Path | None) -> Background:
        if options.background_depths and depth is None:
            raise BadInput(f"no background depth for {file.name}: expected {file.stem}.* or a file ending in the same number", str(file))
        return _load_background(file, depth, options.bg_size)

    return _load_each("background", list(zip(files, depth_files)), options.num_backgrounds, load, skip_bad, skipped, threads)


def _load_background(path: Path, depth_path: Path | None, size: int) -> Background:
    digests: list[str] = []
    image = open_image(path, digests)
    box = center_square_box(*image.size)
    # Crop, then resize: a resize with box= would let the filter reach pixels outside the square.
    rgb = to_rgb(image.crop(box)).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    depth = None
    if depth_path is not None:
        depth = _read_depth(depth_path, digests)
        if depth.shape != (image.height, image.width):
            raise BadInput(f"{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]}, its background {path.name} is {image.width}x{image.height}")
        depth = np.asarray(Image.fromarray(depth, "F").crop(box).resize((size, size), Image.Resampling.BILINEAR))
    return Background(path.stem, np.asarray(rgb, dtype=np.uint8), depth, tuple(digests))


def _read_depth(path: Path, digests: list[str] | None = None) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            depth = np.load(io.BytesIO(read_input(path, digests)), allow_pickle=False)  # never unpickle data
        except (OSError, ValueError) as error:
            raise BadInput(f"cannot read depth {path}: {error}", str(path)) from None
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
            raise BadInput(f"{path}: depth must be a 2-D array of numbers, got {depth.dtype} of shape {depth.shape}", str(path))
        depth = depth.astype(np.float32)
    else:
        depth = np.asarray(open_image(path, digests), dtype=np.float32) * DEPTH_PNG_METRES_PER_UNIT
    if not np.isfinite(depth).all():
        raise BadInput(f"{path}: depth holds NaN or infinite values", str(path))
    return depth


# --- foregrounds ------------------------------------------------------------------------------------


def _load_foregrounds(options: BuildOptions, skip_bad: bool, skipped: list[dict], threads: int) -> list[Foreground]:
    files = list_files(options.foregrounds, "foreground")
    if not skip_bad:
        files = files[: options.num_foregrounds]
    mask_files: list[Path | None] = [None] * len(files)
    if options.masks:
        mask_files = match_by_stem_or_number(files, list_files(options.masks, "mask"), "mask", missing_ok=True)
    load = lambda f, m: _load_foreground(f, m, options)  # noqa: E731
    return _load_each("foreground", list(zip(files, mask_files)), options.num_foregrounds, load, skip_bad, skipped, threads)


def _load_foreground(path: Path, mask_path: Path | None, options: BuildOptions) -> Foreground:
    if options.masks and mask_path is None:
        raise BadInput(f"no mask for {path.name}: expected {path.stem}.* or a file ending in the same number", str(path))
    digests: list[str] = []
    image = open_image(path, digests)
    if mask_path is not None:
        alpha = _mask_as_alpha(mask_path, image.size, options.soft_mask, digests)
    elif has_alpha(image):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    else:
        raise BadInput(f"foreground {path} has no alpha channel and no mask: pass --masks DIR or use RGBA cut-outs", str(path))
    rgba = np.dstack([np.asarray(to_rgb(image)), alpha])
    return Foreground(path.stem, fit_cutout(rgba, options.fg_longest_side, path), tuple(digests))


def _mask_as_alpha(path: Path, size: tuple[int, int], soft: bool, digests: list[str] | None = None) -> np.ndarray:
    mask = open_image(path, digests)
    if mask.size != size:
        raise BadInput(f"mask {path} is {mask.width}x{mask.height}, its foreground is {size[0]}x{size[1]}")
    alpha = np.asarray(mask.convert("L"))
    # Mask files are often lossy JPGs: threshold away their ringing unless the user asked for soft masks.
    return alpha if soft else np.where(alpha >= 128, 255, 0).astype(np.uint8)


def fit_cutout(rgba: np.ndarray, longest_side: int, origin: Path | str) -> np.ndarray:
    """Crop to the alpha's bounding box and resize so the longest side is `longest_side`.
    PIL premultiplies alpha when resizing RGBA, so no dark or white halo creeps in at the edges."""
    rows = np.flatnonzero(rgba[..., 3].any(axis=1))
    cols = np.flatnonzero(rgba[..., 3].any(axis=0))
    if rows.size == 0:
        raise BadInput(f"foreground {origin} is fully transparent: its alpha (or mask) is 0 everywhere", str(origin))
    cropped = rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = cropped.shape[:2]
    factor = longest_side / max(height, width)
    new_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(np.ascontiguousarray(cropped), "RGBA").resize(new_size, Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


# --- demo -------------------------------------------------------------------------------------------


def _demo_sources(options: BuildOptions, threads: int) -> Sources:
    from .demo import demo_backgrounds, demo_foregrounds

    num_bg = options.num_backgrounds or DEMO_BACKGROUNDS
    num_fg = options.num_foregrounds or DEMO_FOREGROUNDS
    backgrounds = [
        Background(f"room_{i}", rgb, depth) for i, (rgb, depth) in enumerate(demo_backgrounds(num_bg, options.bg_size, options.seed, threads))
    ]
    foregrounds = [
        Foreground(f"sprite_{i}", fit_cutout(rgba, options.fg_longest_side, f"sprite_{i}"))
        for i, rgba in enumerate(demo_foregrounds(num_fg, options.fg_longest_side, options.seed))
    ]
    return Sources(backgrounds, foregrounds)

