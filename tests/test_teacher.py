"""DepthTeacher against transformers' own depth-estimation pipeline, on tiny random models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, pipeline
from transformers.utils import logging as hf_logging

from generator.config import TeacherSettings
from generator.errors import UserError
from generator.pipeline.pil_resize import pil_resize
from generator.pipeline.teacher import (
    METRIC_MEANING,
    RELATIVE_MEANING,
    DepthTeacher,
    resolve_dtype,
)
from tests.tiny_models import save_tiny_depth_anything, save_tiny_dpt, save_tiny_glpn

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

SAVERS = {
    "dpt": save_tiny_dpt,
    "glpn": save_tiny_glpn,
    "depth_anything": save_tiny_depth_anything,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {name: save(root / name) for name, save in SAVERS.items()}


def images(height: int, width: int, count: int = 3, seed: int = 0) -> np.ndarray:
    """Noise over a gradient: both bicubic overshoot (clipping) and smooth regions get exercised."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width)[None, :, None] + np.linspace(0, 50, height)[:, None, None]
    noise = rng.integers(-60, 60, size=(count, height, width, 3))
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


def load(folder: Path, **options) -> DepthTeacher:
    return DepthTeacher.load(TeacherSettings(model=str(folder), device="cpu", **options))


@pytest.mark.parametrize("name", list(SAVERS))
@pytest.mark.parametrize("size", [(48, 64), (224, 224)])
def test_predict_matches_transformers_pipeline(folders, name: str, size: tuple[int, int]) -> None:
    batch = images(*size)
    ours = load(folders[name], dtype="fp32").predict(batch)
    reference = pipeline("depth-estimation", model=str(folders[name]), device="cpu")
    assert ours.shape == (len(batch), *size) and ours.dtype == np.float32
    for image, depth in zip(batch, ours):
        expected = reference(Image.fromarray(image))["predicted_depth"].numpy()
        span = float(expected.max() - expected.min())
        assert span > 0
        assert np.abs(depth - expected).max() <= 1e-3 * span


@pytest.mark.parametrize("name", ["dpt", "depth_anything"])
def test_preprocessing_equals_image_processor_exactly(folders, name: str) -> None:
    # The resize replays PIL bit for bit, so pixel_values agree to float rounding.
    teacher = load(folders[name])
    processor = AutoImageProcessor.from_pretrained(folders[name])
    for image in images(37, 91, count=2):
        expected = processor(images=Image.fromarray(image), return_tensors="pt")["pixel_values"]
        ours = teacher.preprocessing(torch.from_numpy(image).permute(2, 0, 1)[None])
        assert ours.shape == expected.shape
        assert torch.allclose(ours, expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("size", [(17, 90), (130, 45), (30, 40), (90, 100), (64, 20), (64, 64)])
def test_pil_resize_is_bit_exact(mode: str, size: tuple[int, int]) -> None:
    image = images(64, 64, count=1)[0]
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}[mode]
    expected = np.asarray(Image.fromarray(image).resize(size[::-1], resample=resample))
    ours = pil_resize(torch.from_numpy(image).permute(2, 0, 1)[None], size, mode)
    assert np.array_equal(ours[0].permute(1, 2, 0).numpy().astype(np.uint8), expected)


def test_small_batches_equal_one_batch(folders) -> None:
    batch = images(48, 64, count=5)
    whole = load(folders["depth_anything"], batch_size=8).predict(batch)
    pieces = load(folders["depth_anything"], batch_size=2).predict(batch)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-6 * float(np.ptp(whole)))


def test_accepts_torch_tensors(folders) -> None:
    batch = images(48, 64, count=2)
    teacher = load(folders["glpn"])
    np.testing.assert_array_equal(teacher.predict(torch.from_numpy(batch)), teacher.predict(batch))


def test_rejects_wrong_input() -> None:
    teacher = DepthTeacher.__new__(DepthTeacher)  # input checks happen before the model is used
    with pytest.raises(TypeError):
        teacher.predict(np.zeros((1, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        teacher.predict(np.zeros((8, 8, 3), dtype=np.uint8))


def test_missing_model_is_one_helpful_user_error(tmp_path: Path, hub_offline) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(UserError) as caught:
        DepthTeacher.load(TeacherSettings(model=str(missing), device="cpu"))
    message = str(caught.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "--depth" not in message  # the command that loads it adds the ways out its own flags give


def test_dtype_auto_is_fp32_on_cpu(folders) -> None:
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    teacher = load(folders["dpt"])
    assert teacher.info["dtype"] == "fp32"
    assert next(teacher.model.parameters()).dtype == torch.float32
    assert teacher.info["device"] == "cpu"


def test_info_meaning_relative_vs_metric(folders, tmp_path: Path) -> None:
    relative = load(folders["depth_anything"])
    assert relative.info["meaning"] == RELATIVE_MEANING and relative.inverse and not relative.metric
    assert relative.info["model_type"] == "depth_anything"
    assert relative.info["architecture"] == "DepthAnythingForDepthEstimation"
    # a local folder: its name and the sha256 of its files, never its absolute path
    assert relative.info["model"] == folders["depth_anything"].name and relative.info["local_folder"]
    assert {"config.json", "model.safetensors"} <= set(relative.info["sha256"])
    for metric in (load(folders["glpn"]), load(save_tiny_depth_anything(tmp_path / "m", metric=True))):
        assert metric.info["meaning"] == METRIC_MEANING and metric.metric and not metric.inverse
    assert load(folders["dpt"]).inverse and not load(folders["dpt"]).metric


def test_a_teacher_family_that_is_neither_metric_nor_inverse_is_told_apart():
    """An affine-invariant depth model whose larger values are farther: not metric, so no floor placement;
    not inverse, so the nearest value under an object is the smallest."""
    from types import SimpleNamespace

    from generator.pipeline.teacher_family import FAMILIES, METRIC, RELATIVE_DEPTH_MEANING, DepthMeaning, depth_meaning, register_family

    try:
        register_family("affine_depth", DepthMeaning(metric=False, inverse=False))
        meaning = depth_meaning(SimpleNamespace(model_type="affine_depth"))
        assert (meaning.metric, meaning.inverse, meaning.text) == (False, False, RELATIVE_DEPTH_MEANING)
    finally:
        FAMILIES.pop("affine_depth", None)
    assert depth_meaning(SimpleNamespace(model_type="depth_anything", depth_estimation_type="metric")) == METRIC
    assert depth_meaning(SimpleNamespace(model_type="dpt")).inverse


def test_bf16_runs_and_returns_float32(folders) -> None:
    batch = images(48, 64, count=2)
    depth = load(folders["depth_anything"], dtype="bf16").predict(batch)
    assert depth.dtype == np.float32 and np.isfinite(depth).all()
