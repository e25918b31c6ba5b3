"""A held-out set that was not made by pasting: demo rooms rendered twice, without and with one piece of
their furniture, so the pair is a (background, composite) whose mask is that piece's visible pixels and
whose depth is the scene's exact depth. The piece is lit, shadowed and hidden by the renderer itself.

Rooms no build uses: a build's demo room `i` is drawn from the seed key (seed, i) and its furniture from
(seed, i, 0xF1) (sprites use three-word keys ending in 0xF0 or 0xF2); every held-out key has three words
and ends in HELDOUT_KEY, which no build key does, so a held-out room is never a room of any build,
whatever its --seed and --num-backgrounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import torch

from ..pipeline.demo import FURNITURE
from ..pipeline.demo.rooms import draw_room, render_room
from ..training import normalisation

HELDOUT_KEY = 0x4E1D
_ROOM, _FURNISHING, _GRAIN = range(3)
MIN_VISIBLE = 0.01  # the piece must cover at least 1 % of the picture; rooms where none does are skipped


@dataclass(frozen=True, eq=False)
class HeldoutPair:
    background: np.ndarray  # (size, size, 3) uint8: the room without the piece
    composite: np.ndarray  # (size, size, 3) uint8: the same room with it
    mask: np.ndarray  # (size, size) bool: the piece's visible pixels
    depth: np.ndarray  # (size, size) float32: the furnished scene's depth, metres along the optical axis
    room: int  # the held-out room's index
    piece: str  # the furniture's kind


def heldout_pair(index: int, size: int) -> HeldoutPair | None:
    """Room `index` of the held-out stream, or None when no piece of its furniture covers MIN_VISIBLE."""
    furnished = render_room(_rng(index, _ROOM), size, _rng(index, _FURNISHING)).room
    if not furnished.furniture:
        return None
    with_piece = draw_room(furnished, size, _rng(index, _GRAIN))
    visible = [np.count_nonzero(with_piece.surface == FURNITURE + k) for k in range(len(furnished.furniture))]
    piece = int(np.argmax(visible))  # the most visible piece: the most to learn from
    if visible[piece] < MIN_VISIBLE * size * size:
        return None
    others = furnished.furniture[:piece] + furnished.furniture[piece + 1:]
    # The same grain on both renders: the pair differs only where the piece is, hides or shades the room.
    without_piece = draw_room(furnished._replace(furniture=others), size, _rng(index, _GRAIN))
    return HeldoutPair(without_piece.rgb, with_piece.rgb, with_piece.surface == FURNITURE + piece,
                       with_piece.depth, index, furnished.furniture[piece].kind)


def heldout_set(count: int, size: int) -> list[HeldoutPair]:
    """The first `count` usable rooms of the held-out stream (the same ones every time)."""
    pairs, index = [], 0
    while len(pairs) < count:
        pair = heldout_pair(index, size)
        if pair is not None:
            pairs.append(pair)
        index += 1
    return pairs


def heldout_batches(pairs: list[HeldoutPair], stats: Mapping, batch_size: int) -> Iterator[dict]:
    """Batches in the training loader's format, normalised with the dataset's own statistics."""
    image_norm, background_norm = normalisation(stats, "image"), normalisation(stats, "background")
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        yield {
            "input": torch.cat([_normalised([p.background for p in chunk], background_norm),
                                _normalised([p.composite for p in chunk], image_norm)], dim=1),
            "mask": torch.from_numpy(np.stack([p.mask for p in chunk])[:, None].astype(np.float32)),
            "depth": torch.from_numpy(np.stack([p.depth for p in chunk])[:, None].astype(np.float32)),
            "depth_valid": torch.ones(len(chunk), dtype=torch.bool),
        }


def _normalised(images: list[np.ndarray], mean_std) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in mean_std)
    return (x - mean) / std


def _rng(index: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([index, purpose, HELDOUT_KEY])
