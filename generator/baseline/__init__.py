"""The reference model: a small U-Net trained on the dataset to show what the data is worth (`baseline`).

`model` (the network), `losses` (mask and depth losses chosen by the dataset's depth labels), `metrics`
(mask IoU, boundary F, AbsRel, RMSE, delta < 1.25), `heldout` (rooms rendered with and without a piece of
furniture: an evaluation set that was not pasted), `data` (batches at the model's size), `train` (the
resumable training loop), `report` (baseline.json, the card section, the gallery's pictures) and `command`
(the CLI's `baseline`).
"""
