"""OUT/manifest.json: what was built, from what, with what, and the sha256 of every shard.

It is also how `generate` recognises its own output: a folder holding a manifest with other options,
other teacher settings or of another format version is another dataset and is not overwritten by accident.
The fields are checked against the typed model (model.py) whenever a manifest is read.
"""

from __future__ import annotations

import functools
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import __version__
from ..errors import UserError
from ..config import BuildOptions, TeacherRun

from ..schema import BASELINE, BASELINE_DIR, CARD, CONFIG_DIRS, GALLERY_DIR, MANIFEST, STATS
from .folder import LocalTree, repair_folder_swap, tree, write_text
from ..pipeline.placement_counts import PlacementCounts
from .model import FORMAT, FORMAT_VERSION, Manifest, ManifestFieldError, ShardRecord, format_version

if TYPE_CHECKING:
    from ..pipeline.sources import Sources

PACKAGES = ("numpy", "pillow", "pyarrow", "datasets", "huggingface_hub", "transformers", "torch")
OWNED = [*CONFIG_DIRS.values(), MANIFEST, STATS, CARD, GALLERY_DIR, BASELINE, BASELINE_DIR]  # a baseline describes the data it was trained on


class DamagedManifest(UserError):
    """A manifest.json that is not JSON, or JSON of the wrong shape."""


class OtherFormat(UserError):
    """A manifest of ours written by code of another format version: its bytes are another dataset's."""


def shard_file(out: Path, relative: str) -> Path:
    """OUT/relative for a path read from a manifest, refused unless it stays inside OUT: not absolute, no
    `..`, and no symbolic link on the way that leads out (a manifest is data, and may come from anyone)."""
    root = Path(out).resolve()
    parts = Path(relative).parts
    if not relative or Path(relative).is_absolute() or ".." in parts:
        raise UserError(f"{Path(out) / MANIFEST} lists a shard outside the dataset folder: {relative!r}; refusing to use it")
    path = root / relative
    if not path.resolve().is_relative_to(root):
        raise UserError(f"{Path(out) / MANIFEST} lists a shard that leads outside the dataset folder through a link: {relative!r}; refusing to use it")
    return path


def check_shard_paths(out: Path, manifest: dict) -> None:
    for shard in manifest.get("shards", []):
        shard_file(out, shard["path"])


def parse_manifest(where: str, read: Callable[[], bytes]) -> dict:
    """The manifest at `where` (a path or URL), read by `read` and checked field by field against the
    typed model (model.Manifest); one line for anything that is not ours, of another format, or damaged."""
    try:
        data = json.loads(read())
    except OSError as error:
        raise UserError(f"cannot read {where}: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep to parse
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise DamagedManifest(f"{where} is damaged (not JSON: {reason}); {DAMAGED_HINT}") from None
    version = format_version(data)
    if version is None:
        raise UserError(f"{where} is not a mono-depth-mask manifest; use another folder")
    if version != FORMAT_VERSION:
        raise OtherFormat(
            f"{where} was written by mono-depth-mask format {version}, and this version writes format {FORMAT_VERSION}: "
            "its bytes are another dataset's; rebuild it with the same `generate` command and --overwrite"
        )
    try:
        Manifest.from_json(data)
    except ManifestFieldError as error:
        raise DamagedManifest(f"{where} is damaged: {error}; {DAMAGED_HINT}") from None
    return data


DAMAGED_HINT = "rebuild with the same `generate` command and --overwrite, or move it away"


def read_manifest(out: Path) -> dict | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    return parse_manifest(str(path), path.read_bytes)


def load_manifest(out: Path) -> dict:
    """The manifest of an existing, finished dataset, for the commands that read one. Every shard path it
    lists must stay inside OUT; a gallery swap that a killed command left half done is finished first."""
    data = read_manifest(out)
    if data is None:
        raise UserError(f"{out} holds no mono-depth-mask dataset (no {MANIFEST})")
    if "relabel" in data:
        raise UserError(unfinished_relabel(out, data))
    if data.get("complete") is False:
        raise UserError(f"{out} holds an unfinished build; run the same generate command again to finish it")
    check_shard_paths(out, data)
    repair_folder_swap(Path(out) / GALLERY_DIR)
    return data


def unfinished_relabel(out, manifest: dict) -> str:
    model = manifest["relabel"]["target"]["model"]
    return (f"{out} holds an unfinished relabel-depth; run `mono-depth-mask relabel-depth {out} --depth-model {model}` "
            "again to finish it")


def option_differences(manifest: dict, options: BuildOptions, teacher_run: TeacherRun | None = None) -> list[str]:
    """What makes the dataset `manifest` describes another one than these options (and teacher run) make:
    the names of the options and teacher settings that differ."""
    old = {**manifest["options"], **(manifest.get("teacher_run") or {})}
    new = {**options.recorded(), **(teacher_run.recorded() if teacher_run else {})}
    return sorted(key for key in new.keys() | old.keys() if old.get(key) != new.get(key))


def check_output(out: Path | str, options: BuildOptions, overwrite: bool, teacher_run: TeacherRun | None = None) -> dict | None:
    """May this build write to `out` (a folder or a URL)? Empty, or our own dataset with the same options
    and teacher run, or another (other options, another format, a damaged manifest) with --overwrite;
    never a foreign folder. Touches nothing. Returns the existing manifest, if any and of this format."""
    where = tree(out)
    kind = where.kind()
    if kind == "file":
        raise UserError(f"--out {out} is a file, not a folder")
    if kind == "missing" or where.is_empty():
        return None
    data = where.read(MANIFEST)
    if data is None:
        raise UserError(f"--out {out} is not empty and holds no mono-depth-mask dataset; choose an empty folder")
    try:
        manifest = parse_manifest(f"{where.where}/{MANIFEST}", lambda: data)
    except (DamagedManifest, OtherFormat):
        if overwrite:
            return None  # prepare_output removes the dataset's files
        raise
    if "relabel" in manifest and not overwrite:
        # Its shards are half old depth, half new: neither this build's resume nor the relabel's.
        raise UserError(unfinished_relabel(out, manifest) + ", or pass --overwrite to rebuild the dataset")
    refuse_other_options(out, manifest, options, overwrite, teacher_run)
    return manifest


def refuse_other_options(out, manifest: dict, options: BuildOptions, overwrite: bool, teacher_run: TeacherRun | None = None) -> list[str]:
    """The options that differ from the existing dataset's; refused unless --overwrite."""
    changed = option_differences(manifest, options, teacher_run)
    if changed and not overwrite:
        raise UserError(
            f"--out {out} holds a dataset built with other options ({', '.join(changed)}); "
            "pass --overwrite to replace it or choose another folder"
        )
    return changed


def prepare_output(out: Path | str, options: BuildOptions, overwrite: bool, teacher_run: TeacherRun | None = None) -> dict | None:
    """check_output, then make `out` ready: the dataset of other options (--overwrite) is removed. Returns
    the manifest of our own dataset with the same options, so its verified shards can be kept; a URL build
    starts afresh (its shards are not checked), so None there."""
    manifest = check_output(out, options, overwrite, teacher_run)
    where = tree(out)
    where.create()
    unusable = manifest is None and where.read(MANIFEST) is not None  # damaged or another format: --overwrite
    if unusable or manifest is not None and option_differences(manifest, options, teacher_run):
        for name in OWNED:
            where.remove(name)
        return None
    return manifest if isinstance(where, LocalTree) else None


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple:
    return tuple(_versions().items())


def package_versions() -> dict[str, str]:
    return dict(_package_versions())


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "mono-depth-mask": __version__}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def inputs_record(options: BuildOptions, sources: "Sources", teacher: dict | None = None, background_model: dict | None = None) -> dict:
    """What the shards were made from. Input files are known by content (the sha256 of each file as it was
    read): a background whose pixels changed under the same name is another input, and its shards are
    rebuilt. So are the foregrounds' heights (an --fg-heights file edited in place) and a local model
    folder's files (`teacher`: the teacher's record), which the options name only. The demo's inputs are
    made from the options, which the manifest holds already."""
    record = {
        "backgrounds": [bg.name for bg in sources.backgrounds],
        "foregrounds": [fg.name for fg in sources.foregrounds],
        "bg_size": options.bg_size,
        "fg_shapes": [list(fg.rgba.shape[:2]) for fg in sources.foregrounds],
        "fg_heights_m": [fg.height_m for fg in sources.foregrounds],
    }
    if any(item.sha256 for item in (*sources.backgrounds, *sources.foregrounds)):
        record["background_sha256"] = [list(bg.sha256) for bg in sources.backgrounds]
        record["foreground_sha256"] = [list(fg.sha256) for fg in sources.foregrounds]
    if teacher is not None and teacher.get("local_folder"):
        record["depth_model_sha256"] = teacher["sha256"]
    if background_model is not None and background_model.get("local_folder"):
        record["background_depth_model_sha256"] = background_model["sha256"]
    return record


def manifest_data(
    options: BuildOptions, sources: "Sources", depth_info: dict, splits: dict[str, int], shards: list[ShardRecord],
    complete: bool = True, card: dict | None = None, geometry: dict | None = None, teacher_run: TeacherRun | None = None,
) -> dict:
    counted = [shard.placements for shard in shards if shard.placements is not None]
    placements = PlacementCounts.total(counted) if counted else None
    hidden = sum(shard.hidden_objects for shard in shards)
    fields = _fields(options, sources, depth_info, splits, complete, card, geometry, teacher_run, placements, hidden)
    return {**fields, "shards": [shard.to_manifest() for shard in shards]}


def _fields(
    options: BuildOptions, sources: "Sources", depth_info: dict, splits: dict[str, int], complete: bool, card: dict | None,
    geometry: dict | None, teacher_run: TeacherRun | None, placements: PlacementCounts | None, hidden: int,
) -> dict:
    """The manifest but for its shards (the last field), given their placements and hidden objects summed."""
    return {
        "format": FORMAT,
        "complete": complete,
        "options": options.recorded(),
        **({"teacher_run": teacher_run.recorded()} if teacher_run else {}),
        "packages": package_versions(),
        "depth": {"mode": options.depth, **depth_info},
        **({"geometry": geometry} if geometry else {}),
        "inputs": inputs_record(options, sources, depth_info.get("teacher"), depth_info.get("background_model")),
        "skipped_inputs": [skipped.to_manifest() for skipped in sources.skipped],
        "splits": splits,
        **({"placements": placements.to_json()} if placements is not None else {}),
        **({"card": card} if card else {}),
        # The labelled objects the build's scenes hid entirely (left out of `objects` and `instances`),
        # summed over its shards whatever worker built each; recorded where there are any.
        **({"hidden_objects": hidden} if hidden else {}),
    }


class ProgressManifest:
    """The manifest of a build under way (manifest_data with `complete: false` and the shards finished so
    far: the progress record a resumed build trusts), written again, atomically, each time a shard is
    finished. Each shard's entry is turned into text once (json's indenting encoder is pure Python, and the
    entries hold the shards' statistics), and the placements and hidden objects are running totals; what
    still grows with the shards is joining the entries and writing the file (1.3 ms a write at 400 shards,
    4.8 ms at 2,000). The bytes are write_json's of manifest_data (tests/test_fast_paths.py)."""

    def __init__(self, out: Path, options: BuildOptions, sources: "Sources", depth_info: dict, splits: dict[str, int],
                 card: dict | None = None, geometry: dict | None = None, teacher_run: TeacherRun | None = None):
        self.out = out
        self._context = (options, sources, depth_info, splits, False, card, geometry, teacher_run)
        self._entries: list[str] = []
        self._placements: PlacementCounts | None = None
        self._hidden = 0

    def write(self, added: list[ShardRecord]) -> None:
        """Write the manifest of the shards added so far, these `added` last."""
        for shard in added:
            self._entries.append(_indented(json.dumps(shard.to_manifest(), indent=2)))
            if shard.placements is not None:
                if self._placements is None:
                    self._placements = PlacementCounts()
                self._placements.merge(shard.placements)
            self._hidden += shard.hidden_objects
        fields = json.dumps({**_fields(*self._context, self._placements, self._hidden), "shards": []}, indent=2)
        shards = "[\n" + ",\n".join(self._entries) + "\n  ]\n}" if self._entries else "[]\n}"
        write_text(self.out / MANIFEST, fields[: -len(_NO_SHARDS)] + '"shards": ' + shards + "\n")


_NO_SHARDS = '"shards": []\n}'


def _indented(text: str) -> str:
    """An entry's indented JSON as it appears in the manifest's list of shards (two levels deeper)."""
    return "    " + text.replace("\n", "\n    ")
