"""The manifest's typed model: what `manifest.json` holds, field by field, checked once when it is read.

A manifest is data (it may be damaged, edited, or come from anyone), so every field a command uses is
checked for its type and shape here, and a wrong one is named in one line (`shards[3].bytes must be an
integer`) instead of failing later as a KeyError deep in a command.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..config import DEPTH_MODES, OMITTED_AT_DEFAULT, BuildOptions, TeacherRun
from ..errors import UserError
from ..rules import DepthMode, PlacementRule
from ..pipeline.moments import DatasetStats, KindStats
from ..pipeline.placement_counts import PlacementCounts
from ..schema import CONFIG_DIRS, FG_BG

# The version of the output's bytes. Raise it whenever the code changes what any output file holds for
# the same options and inputs: a dataset of another format is another dataset (rebuilt, never resumed).
FORMAT_VERSION = 4
FORMAT_PREFIX = "mono-depth-mask/"
FORMAT = f"{FORMAT_PREFIX}{FORMAT_VERSION}"
SHA256 = re.compile(r"[0-9a-f]{64}")


class ManifestFieldError(ValueError):
    """A field of the manifest with the wrong type or shape; the message names it."""


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
    placements: PlacementCounts | None = None  # fg_bg shards: how their samples were placed (placement_counts.py)
    hidden_objects: int = 0  # labelled objects its scenes hid entirely, left out of `objects` and `instances`

    def to_manifest(self) -> dict:
        entry = {k: v for k, v in vars(self).items() if k not in ("stats", "placements", "hidden_objects")}
        if self.hidden_objects:  # recorded where there are any: a build that hides none keeps its bytes
            entry["hidden_objects"] = self.hidden_objects
        if self.stats is not None:
            entry["stats"] = stats_record(self.stats)
        if self.placements is not None:
            entry["placements"] = self.placements.to_json()
        return entry

    @classmethod
    def from_manifest(cls, entry: dict, where: str = "shard") -> "ShardRecord":
        """The entry as a record; ManifestFieldError names the first field of the wrong type or shape."""
        _need(isinstance(entry, dict), where, "must be an object")
        values = {key: _field(entry, key, kind, where) for key, kind in SHARD_FIELDS.items()}
        _need(_inside_dataset(values["path"]), f"{where}.path", f"{values['path']!r} is outside the dataset folder")
        _need(values["config"] in CONFIG_DIRS, f"{where}.config", f"must be one of {', '.join(CONFIG_DIRS)}")
        _need(SHA256.fullmatch(values["sha256"]) is not None, f"{where}.sha256", "must be 64 hexadecimal digits")
        _need(values["rows"] >= 0 and values["bytes"] >= 0, f"{where}.rows and .bytes", "must not be negative")
        hidden = _count(entry, "hidden_objects", where)
        stats = entry.get("stats")
        placements = _placements(entry, where)
        _need(placements is None or placements.rows == values["rows"], f"{where}.placements", "must count the shard's rows")
        return cls(**values, stats=_stats(stats, f"{where}.stats") if stats else None, placements=placements, hidden_objects=hidden)


@dataclass(frozen=True)
class DatasetRules:
    """A built dataset's rules, parsed once from its (checked) manifest: the build's options with their
    rules typed, the depth it stores, and the placement rule in force (the geometry's where one was
    recorded, else the rule asked for)."""

    build: BuildOptions
    depth: DepthMode
    placement: PlacementRule

    @classmethod
    def of(cls, manifest: dict) -> "DatasetRules":
        build = BuildOptions.from_dict(manifest["options"])
        placement = (manifest.get("geometry") or {}).get("placement") or build.placement
        return cls(build, DepthMode(manifest["depth"]["mode"]), PlacementRule(placement))

    @property
    def on_floor(self) -> bool:
        return self.placement == PlacementRule.FLOOR


# The fields of a shard entry and their types.
SHARD_FIELDS = {"path": str, "config": str, "split": str, "rows": int, "bytes": int, "sha256": str}


@dataclass
class Manifest:
    """manifest.json, typed. `options` are the build's recorded options (BuildOptions.recorded); the
    sections that only describe the dataset (depth, geometry, inputs, card, a relabel in progress) stay JSON
    objects, checked for the fields the commands read."""

    format: str
    complete: bool
    options: dict
    packages: dict
    depth: dict
    inputs: dict
    splits: dict
    shards: list[ShardRecord]
    skipped_inputs: list
    geometry: dict | None = None
    card: dict | None = None
    relabel: dict | None = None
    teacher_run: TeacherRun | None = None  # where a teacher labelled the dataset
    placements: PlacementCounts | None = None  # how its samples were placed, its fg_bg shards' added up
    hidden_objects: int = 0  # labelled objects hidden entirely (the sum over the shards), left out of the labels

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        """Check every field a command reads; ManifestFieldError names the first one that is wrong."""
        _need(isinstance(data, dict), "manifest", "must be a JSON object")
        _check_options(_field(data, "options", dict))
        splits = _splits(data)
        shards = [ShardRecord.from_manifest(entry, f"shards[{i}]") for i, entry in enumerate(_field(data, "shards", list))]
        complete = _field(data, "complete", bool)
        hidden = _count(data, "hidden_objects")
        if complete:  # a build in progress lists the shards written so far
            _check_split_rows(splits, shards)
            _need(hidden == sum(s.hidden_objects for s in shards), "hidden_objects", "must be the sum of the shards' hidden_objects")
        placements = _check_placements(data, shards) if complete else _placements(data)
        card = _optional(data, "card", dict)
        _need(card is None or all(isinstance(v, str) for v in card.values()), "card", "must map settings to strings")
        return cls(
            format=_field(data, "format", str), complete=complete, options=data["options"], packages=_packages(data),
            depth=_depth(data), inputs=_inputs(data), splits=splits, shards=shards,
            skipped_inputs=_optional(data, "skipped_inputs", list) or [], geometry=_geometry(data), card=card,
            relabel=_relabel(data), teacher_run=_teacher_run(data), placements=placements, hidden_objects=hidden,
        )


def format_version(data: object) -> int | None:
    """The format version of a manifest of ours (`mono-depth-mask/N`), or None for anything else."""
    value = data.get("format") if isinstance(data, dict) else None
    if isinstance(value, str) and value.startswith(FORMAT_PREFIX) and value[len(FORMAT_PREFIX):].isdigit():
        return int(value[len(FORMAT_PREFIX):])
    return None


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


def _stats(record: object, where: str) -> DatasetStats:
    try:
        return stats_from_record(record)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise ManifestFieldError(f"{where} is not a statistics record") from None


# Option types as BuildOptions declares them ("int | None", ...), so a recorded option of the wrong type is
# named here rather than failing in the card, the gallery or a rebuild.
_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "None": (type(None),),
          "PlacementRule": (str,), "DepthMode": (str,), "BlendMode": (str,), "tuple[str, ...]": (list,)}


def _check_fields(data: dict, record: type, parent: str, required: bool) -> None:
    """Each field of the dataclass `record` present in `data` (all of them, if `required`) has its type."""
    for f in dataclasses.fields(record):
        if f.name not in data and not required:
            continue
        value = data.get(f.name)
        allowed = tuple(t for name in str(f.type).split(" | ") for t in _TYPES[name])
        wrong_bool = isinstance(value, bool) and bool not in allowed
        _need(isinstance(value, allowed) and not wrong_bool, f"{parent}.{f.name}", f"must be {_describe(str(f.type))}")


def _check_options(options: dict) -> None:
    """Every build option, of its type and within its range (the card, the gallery and a rebuild use them)."""
    _check_fields({**OMITTED_AT_DEFAULT, **options}, BuildOptions, "options", required=True)
    try:
        BuildOptions.from_dict(options).validate()
    except UserError as error:
        raise ManifestFieldError(f"options are not valid ({error})") from None


def _check_split_rows(splits: dict, shards: list[ShardRecord]) -> None:
    """A finished dataset's splits hold the rows of its fg_bg shards, and it has some."""
    rows = {split: sum(s.rows for s in shards if s.config == FG_BG and s.split == split) for split in splits}
    _need(bool(splits) and sum(rows.values()) == sum(s.rows for s in shards if s.config == FG_BG), "splits", "must name the splits of the data/ shards")
    for split, count in splits.items():
        _need(count == rows[split] > 0, f"splits.{split}", f"must be the rows of its data/ shards ({rows[split]})")


def _depth(data: dict) -> dict:
    depth = _field(data, "depth", dict)
    _need(depth.get("mode") in DEPTH_MODES, "depth.mode", f"must be one of {', '.join(DEPTH_MODES)}")
    for key, kind in (("meaning", str), ("teacher", dict)):
        _optional(depth, key, kind, "depth")
    return depth


def _packages(data: dict) -> dict:
    packages = _field(data, "packages", dict)
    _need(all(isinstance(v, str) for v in packages.values()), "packages", "must map names to version strings")
    return packages


def _inputs(data: dict) -> dict:
    inputs = _field(data, "inputs", dict)
    for key in ("backgrounds", "foregrounds"):
        names = _field(inputs, key, list, "inputs")
        _need(all(isinstance(name, str) for name in names), f"inputs.{key}", "must be a list of strings")
    return inputs


def _splits(data: dict) -> dict:
    splits = _field(data, "splits", dict)
    for split, rows in splits.items():
        _need(isinstance(rows, int) and not isinstance(rows, bool), f"splits.{split}", "must be an integer")
    return splits


def _geometry(data: dict) -> dict | None:
    geometry = _optional(data, "geometry", dict)
    if geometry is not None:
        _field(geometry, "placement", str, "geometry")
        origins = _field(geometry, "intrinsics", dict, "geometry")
        _need(all(isinstance(n, int) and not isinstance(n, bool) for n in origins.values()), "geometry.intrinsics", "must map sources to counts")
        _field(geometry, "backgrounds_with_floor", int, "geometry")
    return geometry


def _placements(data: dict, parent: str = "") -> PlacementCounts | None:
    """The optional `placements` record of a shard entry or of the manifest, typed."""
    record = data.get("placements")
    if record is None:
        return None
    try:
        return PlacementCounts.from_json(record)
    except ValueError as error:
        raise ManifestFieldError(f"{parent + '.' if parent else ''}placements {error}") from None


def _check_placements(data: dict, shards: list[ShardRecord]) -> PlacementCounts | None:
    """A finished dataset's `placements` are its fg_bg shards' added up."""
    total = _placements(data)
    counted = [s.placements for s in shards if s.config == FG_BG]
    if total is not None and all(c is not None for c in counted):
        _need(total == PlacementCounts.total(counted), "placements", "must be the sum of its data/ shards' placements")
    return total


def _relabel(data: dict) -> dict | None:
    relabel = _optional(data, "relabel", dict)
    if relabel is None:
        return None
    target = _field(relabel, "target", dict, "relabel")
    _field(target, "model", str, "relabel.target")
    _field(target, "teacher", dict, "relabel.target")
    for path, entry in _field(relabel, "done", dict, "relabel").items():
        where = f"relabel.done[{path!r}]"
        _need(isinstance(entry, dict), where, "must be an object")
        _field(entry, "bytes", int, where)
        _field(entry, "sha256", str, where)
    return relabel


def _teacher_run(data: dict) -> TeacherRun | None:
    run = _optional(data, "teacher_run", dict)
    if run is None:
        return None
    _check_fields(run, TeacherRun, "teacher_run", required=True)
    return TeacherRun(**{f.name: run[f.name] for f in dataclasses.fields(TeacherRun)})


def _describe(annotation: str) -> str:
    words = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string", "None": "null",
             "PlacementRule": "a placement rule", "DepthMode": "a depth mode", "BlendMode": "a blend mode",
             "tuple[str, ...]": "a list of blend modes"}
    return " or ".join(words[name] for name in annotation.split(" | "))


def _field(data: dict, key: str, kind: type, parent: str = ""):
    where = f"{parent}.{key}" if parent else key
    value = data.get(key)
    article = {int: "an integer", str: "a string", bool: "true or false", dict: "an object", list: "a list"}[kind]
    _need(isinstance(value, kind) and (kind is bool or not isinstance(value, bool)), where, f"must be {article}")
    return value


def _count(data: dict, key: str, parent: str = "") -> int:
    """An optional count: absent is 0, present a non-negative integer."""
    value = _optional(data, key, int, parent) or 0
    _need(value >= 0, f"{parent}.{key}" if parent else key, "must not be negative")
    return value


def _optional(data: dict, key: str, kind: type, parent: str = ""):
    return None if data.get(key) is None else _field(data, key, kind, parent)


def _need(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise ManifestFieldError(f"{where} {what}")


def _inside_dataset(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 2 and parts[0] in CONFIG_DIRS.values() and not {"", ".", ".."} & set(parts) and "\\" not in path
