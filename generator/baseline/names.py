"""The names of the baseline's metrics, in the order baseline.json and the card list them (no torch here:
the card and the gallery read them)."""

MASK_KEYS = ("mask_iou", "boundary_f")
DEPTH_KEYS = ("abs_rel", "rmse", "delta1")
KEYS = MASK_KEYS + DEPTH_KEYS + tuple(f"{key}_object" for key in DEPTH_KEYS)
