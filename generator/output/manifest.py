"""OUT/manifest.json: what was built, from what, with what, and the sha256 of every shard.

It is also how `generate` recognises its own output: a folder holding a manifest with other options is
another dataset and is not overwritten by accident.
"""

from __future__ import annotations

import functools
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import __version__
from ..errors import UserError
from ..config import BuildOptions

from ..pipeline.moments import DatasetStats, KindStats
from ..schema import BASELINE, BASELINE_DIR, CARD, CONFIG_DIRS, FG_BG, GALLERY_DIR, MANIFEST, STATS
from .folder import LocalTree, repair_folder_swap, sha256_file, tree, write_json

if TYPE_CHECKING:
    from ..pipeline.sources import Sources

FORMAT = "mono-depth-mask/1"
PACKAGES = ("numpy", "pillow", "pyarrow", "datasets", "huggingface_hub", "transformers", "torch")
OWNED = [*CONFIG_DIRS.values(), MANIFEST, STATS, CARD, GALLERY_DIR, BASELINE, BASELINE_DIR]  # a baseline describes the data it was trained on


class DamagedManifest(UserError):
    """A manifest.json that is not JSON, or JSON of the wrong shape."""


# The fields of a shard entry and their types (bool is an int in Python, and never a count).
SHARD_FIELDS = {"path": str, "config": str, "split": str, "rows": int, "bytes": int, "sha256": str}


@dataclass
class ShardRecord:
    """One Parquet file of the dataset as the manifest records it, with its exact pixel statistics (recorded
    with it, so no command has to decode a shard again to know them)."""

    path: str  # relative to the output folder
    config: str
    split: str
    rows: int
    bytes: int
    sha256: str
    stats: DatasetStats | None = None

    def to_manifest(self) -> dict:
        entry = {k: v for k, v in vars(self).items() if k != "stats"}
        return {**entry, "stats": stats_record(self.stats)} if self.stats is not None else entry

    @classmethod
    def from_manifest(cls, entry: dict) -> "ShardRecord":
        stats = stats_from_record(entry["stats"]) if entry.get("stats") else None
        return cls(**{k: entry[k] for k in ("path", "config", "split", "rows", "bytes", "sha256")}, stats=stats)


def stats_record(stats: DatasetStats) -> dict:
    """A shard's statistics as JSON: integers stay integers (JSON's are exact at any size), so merging the
    recorded statistics gives the same stats.json as merging them in memory."""
    kinds = {
        name: {"count": k.count, "bytes": k.bytes, "sizes": sorted(list(size) for size in k.sizes),
               "pixels": k.pixels, "sums": list(k.sums), "squares": list(k.squares)}
        for name, k in stats.kinds.items()
    }
    coverage = {str(i): int(n) for i, n in enumerate(stats.coverage) if n}
    return {"kinds": kinds, "coverage": coverage}


def stats_from_record(record: dict) -> DatasetStats:
    stats = DatasetStats()
    for name, k in record["kinds"].items():
        kind = stats.kind(name)
        sizes = {tuple(size) for size in k["sizes"]}
        kind.merge(KindStats(kind.channels, kind.scale, k["count"], k["bytes"], sizes, k["pixels"], k["sums"], k["squares"]))
    for index, count in record["coverage"].items():
        stats.coverage[int(index)] += count
    return stats


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


def verify_shards(out: Path, manifest: dict, shards: list[dict] | None = None) -> None:
    """Refuse a dataset whose shards (all of them, or `shards`) are missing or differ from the manifest's
    size and sha256, in one line naming them: the commands that rewrite a dataset build on its shards."""
    damaged = []
    for shard in manifest["shards"] if shards is None else shards:
        path = shard_file(out, shard["path"])
        try:
            if path.stat().st_size != shard["bytes"]:
                damaged.append(f"{shard['path']} (size differs)")
            elif sha256_file(path) != shard["sha256"]:
                damaged.append(f"{shard['path']} (sha256 differs)")
        except OSError as error:
            damaged.append(f"{shard['path']} ({os.strerror(error.errno) if error.errno else error})")
    if damaged:
        raise UserError(
            f"cannot read {out}: {', '.join(damaged)} do not match {MANIFEST} (damaged since it was written); "
            f"`mono-depth-mask validate {out}` shows the details, and rerunning the `generate` command that built it repairs it"
        )


def parse_manifest(where: str, read: Callable[[], bytes]) -> dict:
    """The manifest at `where` (a path or URL), read by `read`; one line for anything that is not ours."""
    try:
        data = json.loads(read())
    except OSError as error:
        raise UserError(f"cannot read {where}: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep to parse
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise DamagedManifest(f"{where} is damaged (not JSON: {reason}); {DAMAGED_HINT}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{where} is not a mono-depth-mask manifest; choose another --out")
    problem = _shape_problem(data)
    if problem:
        raise DamagedManifest(f"{where} is damaged ({problem}); {DAMAGED_HINT}")
    return data


DAMAGED_HINT = "rebuild with the same `generate` command and --overwrite, or move it away"


def _shape_problem(data: dict) -> str | None:
    """What makes `data` unusable as a manifest, or None."""
    for key in ("options", "inputs"):
        if not isinstance(data.get(key), dict):
            return f"{key!r} is missing or not an object"
    shards = data.get("shards")
    if not isinstance(shards, list):
        return "'shards' is missing or not a list"
    for i, shard in enumerate(shards):
        if not isinstance(shard, dict):
            return f"shards[{i}] is not an object"
        for key, kind in SHARD_FIELDS.items():
            value = shard.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"shards[{i}].{key} is missing or not {'an integer' if kind is int else 'a string'}"
        if not _inside_dataset(shard["path"]):
            return f"shards[{i}].path {shard['path']!r} is outside the dataset folder"
    return None


def _inside_dataset(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 2 and parts[0] in CONFIG_DIRS.values() and not {"", ".", ".."} & set(parts) and "\\" not in path


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


def option_differences(old: dict, new: BuildOptions) -> list[str]:
    current = new.recorded()
    return sorted(key for key in current.keys() | old.keys() if old.get(key) != current.get(key))


def check_output(out: Path | str, options: BuildOptions, overwrite: bool) -> dict | None:
    """May this build write to `out` (a folder or a URL)? Empty, or our own dataset with the same options,
    or with other options and --overwrite; never a foreign folder. Touches nothing. Returns the existing
    manifest, if any."""
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
    except DamagedManifest:
        if overwrite:
            return None  # prepare_output removes the dataset's files
        raise
    if "relabel" in manifest and not overwrite:
        # Its shards are half old depth, half new: neither this build's resume nor the relabel's.
        raise UserError(unfinished_relabel(out, manifest) + ", or pass --overwrite to rebuild the dataset")
    refuse_other_options(out, manifest, options, overwrite)
    return manifest


def refuse_other_options(out, manifest: dict, options: BuildOptions, overwrite: bool) -> list[str]:
    """The options that differ from the existing dataset's; refused unless --overwrite."""
    changed = option_differences(manifest.get("options", {}), options)
    if changed and not overwrite:
        raise UserError(
            f"--out {out} holds a dataset built with other options ({', '.join(changed)}); "
            "pass --overwrite to replace it or choose another folder"
        )
    return changed


def prepare_output(out: Path | str, options: BuildOptions, overwrite: bool) -> dict | None:
    """check_output, then make `out` ready: the dataset of other options (--overwrite) is removed. Returns
    the manifest of our own dataset with the same options, so its verified shards can be kept; a URL build
    starts afresh (its shards are not checked), so None there."""
    manifest = check_output(out, options, overwrite)
    where = tree(out)
    where.create()
    damaged = manifest is None and where.read(MANIFEST) is not None  # only reached with --overwrite
    if damaged or manifest is not None and option_differences(manifest.get("options", {}), options):
        for name in OWNED:
            where.remove(name)
        return None
    return manifest if isinstance(where, LocalTree) else None


def reusable_shards(out: Path, previous: dict | None, inputs: dict) -> dict[str, ShardRecord]:
    """The fg_bg shards of a previous build (finished or killed) with the same options and inputs that are
    still intact: the file exists and its size and sha256 are the ones recorded when it was written."""
    if not previous or previous.get("inputs") != inputs:
        return {}
    kept = {}
    for shard in previous.get("shards", []):
        if shard.get("config") != FG_BG:
            continue
        path = shard_file(out, shard["path"])
        try:
            intact = path.is_file() and path.stat().st_size == shard["bytes"] and sha256_file(path) == shard["sha256"]
        except OSError:
            intact = False
        if intact:
            kept[shard["path"]] = ShardRecord.from_manifest(shard)
    return kept


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


def inputs_record(options: BuildOptions, sources: "Sources", teacher: dict | None = None) -> dict:
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
    return record


def write_manifest(
    out: Path, options: BuildOptions, sources: "Sources", depth_info: dict, splits: dict[str, int], shards: list[ShardRecord],
    complete: bool = True, card: dict | None = None, geometry: dict | None = None,
) -> dict:
    """Written once when the build starts and again after every shard with `complete: false` and the
    shards finished so far (the progress record a resumed build trusts), and at the end with
    `complete: true`. Always atomically: a reader sees the previous version or the new one."""
    data = manifest_data(options, sources, depth_info, splits, shards, complete, card, geometry)
    write_json(out / MANIFEST, data)
    return data


def manifest_data(
    options: BuildOptions, sources: "Sources", depth_info: dict, splits: dict[str, int], shards: list[ShardRecord],
    complete: bool = True, card: dict | None = None, geometry: dict | None = None,
) -> dict:
    return {
        "format": FORMAT,
        "complete": complete,
        "options": options.recorded(),
        "packages": package_versions(),
        "depth": {"mode": options.depth, **depth_info},
        **({"geometry": geometry} if geometry else {}),
        "inputs": inputs_record(options, sources, depth_info.get("teacher")),
        "skipped_inputs": [skipped.to_manifest() for skipped in sources.skipped],
        "splits": splits,
        **({"card": card} if card else {}),
        "shards": [shard.to_manifest() for shard in shards],
    }
