"""Stage 4, depth: a depth map for each composite.

A depth stage takes a batch of composites (with their masks and background ids) and returns float32 depth
maps, or None for `--depth none`. `SceneDepth` derives them from the backgrounds' own depth maps; the
model teacher (teacher.py) plugs in behind the same call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import UserError
from .sources import Sources

METRIC_NEAR_SMALL = "metric depth in metres along the optical axis: smaller is nearer"


class DepthStage(Protocol):
    meaning: str | None

    def __call__(self, images: np.ndarray, masks: np.ndarray, bg_ids: np.ndarray) -> np.ndarray | None:
        """images (N, S, S, 3) uint8, masks (N, S, S) uint8, bg_ids (N,) -> depth (N, S, S) float32."""


class NoDepth:
    meaning = None

    def __call__(self, images, masks, bg_ids):
        return None


@dataclass
class SceneDepth:
    """The background's depth, with the foreground standing at the depth of its contact point."""

    background_depths: list[np.ndarray]
    meaning: str = METRIC_NEAR_SMALL

    def __call__(self, images, masks, bg_ids):
        return np.stack([scene_depth(self.background_depths[b], m) for b, m in zip(bg_ids, masks)])


def scene_depth(background_depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The foreground is a flat cut-out standing upright where its bottom touches the scene: every
    foreground pixel gets the depth at the bottom centre of the mask, and never lies behind any background
    pixel it covers (a cut-out cannot be occluded by what it is pasted over)."""
    covered = mask > 0
    if not covered.any():
        return background_depth.copy()
    rows = np.flatnonzero(covered.any(axis=1))
    bottom = rows[-1]
    cols = np.flatnonzero(covered[bottom])
    contact = background_depth[bottom, cols[len(cols) // 2]]
    depth_here = min(contact, background_depth[covered].min())
    return np.where(covered, np.float32(depth_here), background_depth)


def make_depth_stage(mode: str, sources: Sources) -> DepthStage:
    if mode == "none":
        return NoDepth()
    if mode == "scene":
        if not sources.has_depth:
            raise UserError(
                "--depth scene needs background depth maps: pass --background-depths DIR or "
                "--background-depth-model ID, or use --depth model / --depth none"
            )
        return SceneDepth([bg.depth for bg in sources.backgrounds])
    raise UserError(f"--depth {mode} is not available in this build")
