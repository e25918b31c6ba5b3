"""The card's account of the placement: the rule in force, the cameras and floors it used, and how many
rows each rule placed, with the floor rule's misses (samples placed by the uniform rule instead, or left
out) per reason and per (foreground, background), from the manifest's `placements`."""

from __future__ import annotations

from ..output.model import DatasetRules
from ..pipeline.placement_counts import PlacementCounts
from ..rules import FloorMiss, PlacementRule

INTRINSICS_ORIGINS = {
    "demo": "the demo's exact pinhole camera",
    "exif35mm": "the photo's EXIF 35 mm-equivalent focal length (on the 43.27 mm diagonal)",
    "exif_focal_plane": "the photo's EXIF focal length and sensor resolution (the photo has the pixel size EXIF records)",
    "fov": "the horizontal field of view given with `--fov`",
    "model": "the horizontal field of view the background depth model predicted for the stored square",
    "default": "an assumed horizontal field of view of 60 degrees",
}


def placement_text(manifest: dict) -> str:
    """What the placement models, and what it does not."""
    o = manifest["options"]
    geometry = manifest.get("geometry") or {}
    rule = DatasetRules.of(manifest).placement
    seed = f"a pure function of (seed {o['seed']}, bg_id, fg_id, flipped, placement)"
    if rule != PlacementRule.FLOOR:
        where = "with its bottom edge in the lower part of the image" if rule == PlacementRule.GROUND else "anywhere inside the background"
        return f"`{rule}`: one size ({fg_size(o)} px longest side), {where}; nothing in the scene hides it; {seed}."
    cameras = "; ".join(f"{INTRINSICS_ORIGINS.get(k, k)} for {n}" for k, n in geometry.get("intrinsics", {}).items())
    floors = geometry.get("backgrounds_with_floor", 0)
    return (
        "`floor`: each cut-out stands on the floor of its background. The floor plane is fitted (RANSAC) to the "
        "background's metric depth and stored as `ground_plane` in the backgrounds config, with the camera's "
        f"`intrinsics` ({cameras}). The contact point (bottom centre of the silhouette) is a visible floor pixel; "
        "the silhouette's top row is the projection of the point `height_m` (foregrounds config) above it, so its "
        "size follows its real height and its depth. Where the background is nearer than the object by more than "
        "max(1 cm, 0.5 %), the object is hidden: `mask` is the visible part, `amodal_mask` the whole silhouette. "
        f"{floors} of {len(manifest['inputs']['backgrounds'])} backgrounds show a floor. A placement is drawn among the "
        "visible floor pixels where the cut-out stands at its true size inside the picture (the whole floor is "
        f"searched, so a tall object stands far away); where there is none, {_where_none(o)}. "
        f"{seed[0].upper()}{seed[1:]}. Not modelled: "
        "objects standing on furniture, contact with walls, the scene's lighting and shadows."
    )


def _where_none(options: dict) -> str:
    if options["placement"] == PlacementRule.FLOOR:
        return "the sample is left out (`--placement floor` places nothing at a wrong size)"
    return "the sample follows the uniform rule (`--placement auto`) and its `placement_rule` says `uniform`"


MISS_MEANINGS = {
    FloorMiss.NO_FLOOR: "the background shows no floor",
    FloorMiss.DOES_NOT_FIT: "no visible floor pixel lets the cut-out stand at its true size inside the picture",
    FloorMiss.TOO_LITTLE_FLOOR: "it fits on fewer distinct positions than --placements",
}
LISTED_MISSES = 20  # (foreground, background, reason) lines the card lists; manifest.json `placements` has all


def placement_counts_text(manifest: dict) -> str:
    """Rows per placement rule and, for the floor rule's misses, how many, why, and for which pairs."""
    counts = _counts(manifest)
    if counts is None:
        return "not recorded."
    rules = ", ".join(f"`{rule}` {n:,}" for rule, n in counts.to_json()["rules"].items())
    text = f"rows per rule (`placement_rule`): {rules or 'none'}."
    inputs = manifest["inputs"]
    for what, misses in (("placed by the uniform rule instead of the floor", counts.fallbacks),
                         ("left out (the floor rule places nothing at a wrong size)", counts.left_out)):
        if not misses:
            continue
        reasons = "; ".join(f"`{reason}` {n:,} ({MISS_MEANINGS[reason]})" for reason, n in counts.reasons(misses).items())
        listed = sorted(misses.items(), key=lambda item: (-item[1], item[0][0], item[0][1], str(item[0][2])))
        pairs = ", ".join(f"`{inputs['foregrounds'][fg]}` on `{inputs['backgrounds'][bg]}` {n:,} (`{reason}`)"
                          for (fg, bg, reason), n in listed[:LISTED_MISSES])
        more = f" and {len(listed) - LISTED_MISSES:,} more pairs (manifest.json `placements`)" if len(listed) > LISTED_MISSES else ""
        text += f" Samples {what}: {sum(misses.values()):,}, {reasons}; by foreground and background: {pairs}{more}."
    return text


def left_out_total(manifest: dict) -> str:
    counts = _counts(manifest)
    left_out = sum(counts.left_out.values()) if counts is not None else 0
    return f", less {left_out:,} samples the floor rule left out" if left_out else ""


def fg_size(options: dict) -> int:
    return options["fg_size"] or options["bg_size"] // 2


def _counts(manifest: dict) -> PlacementCounts | None:
    """The manifest's `placements` (checked when it was read), or None in a dataset built without them."""
    record = manifest.get("placements")
    return PlacementCounts.from_json(record) if record is not None else None
