"""mono-depth-mask: synthetic composites with masks and depth for monocular depth + segmentation."""

__version__ = "0.1.0"
