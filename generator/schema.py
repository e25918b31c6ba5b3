"""The data contract: configs, splits, Features and file names.

The shard writer, the `datasets` builder (mono_depth_mask.py), the card and the validator all read this
module, so a column or a path is named in exactly one place.
"""

from __future__ import annotations

import datasets

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

# Rows per Parquet row group: small enough that a streaming reader fetches a few MB at a time, large
# enough that the per-group background dictionary (see writer.py) is shared by many rows.
ROW_GROUP_SIZE = 100

# How a 16-bit depth PNG maps back to the float the depth stage produced:
#   depth = depth_min + png / DEPTH_PNG_MAX * (depth_max - depth_min)
DEPTH_PNG_MAX = 65535

_image = datasets.Image()
IMAGE_STORAGE = _image.pa_type  # struct<bytes: binary, path: string>, how an Image column is stored

FG_BG_FEATURES = datasets.Features(
    {
        "name": datasets.Value("string"),
        "bg_id": datasets.Value("int32"),
        "fg_id": datasets.Value("int32"),
        "flipped": datasets.Value("bool"),
        "placement": datasets.Value("int32"),
        "x": datasets.Value("int32"),
        "y": datasets.Value("int32"),
        "scale": datasets.Value("float32"),
        "w": datasets.Value("int32"),
        "h": datasets.Value("int32"),
        "bbox": datasets.Sequence(datasets.Value("int32"), length=4),
        "image": _image,
        "mask": _image,
        "amodal_mask": _image,
        "depth": _image,
        "depth_min": datasets.Value("float32"),
        "depth_max": datasets.Value("float32"),
        "background": _image,
        "blend": datasets.Value("string"),  # the edge mode of this row (pipeline/blend.py)
        # [x0, y0, x1, y1], end-exclusive: every pixel that differs from the background (shadow, blurred
        # edges) lies in it; equal to bbox when nothing spills outside the mask.
        "effect_bbox": datasets.Sequence(datasets.Value("int32"), length=4),
    }
)

BACKGROUND_FEATURES = datasets.Features(
    {
        "bg_id": datasets.Value("int32"),
        "name": datasets.Value("string"),
        "image": _image,
        "depth": _image,
        "depth_min": datasets.Value("float32"),
        "depth_max": datasets.Value("float32"),
        "intrinsics": datasets.Sequence(datasets.Value("float32"), length=4),
        "ground_plane": datasets.Sequence(datasets.Value("float32"), length=4),
    }
)

FOREGROUND_FEATURES = datasets.Features(
    {
        "fg_id": datasets.Value("int32"),
        "name": datasets.Value("string"),
        "image": _image,
        "mask": _image,
        "height_m": datasets.Value("float32"),
    }
)

FEATURES = {FG_BG: FG_BG_FEATURES, BACKGROUNDS: BACKGROUND_FEATURES, FOREGROUNDS: FOREGROUND_FEATURES}

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
