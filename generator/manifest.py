"""OUT/manifest.json: what was built, from what, with what, and the sha256 of every shard.

It is also how `generate` recognises its own output: a folder holding a manifest with other options is
another dataset and is not overwritten by accident.
"""

from __future__ import annotations

import json
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import UserError
from .options import BuildOptions
from .schema import CARD, CONFIG_DIRS, GALLERY_DIR, MANIFEST, STATS
from .writer import write_json

if TYPE_CHECKING:
    from .build import BuildSummary
    from .sources import Sources

FORMAT = "mono-depth-mask/1"
PACKAGES = ("numpy", "pillow", "pyarrow", "datasets", "huggingface_hub", "transformers", "torch")
OWNED = [*CONFIG_DIRS.values(), MANIFEST, STATS, CARD, GALLERY_DIR]


def read_manifest(out: Path) -> dict | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is unreadable ({error}); move it away or choose another --out") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is not a mono-depth-mask manifest; choose another --out")
    return data


def load_manifest(out: Path) -> dict:
    """The manifest of an existing dataset, for the commands that read one."""
    data = read_manifest(out)
    if data is None:
        raise UserError(f"{out} holds no mono-depth-mask dataset (no {MANIFEST})")
    return data


def option_differences(old: dict, new: BuildOptions) -> list[str]:
    current = new.to_dict()
    return sorted(key for key in current.keys() | old.keys() if old.get(key) != current.get(key))


def prepare_output(out: Path, options: BuildOptions, overwrite: bool) -> None:
    """Make sure `out` may receive this build: empty, or our own dataset with the same options, or our
    own dataset with other options and --overwrite (its files are removed). Never touches a foreign
    folder's files."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    manifest = read_manifest(out)
    if manifest is None:
        raise UserError(f"--out {out} is not empty and holds no mono-depth-mask dataset; choose an empty folder")
    changed = option_differences(manifest.get("options", {}), options)
    if changed and not overwrite:
        raise UserError(
            f"--out {out} holds a dataset built with other options ({', '.join(changed)}); "
            "pass --overwrite to replace it or choose another folder"
        )
    if changed:
        remove_dataset(out)


def remove_dataset(out: Path) -> None:
    for name in OWNED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "mono-depth-mask": __version__}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def write_manifest(out: Path, options: BuildOptions, sources: "Sources", depth_info: dict, summary: "BuildSummary") -> dict:
    data = {
        "format": FORMAT,
        "options": options.to_dict(),
        "packages": package_versions(),
        "depth": {"mode": options.depth, **depth_info},
        "inputs": {
            "backgrounds": [bg.name for bg in sources.backgrounds],
            "foregrounds": [fg.name for fg in sources.foregrounds],
            "bg_size": options.bg_size,
            "fg_shapes": [list(fg.rgba.shape[:2]) for fg in sources.foregrounds],
        },
        "splits": summary.rows_per_split,
        "shards": [vars(shard) for shard in summary.shards],
    }
    write_json(out / MANIFEST, data)
    return data
