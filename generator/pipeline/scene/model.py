"""The Scene: a background with its depth, camera and floor, and a list of placed objects, each with its
cut-out, its box, the rule that placed it, its depth rule and its effects. Everything random about an
object (its edge mode and that mode's parameters, its shadow's strength) is drawn when the scene is made,
as torchvision's transforms.v2 draw `make_params` before `transform`: rendering is then a pure function
of the scene, and a scene can be made again from the seed to check a row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...rules import BlendMode, FloorMiss, PlacementRule
from ..composite import Cutout
from ..depth import ObjectDepth
from ..plan import Placement
from ..sources import Background


@dataclass(frozen=True)
class Shadow:
    """A contact shadow on the floor: how dark (0..1) over (rows, cols), scaled by `strength`."""

    rows: slice
    cols: slice
    shade: np.ndarray
    strength: float


@dataclass(frozen=True)
class ObjectEffects:
    """How an object's light and edge are drawn; the default is the plain alpha blend."""

    blend: BlendMode = BlendMode.ALPHA
    blend_params: dict = field(default_factory=dict)  # drawn by the mode's registered `draw` (blend.py)
    shadow: Shadow | None = None
    harmonize: bool = False

    @property
    def plain(self) -> bool:
        """Nothing but the alpha blend: rendered by the fast path (composite.paste_object)."""
        return self.blend == BlendMode.ALPHA and self.shadow is None and not self.harmonize


@dataclass(frozen=True)
class PlacedObject:
    """One cut-out in a scene. `depth`: its own depth where it stands on the floor (the scene then hides
    what is behind nearer things); None where the depth stage's rule gives it one."""

    cutout: Cutout
    place: Placement  # its box's top-left (x, y), size (w, h), scale and, on the floor, its contact point
    rule: PlacementRule
    depth: ObjectDepth | None = None
    effects: ObjectEffects = ObjectEffects()
    fg_id: int = 0
    flipped: bool = False
    labelled: bool = True  # False for a distractor: drawn, and in the depth, but in no label
    layer: int = 0  # flat objects: their place in the scene's drawn depth order, 0 farthest, pasted in that order


@dataclass(frozen=True)
class Scene:
    """What one composite shows. `background.floor` carries the floor plane and the camera's intrinsics.
    Objects are listed with the row's own first and drawn by layer, then in list order: a later one covers
    an earlier one, except where an object standing on the floor is nearer (the depth buffer)."""

    bg_id: int
    background: Background
    objects: tuple[PlacedObject, ...]
    index: int = 0  # the sample's placement number within its (background, foreground, flip), 0-based
    fallback: FloorMiss | None = None  # why its own object is not on the floor the floor rule asked for
