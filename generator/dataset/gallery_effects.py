"""The gallery's `06c-edges-and-light.png`: a few cut-outs standing in one scene, each option of
edges and light on its own beside the plain alpha blend of the input colours, and the build's own
settings last, each picture cropped around the object and enlarged by a whole factor (pixels as blocks)
to about `TILE` px, so that an edge or a shadow a few pixels wide can be judged. Drawn from the inputs (the demo is remade; user
inputs are read again), so it is left out when they are not at hand."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import BuildOptions
from ..pipeline.composite import Cutout, prepare_cutout
from ..pipeline.matting import decontaminate
from ..pipeline.placement import attach_floors, floor_placements
from ..pipeline.plan import Placement
from ..pipeline.render import render
from ..pipeline.scene import PlacedObject, Scene
from ..pipeline.scene.compose import Effects, SampleKey, object_effects
from ..rules import BlendMode, PlacementRule

OBJECTS = 3
TILE = 192  # px: the side an object's crop is enlarged to, at most
CASES = [("alpha blend", False, Effects()), ("decontaminated", True, Effects()), ("gaussian", True, Effects(BlendMode.GAUSSIAN)),
         ("box", True, Effects(BlendMode.BOX)), ("motion", True, Effects(BlendMode.MOTION)), ("poisson", True, Effects(BlendMode.POISSON)),
         ("shadow", True, Effects(shadow=True)), ("harmonize", True, Effects(harmonize=True))]


def effects_sheet(build: BuildOptions, mosaic):
    """The figure (drawn by gallery._mosaic), or None where the inputs or a floor are not at hand."""
    from ..pipeline.sources import load_sources

    try:
        sources = load_sources(dataclasses.replace(build, decontaminate=False, num_foregrounds=OBJECTS, num_backgrounds=min(build.num_backgrounds or 3, 3)))
    except Exception:  # the inputs are elsewhere now (a gallery redrawn later): no sheet, not an error
        return None
    attach_floors(sources.backgrounds, build.seed)
    background = next((b for b in sources.backgrounds if b.floor is not None), None)
    if background is None:
        return None
    own = ("build: " + build.blend + (" +shadow" if build.shadow else "") + (" +harmonize" if build.harmonize else ""),
           build.decontaminate, Effects.of(build))
    tiles, labels = [], []
    for fg_id, foreground in enumerate(sources.foregrounds):
        if foreground.source is None:
            return None
        places = floor_placements(background.floor, build.bg_size, foreground.source.shape[:2], foreground.height_m, 1,
                                  build.fg_longest_side, 0.0, build.seed, 0, fg_id, False)
        if not isinstance(places[0], Placement):  # it stands nowhere on this floor
            continue
        colours = {False: foreground.source, True: decontaminate(foreground.source)}
        for name, clean, effects in [*CASES, own]:
            cutout = Cutout.of(prepare_cutout(colours[clean], False, (places[0].w, places[0].h)))
            drawn = object_effects(effects, SampleKey(build.seed, 0, fg_id, False, 0), background, places[0])
            image = render(Scene(0, background, (PlacedObject(cutout, places[0], PlacementRule.FLOOR, None, drawn, fg_id),))).image
            tiles.append(enlarged(_around(image, places[0])))
            labels.append(name)
    if not tiles:
        return None
    return mosaic(tiles, labels, "Edges and light: each option alone, then this build's settings", len(CASES) + 1)


def _around(image: np.ndarray, place) -> np.ndarray:
    """The object with a margin of a quarter of its height, as a square crop (clipped to the picture)."""
    side = int(max(place.w, place.h) * 1.5)
    cy, cx = place.y + place.h // 2, place.x + place.w // 2
    y0, x0 = max(cy - side // 2, 0), max(cx - side // 2, 0)
    return image[y0 : y0 + side, x0 : x0 + side]


def enlarged(crop: np.ndarray) -> np.ndarray:
    """`crop` repeated by the largest whole factor that keeps its longest side within TILE (nearest
    neighbour: no resampling softens the edges being judged)."""
    zoom = max(1, TILE // max(crop.shape[:2]))
    return np.repeat(np.repeat(crop, zoom, axis=0), zoom, axis=1)
