"""The rules a build follows, as typed values: which placement rule, which depth, which edge blend.

They are parsed here once (from the command line, a manifest or a test's string) and passed down as
members; code elsewhere compares members, never strings, so a misspelt rule fails here and not as a
silent `else` branch somewhere. They are `StrEnum`s: each member is its own value as a string, so the
manifest and the card write them exactly as before.
"""

from __future__ import annotations

from enum import StrEnum


class PlacementRule(StrEnum):
    """Where an object goes: `floor` standing on the scene's floor, sized by depth; `uniform` anywhere
    inside at one size; `ground` at one size with its bottom edge in the lower part; `auto` (asked for
    only) floor wherever the backgrounds' metric depth is known, else uniform."""

    AUTO = "auto"
    FLOOR = "floor"
    UNIFORM = "uniform"
    GROUND = "ground"


class FloorMiss(StrEnum):
    """Why an object the floor rule asked for is not standing on the floor (placement.floor_placements):
    the background shows no floor; no visible floor pixel lets it stand there at its true size inside the
    picture (too tall near the camera and too small far from it); it fits, but on fewer distinct
    positions than --placements (too little floor)."""

    NO_FLOOR = "no_floor"
    DOES_NOT_FIT = "does_not_fit"
    TOO_LITTLE_FLOOR = "too_little_floor"


class DepthMode(StrEnum):
    """What depth a build stores: none; the backgrounds' own (scene); a teacher on every composite (model)."""

    NONE = "none"
    SCENE = "scene"
    MODEL = "model"


class BackgroundDepth(StrEnum):
    """Where a build's background depth comes from (what floor placement and the scene rule stand on): the
    demo's exact rooms, the user's maps (--background-depths), a model run once per background, or none."""

    DEMO = "demo"
    MAPS = "maps"
    MODEL = "model"
    NONE = "none"


class BlendMode(StrEnum):
    """How a cut-out's edge meets the background (pipeline/blend.py registers what each does). `mix`
    is no mode of its own: each placement draws one of the dataset's recorded `mix_modes`."""

    ALPHA = "alpha"
    GAUSSIAN = "gaussian"
    BOX = "box"
    MOTION = "motion"
    POISSON = "poisson"
    MIX = "mix"


# The modes a `--blend mix` dataset drew from when its manifest recorded no list: those are the datasets
# built before the list was recorded, and their draw must stay theirs whatever modes are added later.
FIRST_MIX_MODES = (BlendMode.ALPHA, BlendMode.GAUSSIAN, BlendMode.BOX, BlendMode.MOTION, BlendMode.POISSON)


def parsed(kind: type[StrEnum], value):
    """`value` as a member of `kind`, or `value` itself when it names none (BuildOptions.validate then
    refuses it with the flag's name and the choices)."""
    try:
        return kind(value)
    except ValueError:
        return value


def choices(kind: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in kind)
