"""The background a row stores: its encoded bytes (a jittered copy with --background-jitter) and, for
JPEG, the coded background its composites are spliced from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import BuildOptions
from ...schema import ROW_GROUP_SIZE, SPLITS
from ..encode import encode_image
from ..jpeg_splice import BackgroundJpeg
from ..light import jittered

_SALT_JITTER = 5


@dataclass
class EncodedBackground:
    """A background's stored bytes and, for JPEG, what its composites are spliced from (jpeg_splice.py)."""

    data: bytes
    jpeg: BackgroundJpeg | None

    @classmethod
    def of(cls, rgb: np.ndarray, options: BuildOptions) -> "EncodedBackground":
        if options.image_format != "jpeg":
            return cls(encode_image(rgb, options.image_format, options.jpeg_quality), None)
        jpeg = BackgroundJpeg(rgb, options.jpeg_quality)
        return cls(jpeg.code.to_bytes(), jpeg)


def jittered_background(options: BuildOptions, rgb: np.ndarray, bg_id: int, split: str, shard_index: int, row: int,
                        clean: EncodedBackground, made: dict[tuple[int, int], bytes]) -> EncodedBackground:
    """`clean` with its stored bytes replaced by a jittered copy (light.jittered), one per background and
    Parquet row group of the group's first row (`made` keeps them for the shard): rows of a row group share
    it, so its dictionary stores it about once. Composites are still spliced from the clean background."""
    key = (bg_id, row // ROW_GROUP_SIZE)
    if key not in made:
        rng = background_jitter_rng(options.seed, bg_id, split, shard_index, key[1])
        made[key] = encode_image(jittered(rgb, rng), options.image_format, options.jpeg_quality)
    return EncodedBackground(made[key], clean.jpeg)


def background_jitter_rng(seed: int, bg_id: int, split: str, shard_index: int, row_group: int) -> np.random.Generator:
    """The draw of one jittered copy: of a background, in one row group of one shard. `validate` draws it
    again to recompute the stored copy exactly."""
    return np.random.default_rng([seed, _SALT_JITTER, bg_id, SPLITS.index(split), shard_index, row_group])
