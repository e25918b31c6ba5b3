"""Render OUT/README.md (the Hub dataset card) from dataset_card.md and the manifest.

The YAML header's `configs` and `dataset_info` come from schema.py, so what the card promises is what the
shards hold."""

from __future__ import annotations

import json
import re
import shlex
from importlib.resources import files
from pathlib import Path
from string import Template

import yaml

from ..baseline.report import baseline_section
from .card_depth import credits_depth, depth_text, shown_path
from ..output.manifest import load_manifest
from ..config import NO_MODEL, RECORDED_ONLY, default_background_model
from ..output.model import DatasetRules
from .card_placement import fg_size, left_out_total, placement_counts_text, placement_text
from ..rules import DepthMode
from ..schema import CARD, CONFIGS, FG_BG, GALLERY_DIR, STATS, yaml_configs, yaml_features

DEFAULT_REPO_ID = "org/mono-depth-mask"
LICENSE = "other"  # the default: the inputs' licenses decide; `card --license ID` sets a Hub license id
# The Hub asks `license: other` to come with a name and a link (a URL, or a file of the repo).
LICENSE_NAME = "inputs-licenses"
LICENSE_LINK = "README.md"


def size_category(rows: int) -> str:
    """The Hub's size_categories bucket for a row count."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for bound, label in bounds if rows < bound), "100M<n<1B")


def yaml_header(manifest: dict, pretty_name: str, license: str = LICENSE, out: Path | None = None,
                license_name: str = LICENSE_NAME, license_link: str = LICENSE_LINK, shards_root=None) -> str:
    splits = list(manifest["splits"])
    header = {
        "pretty_name": pretty_name,
        "license": license,
        **({"license_name": license_name, "license_link": license_link} if license == "other" else {}),
        "task_categories": ["depth-estimation", "image-segmentation"],
        "size_categories": [size_category(sum(manifest["splits"].values()))],
        "tags": ["synthetic", "monocular-depth", "foreground-segmentation", "image-compositing"],
        "configs": [_listed_splits_only(entry, manifest) for entry in yaml_configs(splits)],
        "dataset_info": [_dataset_info(manifest, config, config_splits(manifest, config, splits), out, shards_root)
                         for config in CONFIGS],
    }
    return yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip("\n")


def config_splits(manifest: dict, config: str, splits: list[str]) -> list[str]:
    """The splits a config lists: an input config whose files are the same bytes in every split (all
    foregrounds are in both splits when the split is by background) lists its first split only, so the
    card does not offer one table twice under two names."""
    files = {split: sorted(s["sha256"] for s in manifest["shards"] if s["config"] == config and s["split"] == split)
             for split in splits}
    if config != FG_BG and len(splits) > 1 and files[splits[0]] and all(f == files[splits[0]] for f in files.values()):
        return splits[:1]
    return splits


def _listed_splits_only(entry: dict, manifest: dict) -> dict:
    listed = config_splits(manifest, entry["config_name"], [f["split"] for f in entry["data_files"]])
    return {**entry, "data_files": [f for f in entry["data_files"] if f["split"] in listed]}


def _dataset_info(manifest: dict, config: str, splits: list[str], out: Path | None, shards_root=None) -> dict:
    """Sizes as `datasets` defines them: a split's num_bytes is its in-memory Arrow size (from the shards'
    footers), dataset_size their sum, download_size the bytes of the listed files. Left out when a shard's
    footer does not say (a shard written elsewhere, or before the footer held it)."""
    shards = [s for s in manifest["shards"] if s["config"] == config and s["split"] in splits]
    in_memory = {split: _split_nbytes([out, shards_root], [s for s in shards if s["split"] == split]) for split in splits}
    known = all(value is not None for value in in_memory.values())
    return {
        "config_name": config,
        "features": yaml_features(config),
        "splits": [
            {
                "name": split,
                **({"num_bytes": in_memory[split]} if known else {}),
                "num_examples": sum(s["rows"] for s in shards if s["split"] == split),
            }
            for split in splits
        ],
        "download_size": sum(s["bytes"] for s in shards),
        **({"dataset_size": sum(in_memory.values())} if known else {}),
    }


def _split_nbytes(roots: list, shards: list[dict]) -> int | None:
    """The summed footers' sizes; `roots`: where the shards may be (OUT, or a URL the fg_bg shards went to)."""
    from ..output.parquet import arrow_nbytes

    total = 0
    for shard in shards:
        size = next((size for root in roots if root is not None and (size := _footer_nbytes(root, shard["path"], arrow_nbytes)) is not None), None)
        if size is None:
            return None
        total += size
    return total


def _footer_nbytes(root, relative: str, arrow_nbytes) -> int | None:
    from ..output.folder import open_input

    try:
        with open_input(root, relative) as stream:
            return arrow_nbytes(stream)
    except (OSError, ValueError):  # absent here, or not readable as Parquet
        return None


DEFAULT_SETTINGS = {"repo_id": DEFAULT_REPO_ID, "pretty_name": "mono-depth-mask", "license": LICENSE,
                    "license_name": LICENSE_NAME, "license_link": LICENSE_LINK}


def card_settings(manifest: dict, **given: str | None) -> dict[str, str]:
    """The card's repo id, title and license: those given, else the ones kept in the manifest by an
    earlier `card` command, else the defaults. Kept so that a later generate, relabel-depth, stats or
    gallery re-renders the card without losing them."""
    kept = manifest.get("card") or {}
    return {key: given.get(key) or kept.get(key) or default for key, default in DEFAULT_SETTINGS.items()}


def render_card(out: Path, repo_id: str = DEFAULT_REPO_ID, pretty_name: str = "mono-depth-mask", license: str = LICENSE,
                license_name: str = LICENSE_NAME, license_link: str = LICENSE_LINK, shards_root=None, manifest: dict | None = None) -> str:
    out = Path(out)
    manifest = manifest or load_manifest(out)
    template = Template(files(__package__).joinpath("dataset_card.md").read_text(encoding="utf-8"))
    fields = _fields(out, manifest, repo_id, pretty_name)
    fields["yaml_header"] = yaml_header(manifest, pretty_name, license, out, license_name, license_link, shards_root)
    fields["license_text"] = _license_text(license, license_name)
    fields["credits_depth"] = credits_depth(manifest)
    text = template.substitute(fields)
    return text


def write_card(out: Path, repo_id: str | None = None, pretty_name: str | None = None, license: str | None = None,
               license_name: str | None = None, license_link: str | None = None, shards_root=None, manifest: dict | None = None) -> Path:
    """Render OUT/README.md; settings given here are kept in the manifest for later renders. `shards_root`:
    where the fg_bg shards are when not in OUT (a build into a URL); `manifest`: the one a command holds
    before it marks OUT complete (else OUT's, which must be finished)."""
    from ..schema import MANIFEST
    from ..output.folder import write_json, write_text

    out = Path(out)
    held = manifest
    manifest = manifest or load_manifest(out)
    given = dict(repo_id=repo_id, pretty_name=pretty_name, license=license, license_name=license_name, license_link=license_link)
    settings = card_settings(manifest, **given)
    if manifest.get("card") != settings and any(given.values()) and held is None:
        write_json(out / MANIFEST, {**manifest, "card": settings})
    path = out / CARD
    write_text(path, render_card(out, **settings, shards_root=shards_root, manifest=manifest))
    return path


def _license_text(license: str, license_name: str = LICENSE_NAME) -> str:
    if license == "other":
        return (f"`other` (`{license_name}`): the licenses of the inputs apply. The composites inherit the licenses "
                "of the background and foreground images they were made from (the built-in demo inputs are "
                "procedurally generated by mono-depth-mask, MIT).")
    return f"`{license}` (Hub license id), which must be compatible with the licenses of the input images."


def _fields(out: Path, manifest: dict, repo_id: str, pretty_name: str) -> dict[str, str]:
    o = manifest["options"]
    inputs = manifest["inputs"]
    total = sum(manifest["splits"].values())
    total_bytes = sum(s["bytes"] for s in manifest["shards"])
    fg_bg_bytes = sum(s["bytes"] for s in manifest["shards"] if s["config"] == FG_BG)
    return {
        "pretty_name": pretty_name,
        "repo_id": repo_id,
        "generator_version": manifest["packages"].get("mono-depth-mask", ""),
        "flip_text": " and its horizontal flip" if o["flip"] else "",
        "placements": str(o["placements"]),
        "depth_source": _depth_source(manifest),
        "split_list": ", ".join(manifest["splits"]),
        "size_table": _size_table(manifest),
        "total_samples": f"{total:,}",
        "num_backgrounds": str(len(inputs["backgrounds"])),
        "num_foregrounds": str(len(inputs["foregrounds"])),
        "num_flips": "2 flips" if o["flip"] else "1",
        "total_megabytes": f"{total_bytes / 1e6:,.1f}",
        "bytes_per_sample": f"{fg_bg_bytes / max(total, 1):,.0f}",
        "backgrounds_text": "built-in procedural indoor rooms with exact depth" if o["demo"] else f"{len(inputs['backgrounds'])} photos",
        "foregrounds_text": "built-in procedural sprites with soft alpha" if o["demo"] else f"{len(inputs['foregrounds'])} cut-outs",
        "bg_size": str(o["bg_size"]),
        "fg_size": str(o["fg_size"] or o["bg_size"] // 2),
        "jitter_text": f", sizes varied by up to ±{o['scale_jitter']:g}" if o["scale_jitter"] else "",
        "cutout_size_text": _cutout_size_text(manifest),
        "placement_text": placement_text(manifest),
        "placement_counts_text": placement_counts_text(manifest),
        "left_out_total": left_out_total(manifest),
        "objects_text": _objects_text(o.get("objects", "1"), o.get("distractors", 0), manifest.get("hidden_objects", 0)),
        "seed": str(o["seed"]),
        "mask_text": "the foreground's alpha (resized bilinearly) on black" if o["soft_mask"] else "binary: 255 where the foreground's alpha is at least one half, 0 elsewhere",
        "depth_text": depth_text(manifest),
        "split_text": _split_text(o),
        "image_format": "JPEG" if o["image_format"] == "jpeg" else "PNG",
        "image_format_text": f"JPEG quality {o['jpeg_quality']} (lossy); masks and depth are lossless PNG" if o["image_format"] == "jpeg" else "lossless PNG",
        "statistics_section": _statistics_section(out),
        "gallery_section": _gallery_section(out),
        "baseline_section": baseline_section(out),
        "command": _command(o),
        "command_where": _command_where(o),
    }


def _objects_text(objects: str, distractors: int, hidden: int) -> str:
    """The --objects and --distractors sentences and the labelled objects hidden entirely (none: nothing)."""
    several = (f" Each composite shows {objects.replace('-', ' to ')} objects: the row's own and others drawn from its split's foregrounds. "
               "On a floor they stand apart, the nearer hiding the farther pixel by pixel; placed by the uniform or ground rule they are "
               "pasted flat in a drawn depth order, farthest first, their silhouettes' boxes overlap at most half of the smaller box, and "
               "each takes the depth under its bottom centre, never deeper than what it covers. `mask`, `amodal_mask` and `bbox` are the "
               "unions of all of them, `x`, `y`, `w`, `h` the row's own object's.")
    extra = f" Up to {distractors} unlabelled distractors are placed the same way: in the composite and its depth, in no label (`mask`, `amodal_mask`, `objects`, `instances`)."
    dropped = f" {hidden:,} labelled objects hidden entirely (by the scene or nearer objects) are left out of `objects` and `instances`."
    return (extra if distractors else "") + ("" if objects == "1" else several) + (dropped if hidden else "")


def _cutout_size_text(manifest: dict) -> str:
    o = manifest["options"]
    if DatasetRules.of(manifest).on_floor:
        return f"stored at their own resolution (longest side at most {o['bg_size']} px)"
    return f"resized so the longest side is {fg_size(o)} px"


def _depth_source(manifest: dict) -> str:
    sources = {DepthMode.NONE: " (none in this build)", DepthMode.SCENE: " derived from the backgrounds' depth", DepthMode.MODEL: " from a depth model"}
    return sources[DatasetRules.of(manifest).depth]


def _split_text(options: dict) -> str:
    by = options["split_by"]
    return f"{options['test_fraction']:g} of the {by}s{'' if by == 'sample' else ' (and all their composites)'} go to `test`, chosen by the seed."


def _size_table(manifest: dict) -> str:
    """Rows per config and split, of the splits the YAML header lists (config_splits)."""
    splits = list(manifest["splits"])
    rows = {}
    for config in CONFIGS:
        listed = config_splits(manifest, config, splits)
        for shard in manifest["shards"]:
            if shard["config"] == config and shard["split"] in listed:
                rows[(config, shard["split"])] = rows.get((config, shard["split"]), 0) + shard["rows"]
    return "\n".join(f"| {config} | {split} | {count:,} |" for (config, split), count in rows.items())


def _statistics_section(out: Path) -> str:
    path = out / STATS
    if not path.is_file():
        return ""
    stats = json.loads(path.read_text(encoding="utf-8"))
    lines = ["## Statistics", "",
             "Channel-wise mean and standard deviation of pixel values scaled to [0, 1] (8-bit / 255, depth PNG / 65535), "
             "pooled over all pixels of all images of a kind, exact (from integer histograms accumulated while generating; "
             "`mono-depth-mask stats` recomputes them from the shards). Composites and backgrounds as decoded from their stored bytes; "
             "foregrounds over their pixels with alpha > 0; depth is the per-image normalised PNG over its known pixels (`depth_known`).", "",
             "| kind | count | bytes | size | channels | mean | std |", "|---|---|---|---|---|---|---|"]
    for kind, entry in stats.get("kinds", {}).items():
        mean = ", ".join(f"{v:.4f}" for v in entry["mean"])
        std = ", ".join(f"{v:.4f}" for v in entry["std"])
        lines.append(f"| {kind} | {entry['count']:,} | {entry.get('bytes', 0) / 1e6:,.1f} MB | {entry.get('dimensions', '')} "
                     f"| {entry.get('channels', '')} | {mean} | {std} |")
    return "\n".join(lines) + "\n"


def _gallery_section(out: Path) -> str:
    folder = out / GALLERY_DIR
    if not folder.is_dir():
        return ""
    pictures = sorted(p.name for p in folder.glob("*.png"))
    body = "\n\n".join(f"![{Path(name).stem}]({GALLERY_DIR}/{name})" for name in pictures)
    about = ("Composites, masks and depth maps of a few rows chosen by the seed (one depth colour scale per sheet, or one per map when their ranges differ more than threefold); "
             "the mask coverage histogram counts every row, the depth histograms use the sampled rows' pixels and every row's range. "
             "Redraw with `mono-depth-mask gallery OUT`.")
    return f"## Gallery\n\n{about}\n\n{body}\n"


# Options that are on by default: the CLI has only their `--no-` switch.
NEGATED_FLAGS = {"flip": "--no-flip", "decontaminate": "--no-decontaminate"}
# Options that name files or folders: shown by their name, so the command runs from the folder holding them.
PATH_OPTIONS = ("backgrounds", "foregrounds", "masks", "background_depths", "fg_heights")


def _command(options: dict) -> str:
    """The generate command that makes this dataset's bytes again, every recorded option spelled as a flag."""
    words = ["mono-depth-mask", "generate"]
    for key, value in options.items():
        if key in RECORDED_ONLY:  # the command's build records them again (the same while the tool's modes are)
            continue
        if key in NEGATED_FLAGS:
            words += [] if value else [NEGATED_FLAGS[key]]
        elif value is True:
            words.append("--" + key.replace("_", "-"))
        elif value is not None and value is not False:  # 0 and 0.0 are values (`--test-fraction 0`)
            words += ["--" + key.replace("_", "-"), shown_path(value) if isinstance(value, str) else str(value)]
    if options.get("background_depth_model") is None and default_background_model(
            options.get("demo"), options.get("background_depths"), options.get("depth"), options.get("placement")):
        words += ["--background-depth-model", NO_MODEL]  # built without the model the command would run by default
    return shlex.join(words + ["--out", "OUT"])


def _local_model(value: str) -> bool:
    """A model given as a folder (by path), not as a Hub id."""
    return Path(value).is_absolute() or Path(value).is_dir() or not re.fullmatch(r"[\w.-]+/[\w.-]+", value)


def _command_where(options: dict) -> str:
    """Where the command runs as written: the folder holding the inputs it names."""
    models = [key for key in ("depth_model", "background_depth_model") if options.get(key) and _local_model(options[key])]
    named = [shown_path(options[key]) for key in (*PATH_OPTIONS, *models) if options.get(key)]
    if not named:
        return "It needs no input files."
    listed = ", ".join(f"`{name}`" for name in named)
    return f"Run it from the folder that holds the inputs it names ({listed}), with the same files in them."
