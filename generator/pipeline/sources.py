"""Stage 1, sources: read backgrounds, foregrounds, masks and background depths into arrays, once.

Backgrounds come out as RGB squares of `bg_size` with their camera intrinsics, foregrounds as tight RGBA
cut-outs whose longest side is `fg_size` (and, for floor placement, at their own resolution up to
`bg_size`, with their real height). Every unreadable or unusable file is refused here, named, before any
work starts.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import BuildOptions
from ..errors import BadInput, UserError
from ..rules import PlacementRule
from ..threads import ordered_map
from .depth_holes import crop_resize, mark_holes, require_known
from .geometry import Intrinsics, center_square_box, centre_crop_resize, photo_intrinsics
from .heights import assign_heights
from .matching import DEPTH_SUFFIXES, IMAGE_SUFFIXES, list_files, match_by_stem_or_number, missing_match, printable, unread_files
from .matting import decontaminate
from .placement import FloorGeometry

# 16-bit PNG background depths are read as millimetres, the common convention (NYU, ScanNet).
DEPTH_PNG_METRES_PER_UNIT = 0.001
# Pillow's modes of one-channel integer pictures wider than 8 bits, and of float ones.
DEPTH_IMAGE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


@dataclass
class Background:
    name: str
    rgb: np.ndarray  # (S, S, 3) uint8
    depth: np.ndarray | None  # (S, S) float32, metres, NaN where unknown (depth_holes.py), or None
    intrinsics: Intrinsics | None = None  # in pixels of `rgb`; None where unknown
    intrinsics_source: str | None = None  # demo | fov | exif35mm | exif_focal_plane | model | default (geometry.py)
    floor: FloorGeometry | None = None  # set where metric depth shows a floor (floor placement)
    stored_depth: np.ndarray | None = None  # what the backgrounds config stores, where not `depth`: a teacher's
    sha256: tuple[str, ...] = ()  # of the files it was read from (image, depth), as read: inputs known by content


@dataclass
class Foreground:
    name: str
    rgba: np.ndarray  # (h, w, 4) uint8, cropped to alpha > 0, max(h, w) == fg_size
    source: np.ndarray | None = None  # cropped to alpha > 0, longest side at most bg_size (floor placement)
    height_m: float | None = None  # real height of the whole cut-out, metres
    category: str | None = None  # the class its name names (pipeline/classes.py), or the demo sprite's kind
    height_source: str | None = None  # where height_m came from: csv, class, default or demo
    sha256: tuple[str, ...] = ()  # of the files it was read from (image, mask)


@dataclass(frozen=True)
class SkippedInput:
    """A bad input file left out with --skip-bad-inputs; the manifest lists them."""

    input: str  # background | foreground
    file: str
    reason: str

    def warning(self) -> str:
        """`warning: skipping foreground fg/b.png is fully transparent...`: the kind and the file named once each."""
        named = self.reason if self.file in self.reason else f"{self.file}: {self.reason}"
        return f"warning: skipping {named if named.startswith(self.input) else f'{self.input} {named}'}"

    def to_manifest(self) -> dict:
        return {"input": self.input, "file": self.file, "reason": self.reason}


@dataclass
class Sources:
    backgrounds: list[Background]
    foregrounds: list[Foreground]
    # files not read: of a type the tool does not read, or bad ones left out with --skip-bad-inputs
    skipped: list[SkippedInput] = field(default_factory=list)
    shortfalls: list[str] = field(default_factory=list)  # where --num-* asked for more files than were usable

    def warnings(self) -> list[str]:
        """The `warning:` lines a build prints about its inputs."""
        return [skipped.warning() for skipped in self.skipped] + [f"warning: {shortfall}" for shortfall in self.shortfalls]

    @property
    def has_depth(self) -> bool:
        return all(bg.depth is not None for bg in self.backgrounds)


def load_sources(options: BuildOptions, skip_bad: bool = False, threads: int = 1) -> Sources:
    """Every input, decoded, on up to `threads` threads. A bad file (`BadInput`) stops the build with one
    line naming it, or with `skip_bad` is left out and recorded in `Sources.skipped`; the first N of --num-*
    are then the first N usable files."""
    if options.demo:
        return _demo_sources(options, threads)
    skipped: list[SkippedInput] = []
    backgrounds = _load_backgrounds(options, skip_bad, skipped, threads)
    foregrounds = _load_foregrounds(options, skip_bad, skipped, threads)
    assign_heights(foregrounds, list_files(options.foregrounds, "foreground"), options.fg_heights, options.fg_height)
    shortfalls = [
        f"{flag} {wanted}: only {len(loaded)} usable {what} files; using {len(loaded)}"
        for flag, wanted, loaded, what in (("--num-backgrounds", options.num_backgrounds, backgrounds, "background"),
                                           ("--num-foregrounds", options.num_foregrounds, foregrounds, "foreground"))
        if wanted is not None and len(loaded) < wanted
    ]
    return Sources(backgrounds, foregrounds, skipped, shortfalls)


def _skip_unread(what: str, folder: str, suffixes: set[str], skipped: list[SkippedInput]) -> None:
    """List the files of `folder` that are of a type not read as skipped."""
    for path in unread_files(folder, suffixes):
        reason = f"{path.suffix.lower() or 'a name without an extension'} is not a type read here (it reads {', '.join(sorted(suffixes))})"
        skipped.append(SkippedInput(what, printable(str(path)), reason))


def _load_each(what: str, items: list, limit: int | None, load, skip_bad: bool, skipped: list[SkippedInput], threads: int) -> list:
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
                skipped.append(SkippedInput(what, printable(str(item[0])), printable(str(outcome))))
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


# --- backgrounds ------------------------------------------------------------------------------------


def _load_backgrounds(options: BuildOptions, skip_bad: bool, skipped: list[SkippedInput], threads: int) -> list[Background]:
    files = list_files(options.backgrounds, "background")
    _skip_unread("background", options.backgrounds, IMAGE_SUFFIXES, skipped)
    depth_files: list[Path | None] = [None] * len(files)
    if options.background_depths:
        candidates = list_files(options.background_depths, "background depth", DEPTH_SUFFIXES)
        _skip_unread("background depth", options.background_depths, DEPTH_SUFFIXES, skipped)
        depth_files = match_by_stem_or_number(files, candidates)  # on whole folders: the layout is theirs
    if not skip_bad:
        files = files[: options.num_backgrounds]

    def load(file: Path, depth: Path | None) -> Background:
        if options.background_depths and depth is None:
            raise missing_match("background depth", file)
        return _load_background(file, depth, options.bg_size, options.fov)

    return _load_each("background", list(zip(files, depth_files)), options.num_backgrounds, load, skip_bad, skipped, threads)


def _load_background(path: Path, depth_path: Path | None, size: int, fov: float | None) -> Background:
    digests: list[str] = []
    image = open_image(path, digests)
    intrinsics, origin = photo_intrinsics(image, fov)
    intrinsics = centre_crop_resize(intrinsics, image.width, image.height, size)
    box = center_square_box(*image.size)
    # Crop, then resize: a resize with box= would let the filter reach pixels outside the square.
    rgb = to_rgb(image.crop(box)).resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    depth = None
    if depth_path is not None:
        depth = crop_resize(_read_depth(depth_path, (image.height, image.width), digests), box, size)
        require_known(np.isfinite(depth), depth_path)  # what is left of a known part after the crop
    return Background(printable(path.stem), np.asarray(rgb, dtype=np.uint8), depth, intrinsics, origin, sha256=tuple(digests))


def _read_depth(path: Path, shape: tuple[int, int], digests: list[str] | None = None) -> np.ndarray:
    """The depth map of a background of `shape` (height, width), in metres, positive, NaN at its holes."""
    if path.suffix.lower() == ".npy":
        depth = _read_npy(path, shape, digests)
    else:
        depth = np.asarray(_depth_image(path, digests), dtype=np.float32) * DEPTH_PNG_METRES_PER_UNIT
    if depth.shape != shape:
        raise BadInput(f"{path}: depth is {depth.shape[1]}x{depth.shape[0]}, its background is {shape[1]}x{shape[0]}", str(path))
    return mark_holes(depth, path)


def _depth_image(path: Path, digests: list[str] | None) -> Image.Image:
    """A depth picture with one integer (16-bit or wider) or float channel: an 8-bit or colour picture of
    depth holds grey levels, not millimetres, and read as millimetres it would put every pixel within 25 cm."""
    image = open_image(path, digests)
    if image.mode not in DEPTH_IMAGE_MODES:
        raise BadInput(f"{path}: depth image is mode {image.mode}, not 16-bit greyscale (it holds grey levels, not "
                       "millimetres): give depth as a 16-bit PNG in millimetres or .npy in metres", str(path))
    return image


def _read_npy(path: Path, shape: tuple[int, int], digests: list[str] | None = None) -> np.ndarray:
    """A real 2-D `.npy` of `shape`, checked from its header before any allocation: a header may claim
    any size. Never unpickled."""
    try:
        data = read_input(path, digests)
        with io.BytesIO(data) as stream:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found, _, dtype = read_header(stream)
            if dtype.hasobject:
                raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
            if found != shape or dtype.kind not in "iuf":
                raise BadInput(
                    f"{path}: depth must be a 2-D array of real numbers of its background's shape {shape}, "
                    f"got {dtype} of shape {found}", str(path))
        depth = np.load(io.BytesIO(data), allow_pickle=False)  # never unpickle data
    except (OSError, ValueError, EOFError) as error:
        raise BadInput(f"cannot read depth {path}: {error}", str(path)) from None
    return depth.astype(np.float32)


# --- foregrounds ------------------------------------------------------------------------------------


def _load_foregrounds(options: BuildOptions, skip_bad: bool, skipped: list[SkippedInput], threads: int) -> list[Foreground]:
    files = list_files(options.foregrounds, "foreground")
    _skip_unread("foreground", options.foregrounds, IMAGE_SUFFIXES, skipped)
    mask_files: list[Path | None] = [None] * len(files)
    if options.masks:
        mask_files = match_by_stem_or_number(files, list_files(options.masks, "mask"))  # on whole folders
        _skip_unread("mask", options.masks, IMAGE_SUFFIXES, skipped)
    if not skip_bad:
        files = files[: options.num_foregrounds]
    load = lambda f, m: _load_foreground(f, m, options)  # noqa: E731
    return _load_each("foreground", list(zip(files, mask_files)), options.num_foregrounds, load, skip_bad, skipped, threads)


def _load_foreground(path: Path, mask_path: Path | None, options: BuildOptions) -> Foreground:
    if options.masks and mask_path is None:
        raise missing_match("mask", path)
    digests: list[str] = []
    image = open_image(path, digests)
    if mask_path is not None:
        alpha = _mask_as_alpha(mask_path, image.size, options.soft_mask, digests)
    elif has_alpha(image):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
    else:
        raise BadInput(f"foreground {path} has no alpha channel and no mask: pass --masks DIR or use RGBA cut-outs", str(path))
    rgba = np.dstack([np.asarray(to_rgb(image)), alpha])
    rgba = decontaminate(rgba) if options.decontaminate else rgba
    return Foreground(printable(path.stem), fit_cutout(rgba, options.fg_longest_side, path), cap_cutout(rgba, options.bg_size, path), sha256=tuple(digests))


def _mask_as_alpha(path: Path, size: tuple[int, int], soft: bool, digests: list[str] | None = None) -> np.ndarray:
    mask = open_image(path, digests)
    if mask.size != size:
        raise BadInput(f"mask {path} is {mask.width}x{mask.height}, its foreground is {size[0]}x{size[1]}")
    labels = _label_values(mask)
    if labels is not None:  # a 0/1 label mask: binary whatever --soft-mask says
        return labels * np.uint8(255)
    alpha = np.asarray(mask.convert("L"))
    # Mask files are often lossy JPGs: threshold away their ringing unless the user asked for soft masks.
    return alpha if soft else np.where(alpha >= 128, 255, 0).astype(np.uint8)


def _label_values(mask: Image.Image) -> np.ndarray | None:
    """(h, w) uint8 0/1 for a label mask, whose values (a palette image's indices) are only 0 and 1 with
    1 = object, as segmentation tools write them; None for any other mask."""
    values = np.asarray(mask) if mask.mode in ("L", "P", "I", "I;16", "I;16B", "I;16L") else None
    if values is None or values.ndim != 2 or values.max(initial=0) != 1 or values.min(initial=0) < 0:
        return None
    return values.astype(np.uint8)


def fit_cutout(rgba: np.ndarray, longest_side: int, origin: Path | str) -> np.ndarray:
    """Crop to the alpha's bounding box and resize so the longest side is `longest_side`.
    PIL premultiplies alpha when resizing RGBA, so no dark or white halo creeps in at the edges."""
    return _resize_longest(crop_to_alpha(rgba, origin), longest_side)


def cap_cutout(rgba: np.ndarray, longest_side: int, origin: Path | str) -> np.ndarray:
    """Crop to the alpha's bounding box; shrink (never enlarge) so the longest side is at most `longest_side`."""
    cropped = crop_to_alpha(rgba, origin)
    return _resize_longest(cropped, longest_side) if max(cropped.shape[:2]) > longest_side else np.ascontiguousarray(cropped)


def crop_to_alpha(rgba: np.ndarray, origin: Path | str) -> np.ndarray:
    rows = np.flatnonzero(rgba[..., 3].any(axis=1))
    cols = np.flatnonzero(rgba[..., 3].any(axis=0))
    if rows.size == 0:
        raise BadInput(f"foreground {origin} is fully transparent: its alpha (or mask) is 0 everywhere", str(origin))
    return rgba[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize_longest(rgba: np.ndarray, longest_side: int) -> np.ndarray:
    height, width = rgba.shape[:2]
    factor = longest_side / max(height, width)
    new_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resized = Image.fromarray(np.ascontiguousarray(rgba), "RGBA").resize(new_size, Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


# --- demo -------------------------------------------------------------------------------------------


def _demo_sources(options: BuildOptions, threads: int) -> Sources:
    """The demo's rooms (with their exact camera) and sprites (with their real heights). For floor
    placement the sprites are drawn at --bg-size, their source resolution, and resized per placement."""
    from .demo import demo_rooms, demo_sprites

    num_bg, num_fg = options.input_counts()
    backgrounds = [
        Background(f"room_{i}", room.rgb, room.depth, Intrinsics(*room.intrinsics), "demo")
        for i, room in enumerate(demo_rooms(num_bg, options.bg_size, options.seed, threads))
    ]
    on_floor = options.placement in (PlacementRule.AUTO, PlacementRule.FLOOR)
    size = options.bg_size if on_floor else options.fg_longest_side
    sprites = demo_sprites(num_fg, size, options.seed, threads)
    colours = ordered_map(decontaminate, [s.rgba for s in sprites], threads) if options.decontaminate else [s.rgba for s in sprites]
    foregrounds = []
    for i, (sprite, rgba) in enumerate(zip(sprites, colours)):
        fitted = fit_cutout(rgba, options.fg_longest_side, f"sprite_{i}")
        foregrounds.append(Foreground(f"sprite_{i}", fitted, rgba if on_floor else None, sprite.height_m, sprite.kind, "demo"))
    return Sources(backgrounds, foregrounds)
