"""What one composite shows, before any pixel is drawn: a Scene (scene/model.py), made for each sample
from the options, the sources and the seed (scene/compose.py). render/ draws it, rows/ encodes it."""

from .model import ObjectEffects, PlacedObject, Scene, Shadow

__all__ = ["ObjectEffects", "PlacedObject", "Scene", "Shadow"]
