"""Rendered -> row: the encoder (encoder.py) turns drawn scenes and their depth into the FG_BG schema's
columns; the background each row stores is encoded once per background (background.py). JPEG and depth
splicing (jpeg_splice.py, depth_splice.py) are details of this encoding."""
