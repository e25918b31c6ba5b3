"""Scene -> Rendered: the one place where pixels are composited (render.py)."""

from .render import Rendered, RenderedObject, occluded, render

__all__ = ["Rendered", "RenderedObject", "occluded", "render"]
