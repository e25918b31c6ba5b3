"""The reference model: a small U-Net trained on the dataset to show what the data is worth (`baseline`).

`model` (the network), `settings` (a run's settings), `losses` (mask and depth losses chosen by the
dataset's depth labels), `metrics` and `names` (mask IoU, boundary F, AbsRel, RMSE, delta < 1.25),
`heldout` (rooms rendered with and without a piece of furniture: an evaluation set that was not pasted),
`data` (the dataset and its batches at the model's size), `train` (the resumable training loop),
`evaluate`, `report` (baseline.json, the card section, the gallery's pictures), `outcome` (evaluation and
writing after training) and `command` (the CLI's `baseline`).
"""
