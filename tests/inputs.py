"""Small input folders written by the tests, in the layouts users have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random RGB picture (gradients plus noise), more photo-like than white noise."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = rng.uniform(0, 255, 3) * (1 - x[..., None]) + rng.uniform(0, 255, 3) * y[..., None]
    return np.clip(base / 2 + rng.normal(0, 12, (height, width, 3)) + 40, 0, 255).astype(np.uint8)


def blob_alpha(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An ellipse with a soft one-pixel edge, transparent padding around it."""
    y, x = np.mgrid[0:height, 0:width]
    cx, cy = width / 2 + rng.uniform(-2, 2), height / 2 + rng.uniform(-2, 2)
    r = np.sqrt(((x - cx) / (width * 0.4)) ** 2 + ((y - cy) / (height * 0.45)) ** 2)
    return (np.clip((1 - r) * 20, 0, 1) * 255).astype(np.uint8)


def write_backgrounds(folder: Path, count: int, prefix: str = "bg_img_", size=(80, 60), seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(1, count + 1):
        path = folder / f"{prefix}{i}.jpg"
        Image.fromarray(photo(rng, *size)).save(path, quality=95)
        paths.append(path)
    return paths


def write_cutouts(folder: Path, count: int, prefix: str = "fg_", size=(40, 60), seed: int = 1) -> list[Path]:
    """RGBA PNG cut-outs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(1, count + 1):
        path = folder / f"{prefix}{i}.png"
        rgba = np.dstack([photo(rng, *size), blob_alpha(rng, *size)])
        Image.fromarray(rgba, "RGBA").save(path)
        paths.append(path)
    return paths


def write_peer_layout(root: Path, backgrounds: int, foregrounds: int) -> dict[str, Path]:
    """The loose-file layout of hand-made datasets: bg_img_N.jpg, fg_img_N.jpg (no alpha) and mask_img_N.jpg."""
    rng = np.random.default_rng(3)
    write_backgrounds(root / "bg", backgrounds)
    for folder in ("fg", "mask"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(1, foregrounds + 1):
        Image.fromarray(photo(rng, 40, 60)).save(root / "fg" / f"fg_img_{i}.jpg", quality=95)
        mask = np.where(blob_alpha(rng, 40, 60) > 128, 255, 0).astype(np.uint8)
        Image.fromarray(mask, "L").save(root / "mask" / f"mask_img_{i}.jpg", quality=90)
    return {"backgrounds": root / "bg", "foregrounds": root / "fg", "masks": root / "mask"}


def write_depths(folder: Path, backgrounds: list[Path], suffix: str = ".npy") -> None:
    """A depth map per background: a floor plane, far at the top and near at the bottom (metres)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in backgrounds:
        width, height = Image.open(path).size
        depth = np.linspace(8.0, 1.0, height, dtype=np.float32)[:, None].repeat(width, axis=1)
        if suffix == ".npy":
            np.save(folder / f"{path.stem}.npy", depth)
        else:
            Image.fromarray((depth * 1000).astype(np.uint16)).save(folder / f"{path.stem}.png")


def floor_scene_depth(width: int, height: int, hfov: float = 60.0, pitch_down: float = 15.0, camera_height: float = 1.5,
                      wall: float = 7.0, slab: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Metric z-depth (float32, metres) of a floor seen from `camera_height` m by a pinhole camera of horizontal
    field of view `hfov`, pitched down `pitch_down` degrees, with a back wall `wall` m ahead and optionally a
    vertical slab (z, x0, x1, top), standing on the floor `z` m ahead between x0 and x1, `top` m tall."""
    focal = (width / 2) / np.tan(np.radians(hfov) / 2)
    v, u = np.mgrid[0:height, 0:width] + 0.5
    rays = np.stack([(u - width / 2) / focal, -(v - height / 2) / focal, np.ones_like(u)], axis=-1)
    pitch = np.radians(pitch_down)
    down = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    world = rays @ down.T  # camera -> world directions; t along them is still the camera z-depth
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = [np.where(world[..., 1] < 0, -camera_height / world[..., 1], np.inf), np.where(world[..., 2] > 0, wall / world[..., 2], np.inf)]
        if slab is not None:
            z, x0, x1, top = slab
            t = np.where(world[..., 2] > 0, z / world[..., 2], np.inf)
            x, y = t * world[..., 0], camera_height + t * world[..., 1]
            hits.append(np.where((x >= x0) & (x <= x1) & (y >= 0) & (y <= top), t, np.inf))
    return np.minimum.reduce(hits).astype(np.float32)
