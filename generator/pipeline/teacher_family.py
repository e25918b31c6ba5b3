"""What a depth teacher's output means, by model family: two properties, not one. `metric`: it has a scale
in metres (floor placement can use it); `inverse`: larger is nearer (disparity). An affine-invariant depth
model that is not inverse is neither metric nor inverse, which one flag could not say.

A family is registered by its transformers `model_type`; a family whose configs differ (Depth Anything
says in its config whether a checkpoint is metric) registers a function of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

RELATIVE_MEANING = "relative inverse depth (disparity): larger is nearer"
METRIC_MEANING = "metric depth in metres: smaller is nearer"
RELATIVE_DEPTH_MEANING = "relative depth (affine-invariant): smaller is nearer"


@dataclass(frozen=True)
class DepthMeaning:
    metric: bool  # a scale in metres
    inverse: bool  # larger is nearer

    @property
    def text(self) -> str:
        """The manifest's and the card's words for it."""
        if self.inverse:
            return RELATIVE_MEANING
        return METRIC_MEANING if self.metric else RELATIVE_DEPTH_MEANING


METRIC = DepthMeaning(metric=True, inverse=False)
DISPARITY = DepthMeaning(metric=False, inverse=True)

FAMILIES: dict[str, Callable[[Any], DepthMeaning]] = {}


def register_family(model_type: str, meaning: DepthMeaning | Callable[[Any], DepthMeaning]) -> None:
    FAMILIES[model_type] = meaning if callable(meaning) else (lambda config: meaning)


def depth_meaning(config: Any) -> DepthMeaning:
    """The meaning of a model's output from its config; unknown families are taken as relative disparity,
    the output of DPT-style heads."""
    family = FAMILIES.get(config.model_type)
    return family(config) if family is not None else DISPARITY


def _from_config(config: Any) -> DepthMeaning:
    return METRIC if getattr(config, "depth_estimation_type", "relative") == "metric" else DISPARITY


register_family("glpn", METRIC)
register_family("zoedepth", METRIC)
register_family("depth_pro", METRIC)
register_family("depth_anything", _from_config)
