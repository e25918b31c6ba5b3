"""Deterministic value noise shared by the rooms' and the sprites' textures."""

from __future__ import annotations

import numpy as np

def hash01(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point (wrapping uint32 maths)."""
    h = ix.astype(np.int64).astype(np.uint32) * np.uint32(0x8DA6B343)
    h ^= iy.astype(np.int64).astype(np.uint32) * np.uint32(0xD8163841)
    h ^= np.uint32((salt * 0xCB1AB31F) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def hash_scalar(salt: int, which: int) -> float:
    """One pseudo-random number per (room, purpose); via arrays because numpy scalars warn on wrap-around."""
    return float(hash01(np.array([salt]), np.array([which]), 5)[0])


def value_noise(x: np.ndarray, y: np.ndarray, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1) with unit lattice spacing."""
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    tx, ty = x - fx, y - fy
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)  # smoothstep hides the lattice
    top = hash01(ix, iy, salt) * (1 - tx) + hash01(ix + 1, iy, salt) * tx
    bottom = hash01(ix, iy + 1, salt) * (1 - tx) + hash01(ix + 1, iy + 1, salt) * tx
    return (top * (1 - ty) + bottom * ty).astype(np.float32)


def fbm(x: np.ndarray, y: np.ndarray, salt: int, octaves: int = 3) -> np.ndarray:
    """Fractal noise in roughly [0, 1): a few octaves of value noise."""
    total = np.zeros_like(x, dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        scale = 2.0**octave
        total += amplitude * value_noise(x * scale, y * scale, salt + 101 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


