"""Built-in, procedurally generated demo inputs: no files, no network, deterministic.

Backgrounds are closed box rooms rendered by vectorised ray casting.

Camera model
------------
World frame: x to the right, y up, z forward (metres).  The room is the box
``[0, W] x [0, H] x [0, D]``: floor ``y = 0``, ceiling ``y = H``, left/right walls
``x = 0`` / ``x = W``, front wall ``z = 0`` (behind the camera) and back wall ``z = D``.
The pinhole camera sits inside the box at ``(cx, height, cz)`` with focal length ``f``
in pixels and the principal point at the image centre.  Pixel ``(row, col)`` (centre at
``+0.5``) has the camera-frame ray ``((col + .5 - size/2) / f, (size/2 - row - .5) / f, 1)``
(y up).  That ray is pitched about the camera x axis (positive = look up) and then yawed
about the world y axis (positive = turn right).

Because the camera-frame ray has z component exactly 1 and rotations are applied to it
unnormalised, the ray parameter ``t`` of a hit is directly the z-depth along the optical
axis (what depth maps store), not the Euclidean range.  The camera is strictly inside a
closed box, so every ray leaves it through exactly one face at a finite ``t > 0``: depth
is positive and finite everywhere.  Each hit also gives a surface id and 2-D surface
coordinates (metres) from which the textures are computed.

Foregrounds are sprites built from a few signed-distance primitives (circles, rounded
boxes, capsules, trapezoids) with analytic bounding boxes, which lets the sprite be
scaled and placed so that its alpha support exactly fills ``max(h, w) == size`` pixels
and touches the bottom edge, without resampling.
"""

from __future__ import annotations

import numpy as np

from ...threads import ordered_map
from .rooms import render_room
from .sprites import SPRITE_KINDS, render_sprite

MIN_SIZE = 16

_FOREGROUND_STREAM = 0xF0  # extra seed word so sprites are not correlated with rooms

# --------------------------------------------------------------------------- public API


def demo_backgrounds(count: int, size: int, seed: int = 0, threads: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` indoor-like rooms, each (rgb uint8 (size,size,3), depth float32 (size,size) in metres),
    rendered on up to `threads` threads."""
    _check_args(count, size, seed)
    # Each room from its own seed, so rendering them on threads gives the same rooms.
    return ordered_map(lambda index: render_room(np.random.default_rng([seed, index]), size), range(count), threads)


def demo_foregrounds(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """`count` cut-out sprites, each RGBA uint8 (h, w, 4) with max(h, w) == size, soft alpha edges,
    alpha exactly 0 well outside the shape, 255 inside."""
    _check_args(count, size, seed)
    sprites = []
    for index in range(count):
        rng = np.random.default_rng([seed, index, _FOREGROUND_STREAM])
        # Cycle through the kinds so even a handful of sprites is varied.
        kind = SPRITE_KINDS[(index + seed) % len(SPRITE_KINDS)]
        sprites.append(render_sprite(kind(rng), size, salt=index * 7919 + seed))
    return sprites


def _check_args(count: int, size: int, seed: int) -> None:
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if int(size) != size or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


