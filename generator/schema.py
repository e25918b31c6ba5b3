"""The data contract: configs, splits, Features and file names.

The shard writer, the `datasets` builder (mono_depth_mask.py), the card and the validator all read this
module, so a column or a path is named in exactly one place.
"""

from __future__ import annotations

import json

import pyarrow as pa

# Configs of the published repo. `fg_bg` holds the composites; `backgrounds` and `foregrounds` hold the
# inputs they were made from, joined by `bg_id` / `fg_id`.
FG_BG = "fg_bg"
BACKGROUNDS = "backgrounds"
FOREGROUNDS = "foregrounds"
CONFIGS = (FG_BG, BACKGROUNDS, FOREGROUNDS)
CONFIG_DIRS = {FG_BG: "data", BACKGROUNDS: "backgrounds", FOREGROUNDS: "foregrounds"}

SPLITS = ("train", "test")

MANIFEST = "manifest.json"
STATS = "stats.json"
CARD = "README.md"
GALLERY_DIR = "gallery"
ANNOTATIONS_DIR = "annotations"  # COCO instance annotations (`export-coco`), pushed with the dataset
BASELINE = "baseline.json"  # the reference model's results (`mono-depth-mask baseline`)
BASELINE_DIR = ".baseline"  # its checkpoint and prediction sheet: not part of the published dataset
# Every folder under OUT that a build writes files into (and may leave temporaries in, when killed).
DATASET_DIRS = [*CONFIG_DIRS.values(), GALLERY_DIR]

# Rows per Parquet row group: small enough that a streaming reader fetches a few MB at a time, large
# enough that the per-group background dictionary (see writer.py) is shared by many rows.
ROW_GROUP_SIZE = 100

# How a 16-bit depth PNG maps back to the float the depth stage produced:
#   depth = depth_min + png / DEPTH_PNG_MAX * (depth_max - depth_min)
DEPTH_PNG_MAX = 65535

# The columns of each config as `datasets` features, in a short notation: "image" (datasets.Image), a
# value type ("string", "int32", ...: datasets.Value), "int32[4]" (a list of 4, datasets.List), or
# [{field: kind, ...}] (a list of records, datasets.List of a dict).
# Written out here rather than as datasets.Features so that building a dataset does not import `datasets`
# (half a second in every process); `features()` gives the datasets.Features, and tests/test_fast_paths.py
# checks that the Arrow schema and card lines built here are the ones `datasets` builds from them.
# One labelled object of a composite (the `objects` column); boxes [x0, y0, x1, y1], end-exclusive.
OBJECT_FIELDS = {
    "id": "int32",  # its value in `instances`, 1..n
    "fg_id": "int32",
    "bbox": "int32[4]",  # of its visible pixels
    "area": "int32",  # visible pixels
    "visible_fraction": "float32",  # visible pixels / whole-silhouette pixels
    "category": "string",  # null where unknown
    "amodal_bbox": "int32[4]",  # of its whole silhouette
    "amodal": "image",  # its whole silhouette, cropped to amodal_bbox
    "placement_rule": "string",  # floor | uniform | ground: the rule that placed it
}

COLUMNS = {
    FG_BG: {
        "name": "string",
        "bg_id": "int32",
        "fg_id": "int32",
        "flipped": "bool",
        "placement": "int32",
        "placement_rule": "string",  # floor | uniform | ground: the rule that placed the row's own object
        "x": "int32",
        "y": "int32",
        "scale": "float32",
        "w": "int32",
        "h": "int32",
        "bbox": "int32[4]",
        "image": "image",
        "mask": "image",
        "amodal_mask": "image",
        "depth": "image",
        "depth_min": "float32",
        "depth_max": "float32",
        "depth_known": "image",  # 8-bit mask: 255 where the depth is known, 0 at a hole; null without holes
        "background": "image",
        "blend": "string",  # the edge mode of this row (pipeline/blend.py)
        # [x0, y0, x1, y1], end-exclusive: every pixel that differs from the background (shadow, blurred
        # edges) lies in it; equal to bbox when nothing spills outside the mask.
        "effect_bbox": "int32[4]",
        "objects": [OBJECT_FIELDS],
        "instances": "image",  # 16-bit: 0 where no labelled object is seen, k where object id k is
    },
    BACKGROUNDS: {
        "bg_id": "int32",
        "name": "string",
        "image": "image",
        "depth": "image",
        "depth_min": "float32",
        "depth_max": "float32",
        "depth_known": "image",  # as in fg_bg
        "intrinsics": "float32[4]",
        "intrinsics_source": "string",  # demo | fov | exif35mm | exif_focal_plane | model | default (pipeline/geometry.py)
        "ground_plane": "float32[4]",
    },
    FOREGROUNDS: {
        "fg_id": "int32",
        "name": "string",
        "image": "image",
        "mask": "image",
        "height_m": "float32",
        "category": "string",  # the class named by its file name (pipeline/classes.py), or the demo sprite's kind
        "height_source": "string",  # csv | class | default | demo (pipeline/heights.py)
    },
}

IMAGE_STORAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # how an Image column is stored
_ARROW_TYPES = {"string": pa.string(), "int32": pa.int32(), "bool": pa.bool_(), "float32": pa.float32()}


def _parts(kind: str) -> tuple[str, int | None]:
    """"int32[4]" -> ("int32", 4); "int32" -> ("int32", None)."""
    value, _, length = kind.partition("[")
    return value, int(length[:-1]) if length else None


def _arrow_type(kind) -> pa.DataType:
    if isinstance(kind, list):
        return pa.list_(pa.struct([(name, _arrow_type(k)) for name, k in kind[0].items()]))
    if kind == "image":
        return IMAGE_STORAGE
    value, length = _parts(kind)
    return _ARROW_TYPES[value] if length is None else pa.list_(_ARROW_TYPES[value], length)


def _feature_dict(kind) -> dict:
    """A feature as `datasets` serialises it into the schema's metadata (Features.to_dict)."""
    if isinstance(kind, list):
        return {"feature": {name: _feature_dict(k) for name, k in kind[0].items()}, "_type": "List"}
    if kind == "image":
        return {"_type": "Image"}
    value, length = _parts(kind)
    plain = {"dtype": value, "_type": "Value"}
    return plain if length is None else {"feature": plain, "length": length, "_type": "List"}


def yaml_features(config: str) -> list[dict]:
    """The card's `dataset_info.features` lines (Features._to_yaml_list)."""
    return _yaml_lines(COLUMNS[config])


def _yaml_lines(columns: dict) -> list[dict]:
    lines = []
    for name, kind in columns.items():
        if isinstance(kind, list):
            lines.append({"name": name, "list": _yaml_lines(kind[0])})
            continue
        value, length = _parts(kind)
        lines.append({"name": name, "dtype": value} if length is None else {"name": name, "list": value, "length": length})
    return lines


def _arrow_schema(config: str) -> pa.Schema:
    """The Arrow schema `datasets` gives these features, with the features in its `huggingface` metadata,
    where `load_dataset` reads them back."""
    columns = COLUMNS[config]
    features = {name: _feature_dict(kind) for name, kind in columns.items()}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in columns.items()], metadata=metadata)


ARROW_SCHEMAS = {config: _arrow_schema(config) for config in COLUMNS}


def features(config: str) -> "datasets.Features":
    """The config's datasets.Features (imports `datasets`)."""
    import datasets

    return datasets.Features.from_arrow_schema(ARROW_SCHEMAS[config])

# Columns whose bytes repeat from row to row within a shard, so Parquet dictionary-encodes them.
DICTIONARY_COLUMNS = {FG_BG: ["background.bytes", "name"], BACKGROUNDS: [], FOREGROUNDS: []}


def sample_name(fg_id: int, bg_id: int, flipped: bool, placement: int) -> str:
    """The name of a row: fg_bg_{fg}_{bg}_{flip}_{k}, the layout of loose-file datasets of this kind."""
    return f"fg_bg_{fg_id}_{bg_id}_{int(flipped)}_{placement}"


def shard_path(config: str, split: str, index: int, count: int) -> str:
    """Path of a shard relative to the dataset root, e.g. data/train-00000-of-00004.parquet."""
    return f"{CONFIG_DIRS[config]}/{split}-{index:05d}-of-{count:05d}.parquet"


def split_glob(config: str, split: str) -> str:
    return f"{CONFIG_DIRS[config]}/{split}-*.parquet"


def yaml_configs(splits: list[str]) -> list[dict]:
    """The README's YAML `configs` block: one entry per config, one data_files entry per split."""
    return [
        {
            "config_name": config,
            **({"default": True} if config == FG_BG else {}),
            "data_files": [{"split": split, "path": split_glob(config, split)} for split in splits],
        }
        for config in CONFIGS
    ]
