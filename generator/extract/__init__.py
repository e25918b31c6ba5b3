"""`cutouts`: RGBA cut-outs from plain photos with transformers models, stage by stage: find the objects
(find.py), segment each box (segment.py), matte the mask's edge through a trimap (trimap.py, matte.py),
estimate the colours under partial alpha and crop (cutout.py), with quality gates (gates.py); the
command (command.py) writes the cut-outs, cutouts.json, heights.csv and a gallery sheet (report.py)."""
