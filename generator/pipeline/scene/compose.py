"""Scenes from the build's options, sources and seed: for each sample, where its cut-out goes (the floor
rule, or the uniform and ground plan), the cut-out at that size, its depth where it stands on the floor,
and its effects drawn from the sample's seed. A pure function of its arguments, so any worker makes the
same scenes for a shard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import BuildOptions
from ...rules import BlendMode, FloorMiss, PlacementRule
from ..blend import BLENDS
from ..cutouts import CUTOUTS
from ..light import SHADOW_STRENGTH, contact_shadow
from ..placement import floor_placements
from ..plan import Placement, placements
from ..sources import Background, Foreground, Sources
from .model import ObjectEffects, PlacedObject, Scene, Shadow
from .several import drawn_layers, extra_objects, objects_rng, standing_depth

_SALT_EFFECTS = 4


@dataclass(frozen=True)
class Effects:
    """The build's edges and light: the blend asked for (`mix`: one of `mix_modes` per placement)."""

    blend: BlendMode = BlendMode.ALPHA
    shadow: bool = False
    harmonize: bool = False
    mix_modes: tuple[BlendMode, ...] = ()

    @classmethod
    def of(cls, options: BuildOptions) -> "Effects":
        return cls(options.blend, options.shadow, options.harmonize, options.mix_modes or ())

    @property
    def any(self) -> bool:
        return self.blend != BlendMode.ALPHA or self.shadow or self.harmonize


@dataclass(frozen=True)
class SampleKey:
    """What a placement's seeded choices depend on."""

    seed: int
    bg_id: int
    fg_id: int
    flipped: bool
    k: int

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SALT_EFFECTS, self.bg_id, self.fg_id, int(self.flipped), self.k])


def edge_mode(effects: Effects, rng: np.random.Generator) -> BlendMode:
    """The placement's mode: the blend asked for, or for mix one of the recorded modes drawn uniformly."""
    if effects.blend != BlendMode.MIX:
        return effects.blend
    return effects.mix_modes[int(rng.integers(len(effects.mix_modes)))]


def object_effects(effects: Effects, key: SampleKey, background: Background, place: Placement) -> ObjectEffects:
    """An object's effects, drawn from its key in a fixed order: the mode, the shadow's strength (where
    it casts one), then the mode's own parameters."""
    if not effects.any:
        return ObjectEffects()
    rng = key.rng()
    mode = edge_mode(effects, rng)
    shadow = None
    if effects.shadow and place.contact is not None and background.floor is not None:
        cast = contact_shadow(background.depth, background.floor, place)
        if cast is not None:
            shadow = Shadow(*cast, float(rng.uniform(*SHADOW_STRENGTH)))
    return ObjectEffects(mode, BLENDS[mode].draw(rng), shadow, effects.harmonize)


@dataclass(frozen=True)
class GroupScenes:
    """The scenes of a group's samples and, for each sample the strict floor rule left out, why."""

    scenes: list[Scene]
    left_out: list[FloorMiss]


def group_scenes(options: BuildOptions, sources: Sources, rule: PlacementRule, bg_id: int, fg_id: int,
                 flipped: bool, ks: np.ndarray, pool: np.ndarray | None = None) -> GroupScenes:
    """The scenes of the samples `ks` (placement numbers, 0-based) of one background, foreground and flip.
    `pool`: the foregrounds of their split, which extra objects (--objects) are drawn from. Under the floor
    rule a sample whose object stands nowhere on the floor follows the uniform rule (`auto`, its scene
    saying why) or, where `--placement floor` was asked for, is left out: never drawn at a wrong size."""
    foreground = sources.foregrounds[fg_id]
    background = sources.backgrounds[bg_id]
    on_floor = rule == PlacementRule.FLOOR
    spots = _on_floor(options, background, foreground, bg_id, fg_id, flipped, ks) if on_floor else [None] * len(ks)
    strict = options.placement == PlacementRule.FLOOR
    plan = None
    chosen: list[tuple[int, Placement, PlacementRule, FloorMiss | None]] = []
    left_out: list[FloorMiss] = []
    for k, spot in zip(ks, spots):
        if isinstance(spot, Placement):
            chosen.append((int(k), spot, PlacementRule.FLOOR, None))
        elif spot is not None and strict:
            left_out.append(spot)
        else:
            plan = plan or placements(options, bg_id, fg_id, flipped, foreground.rgba.shape[:2])
            chosen.append((int(k), plan[k], PlacementRule.GROUND if rule == PlacementRule.GROUND else PlacementRule.UNIFORM, spot))
    # Every row's silhouette is the stored cut-out resized to (w, h): the foregrounds config stores the
    # source for floor placement (groups without a floor too), the --fg-size cut-out otherwise.
    rgba = foreground.source if on_floor else foreground.rgba
    # One cut-out per size (one in all for the uniform rule without --scale-jitter), shared by placements.
    by_size = {wh: CUTOUTS.get(rgba, flipped, wh, options.soft_mask) for wh in {(p.w, p.h) for _, p, _, _ in chosen}}
    effects = Effects.of(options)
    scenes = []
    for k, place, placed_by, missed in chosen:
        depth = standing_depth(background.floor, place) if place.contact is not None else None
        key = SampleKey(options.seed, bg_id, fg_id, flipped, k)
        placed = PlacedObject(by_size[place.w, place.h], place, placed_by, depth,
                              object_effects(effects, key, background, place), fg_id, flipped)
        objects = (placed,)
        if pool is not None and options.several:
            rng = objects_rng(options.seed, bg_id, fg_id, flipped, k)
            fewest, most = options.objects_range
            extras = extra_objects(options, sources, background, [placed], pool, rng, int(rng.integers(fewest, most + 1)) - 1)
            extras += extra_objects(options, sources, background, [placed, *extras], pool, rng, options.distractors, labelled=False)
            objects = drawn_layers((placed, *extras), rng)
        scenes.append(Scene(bg_id, background, objects, k, missed))
    return GroupScenes(scenes, left_out)


def _on_floor(options: BuildOptions, background: Background, foreground: Foreground, bg_id: int, fg_id: int,
              flipped: bool, ks: np.ndarray) -> list[Placement | FloorMiss]:
    """The floor placement of each of `ks`, or why it has none."""
    if background.floor is None:
        return [FloorMiss.NO_FLOOR] * len(ks)
    plan = floor_placements(
        background.floor, options.bg_size, foreground.source.shape[:2], foreground.height_m, options.placements,
        options.fg_longest_side, options.scale_jitter, options.seed, bg_id, fg_id, flipped,
    )
    return [plan[k] for k in ks]
