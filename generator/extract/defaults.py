"""The cut-out stages' default models, apart from the code that loads them, so that the command's flags and
the `datasets` builder's config name them without importing torch (README "Cut-outs from plain photos"
says why these and what each downloads)."""

DEFAULT_DETECTOR = "IDEA-Research/grounding-dino-tiny"
DEFAULT_CLASS_DETECTOR = "facebook/mask2former-swin-tiny-coco-instance"
DEFAULT_SEGMENTER = "facebook/sam-vit-base"
DEFAULT_MATTING_MODEL = "hustvl/vitmatte-small-composition-1k"
