"""The reference model end to end on tiny demo builds: training lowers the loss, an interrupted run resumes
to the same weights, the command writes baseline.json, the gallery's pictures and the card's section (which
`gallery` and `card` keep), `push` uploads baseline.json and `validate` ignores it; the held-out rooms; and
the sanity floor on a small build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.baseline.data import open_source, training_batches
from generator.baseline.heldout import heldout_pair, heldout_set
from generator.baseline.losses import total_loss
from generator.baseline.report import CURVES, PREDICTIONS, baseline_section
from generator.baseline.settings import TrainSettings
from generator.baseline.train import new_run, train
from generator.cli import main
from generator.pipeline.demo import demo_rooms

CPU = torch.device("cpu")
TINY = TrainSettings(steps=10, batch_size=8, size=32, seed=3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the machine is shared (and a run's bits may depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """3 x 3 x 2 x 4 = 72 demo samples at 32 px, gallery and card included."""
    out = tmp_path_factory.mktemp("baseline") / "tiny"
    assert main(["generate", "--demo", "--num-backgrounds", "3", "--num-foregrounds", "3", "--placements", "4",
                 "--bg-size", "32", "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def test_a_few_steps_lower_the_loss(tiny, tmp_path):
    source = open_source(tiny)
    settings = TrainSettings(steps=15, batch_size=8, size=32, seed=1)
    batch = next(training_batches(source, 8, 32, seed=1))
    with torch.no_grad():
        before = float(total_loss(new_run(settings, CPU).model(batch["input"]), batch, source.labels.kind)[0])
    run = train(source, settings, CPU, tmp_path / "checkpoint.pt", progress=False)
    with torch.no_grad():
        after = float(total_loss(run.model(batch["input"]), batch, source.labels.kind)[0])
    assert run.step == 15 and len(run.history) == 15
    assert after < 0.8 * before


def test_an_interrupted_run_resumes_to_the_same_weights(tiny, tmp_path):
    source = open_source(tiny)
    assert source.train_rows // TINY.batch_size < TINY.steps  # the run crosses an epoch
    whole = train(source, TINY, CPU, tmp_path / "whole.pt", checkpoint_every=100, progress=False)
    # Stopped within the first epoch (replayed to its step) and within the second (the first skipped).
    for stop in (3, 7):
        path = tmp_path / f"stopped-{stop}.pt"
        first = train(source, TINY, CPU, path, checkpoint_every=1, progress=False, stop_after=stop)
        assert first.step == stop
        resumed = train(source, TINY, CPU, path, checkpoint_every=100, progress=False)
        assert resumed.resumed_from == stop and resumed.step == TINY.steps
        assert whole.model.state_dict().keys() == resumed.model.state_dict().keys()
        for key, value in whole.model.state_dict().items():
            assert torch.equal(value, resumed.model.state_dict()[key]), key
        assert resumed.history == whole.history


def test_a_checkpoint_of_other_settings_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(tiny, out)
    args = ["baseline", str(out), "--steps", "2", "--size", "32", "--batch-size", "8", "--eval-rendered", "0", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args[:-1], "--seed", "5", "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "seed" in error and "--restart" in error and "\n" not in error
    assert main([*args[:-1], "--seed", "5", "--restart", "--no-progress"]) == 0
    assert main(["baseline", str(out), "--size", "30"]) == 2  # not a multiple of 8
    assert main(["baseline", str(out), "--learning-rate", "0"]) == 2


@pytest.mark.parametrize("args", [["nothing"], ["results", "--dataset", "nothing"], ["results", "--dataset", "a/../b"]])
def test_a_missing_dataset_is_one_error_line(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", *args, "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "no dataset folder and no Hub dataset id" in error and error.count("\n") == 1


def test_a_damaged_dataset_is_refused_before_training(tiny, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(tiny, out)
    shard = sorted((out / "data").glob("train-*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["baseline", str(out), "--steps", "2", "--size", "32", "--no-progress"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (out / ".baseline").exists() and not (out / "baseline.json").exists()


def test_the_command_writes_results_pictures_and_the_card_section(tiny, tmp_path, capsys):
    out = tmp_path / "ds"
    shutil.copytree(tiny, out)
    assert main(["baseline", str(out), "--steps", "4", "--size", "32", "--batch-size", "8", "--eval-rendered", "4",
                 "--no-progress"]) == 0
    data = json.loads((out / "baseline.json").read_text())
    assert data["steps"] == 4 and data["samples_seen"] == 32 and data["size"] == 32 and data["depth_labels"] == "metric"
    assert set(data["evaluations"]) == {"test", "rendered"}
    assert data["evaluations"]["test"]["samples"] == json.loads((out / "manifest.json").read_text())["splits"]["test"]
    assert data["evaluations"]["rendered"]["samples"] == 4
    for values in data["evaluations"].values():
        assert {"mask_iou", "boundary_f", "abs_rel", "rmse", "delta1", "abs_rel_object", "rmse_object", "delta1_object"} <= set(values)
    assert data["command"].startswith("mono-depth-mask baseline ds --steps 4")
    assert len(data["curve"]) == 4
    pictures = {CURVES, PREDICTIONS}
    assert pictures <= {p.stem for p in (out / "gallery").glob("*.png")}
    card = (out / "README.md").read_text()
    assert "## Baseline" in card and f"{data['evaluations']['test']['mask_iou']:.3f}" in card
    # Redrawing the gallery and the card keeps the section and the pictures.
    prediction_bytes = (out / "gallery" / f"{PREDICTIONS}.png").read_bytes()
    assert main(["gallery", str(out), "--no-progress"]) == 0
    assert main(["card", str(out)]) == 0
    assert pictures <= {p.stem for p in (out / "gallery").glob("*.png")}
    assert "## Baseline" in (out / "README.md").read_text()
    assert f"gallery/{CURVES}.png" in (out / "README.md").read_text()
    from PIL import Image
    with Image.open(out / "gallery" / f"{PREDICTIONS}.png") as kept, Image.open(__import__("io").BytesIO(prediction_bytes)) as drawn:
        assert np.array_equal(np.asarray(kept), np.asarray(drawn))
    # validate ignores it; push uploads it.
    capsys.readouterr()
    assert main(["validate", str(out), "--no-progress"]) == 0
    from generator.dataset.push import local_files
    uploaded = {f.path for f in local_files(out)}
    assert "baseline.json" in uploaded and f"gallery/{PREDICTIONS}.png" in uploaded
    assert not any(path.startswith(".baseline") for path in uploaded)  # the checkpoint stays home


@pytest.mark.parametrize("labels", ["relative", "none"])
def test_the_depth_labels_pick_the_loss_end_to_end(labels, tmp_path):
    """A teacher's relative inverse depth trains with the scale-and-shift-invariant loss and is evaluated after
    alignment (the rendered rooms' metric depth through its inverse); without depth, no depth metric at all."""
    from tests.tiny_models import save_tiny_depth_anything

    out = tmp_path / "ds"
    depth = (["--depth", "model", "--depth-model", str(save_tiny_depth_anything(tmp_path / "teacher")), "--device", "cpu"]
             if labels == "relative" else ["--depth", "none"])
    assert main(["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "2", "--placements", "2",
                 "--bg-size", "32", "--workers", "1", "--no-gallery", "--no-progress", *depth, "--out", str(out)]) == 0
    assert main(["baseline", str(out), "--steps", "2", "--size", "32", "--batch-size", "4", "--eval-rendered", "2",
                 "--device", "cpu", "--no-progress"]) == 0
    data = json.loads((out / "baseline.json").read_text())
    assert data["depth_labels"] == labels
    for values in data["evaluations"].values():
        assert values["mask_iou"] is not None
        assert (values["abs_rel"] is None) == (labels == "none") and (values["delta1"] is None) == (labels == "none")


def test_a_rebuild_with_other_options_drops_the_old_baseline(tmp_path):
    out = tmp_path / "ds"
    build = ["generate", "--demo", "--num-backgrounds", "2", "--num-foregrounds", "1", "--placements", "1",
             "--bg-size", "32", "--workers", "1", "--no-gallery", "--no-progress", "--out", str(out)]
    assert main(build) == 0
    (out / "baseline.json").write_text("{}")
    (out / ".baseline").mkdir()
    (out / ".baseline" / "checkpoint.pt").write_bytes(b"weights of the old data")
    assert main([*build, "--seed", "1"]) == 2  # other options: refused without --overwrite, nothing removed
    assert (out / "baseline.json").is_file()
    assert main([*build, "--seed", "1", "--overwrite"]) == 0
    assert not (out / "baseline.json").exists() and not (out / ".baseline").exists()


def test_the_card_section_is_written_from_baseline_json(tmp_path):
    assert baseline_section(tmp_path) == ""
    for damaged in ("{}", "[1]", "not json"):  # left out of the card, not a traceback
        (tmp_path / "baseline.json").write_text(damaged)
        assert baseline_section(tmp_path) == ""
    metrics = {"mask_iou": 0.61234, "boundary_f": 0.5, "abs_rel": 0.125, "rmse": 1.5, "delta1": 0.75,
               "abs_rel_object": 0.2, "rmse_object": 0.9, "delta1_object": None}
    (tmp_path / "baseline.json").write_text(json.dumps({
        "command": "mono-depth-mask baseline ds --steps 300", "steps": 300, "batch_size": 8, "size": 64,
        "samples_seen": 2400, "seconds": 95.0, "device": "cpu", "depth_labels": "relative",
        "model": {"name": "UNet", "width": 24, "parameters": 1085354},
        "evaluations": {"test": {"samples": 240, **metrics}, "rendered": {"samples": 64, **metrics}}, "curve": [[1, 2.0, 1.0, 1.0]]}))
    section = baseline_section(tmp_path)
    assert section.startswith("\n## Baseline\n")
    assert "1.09 M parameters" in section and "300 steps of 8 samples at 64×64 px (2,400 samples seen" in section
    assert "least-squares scale and shift" in section  # relative labels
    assert "| test split | 240 | 0.612 | 0.500 | 0.125 | 1.500 | 0.750 | 0.200 | 0.900 | – |" in section
    assert "| rendered held-out rooms | 64 |" in section
    assert "`mono-depth-mask baseline ds --steps 300`" in section


def test_the_cli_card_and_gallery_start_without_torch():
    """The baseline's flags, card section and gallery pictures must not make every command import torch (~1 s)."""
    import subprocess
    import sys

    code = ("import sys\nimport generator.cli, generator.dataset.card, generator.dataset.gallery\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_held_out_rooms_are_rendered_pairs_no_build_uses():
    pairs = heldout_set(6, 48)
    assert [p.room for p in pairs] == [p.room for p in heldout_set(6, 48)]  # the same rooms every time
    for pair in pairs:
        assert pair.mask.mean() >= 0.01
        changed = np.any(pair.background != pair.composite, axis=2)
        assert changed[pair.mask].mean() > 0.9  # the piece is in the composite, not in the background
        assert np.isfinite(pair.depth).all() and (pair.depth > 0).all()
    again = heldout_pair(pairs[0].room, 48)
    assert np.array_equal(again.composite, pairs[0].composite) and np.array_equal(again.depth, pairs[0].depth)
    # No build's rooms: a build's room i is keyed (seed, i); the held-out rooms are not among them.
    builds = [room.rgb for seed in range(4) for room in demo_rooms(8, 48, seed=seed)]
    for pair in pairs:
        assert not any(np.array_equal(pair.background, rgb) or np.array_equal(pair.composite, rgb) for rgb in builds)


def test_sanity_floor_300_steps_at_64_px(tmp_path):
    """SLOW (about 2 minutes on one core of the shared machine, 118 s measured): the reference network, 300 steps of 4
    samples at 64 px on a small demo build, reaches a mask IoU above 0.3 on the build's test split."""
    from generator.baseline.data import test_batches
    from generator.baseline.evaluate import evaluate

    out = tmp_path / "small"
    assert main(["generate", "--demo", "--num-backgrounds", "6", "--num-foregrounds", "6", "--placements", "10",
                 "--bg-size", "64", "--workers", "1", "--no-gallery", "--no-progress", "--out", str(out)]) == 0
    source = open_source(out)
    settings = TrainSettings(steps=300, batch_size=4, size=64, seed=0)
    run = train(source, settings, CPU, tmp_path / "checkpoint.pt", checkpoint_every=300, progress=False)
    kind = source.labels.kind
    evaluation = evaluate(run.model, test_batches(source, 32, 64), kind, kind, CPU)
    assert evaluation.samples == source.test_rows
    assert evaluation.metrics["mask_iou"] > 0.3
