"""Both pre-processing backends of transformers 5 replayed: the PIL processors (checked against pipeline()
in test_teacher.py, and here the backend recorded), and the torchvision ones: against transformers itself
where torchvision imports, and everywhere against the torch operations that processor performs."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from generator.config import TeacherSettings
from generator.pipeline.loading import preprocessing_backend
from generator.pipeline.teacher import DepthTeacher, resize_depth
from generator.pipeline.torchvision_replay import _two_rounded_passes, torchvision_rescale_normalise
from tests.test_teacher import SAVERS, images

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
BOUND = 1e-3  # of each map's depth range, as test_teacher.py's bound against pipeline()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("tiny")
    return {name: save(root / name) for name, save in SAVERS.items()}


def load(folder) -> DepthTeacher:
    return DepthTeacher.load(TeacherSettings(model=str(folder), device="cpu", dtype="fp32"))


def as_torchvision(teacher: DepthTeacher) -> DepthTeacher:
    teacher.preprocessing = dataclasses.replace(teacher.preprocessing, backend="torchvision")
    return teacher


def transformers_torchvision_ops(teacher: DepthTeacher, image: np.ndarray) -> torch.Tensor:
    """pixel_values as DPT/GLPNImageProcessor (torchvision) computes them on CPU: tvF.resize's interpolate
    on the uint8 tensor, the fused rescale + normalize, tvF.pad; the same torch calls, without torchvision."""
    p = teacher.preprocessing
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    size = p.output_size(*x.shape[-2:])
    # torchvision's _do_native_uint8_resize_on_cpu: uint8 goes in as it is, else a float32 round trip.
    native = p.mode == "bicubic" or (p.mode == "bilinear" and "AVX2" in torch.backends.cpu.get_cpu_capability())
    if size != tuple(x.shape[-2:]) and native:
        x = F.interpolate(x, size=list(size), mode=p.mode, align_corners=False, antialias=True)
    elif size != tuple(x.shape[-2:]):
        x = F.interpolate(x.to(torch.float32), size=list(size), mode=p.mode, align_corners=False, antialias=True)
        x = (x.clamp_(min=0, max=255) if p.mode == "bicubic" else x).round_().to(torch.uint8)
    if p.mean is not None:
        mean = torch.tensor(p.mean) * (1.0 / p.rescale)
        std = torch.tensor(p.std) * (1.0 / p.rescale)
        x = x.to(torch.float32).sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))
    else:
        x = x * p.rescale
    if p.pad_divisor:
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % p.pad_divisor, -width % p.pad_divisor
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return x


def test_the_backend_is_chosen_explicitly_and_recorded(folders) -> None:
    assert preprocessing_backend() == ("torchvision" if HAS_TORCHVISION else "pil")
    for folder in folders.values():
        assert load(folder).info["preprocessing"] == preprocessing_backend()


@pytest.mark.parametrize("name", list(SAVERS))
def test_torchvision_replay_equals_the_operations_of_transformers_torchvision_processor(folders, name: str) -> None:
    teacher = as_torchvision(load(folders[name]))
    for image in images(37, 91, count=2):
        ours = teacher.preprocessing(torch.from_numpy(image).permute(2, 0, 1)[None])
        torch.testing.assert_close(ours, transformers_torchvision_ops(teacher, image), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size", [(28, 70), (90, 40), (56, 56), (518, 518), (60, 100)])
def test_the_off_cpu_resize_stays_within_two_levels_of_torchs_uint8_kernel(mode: str, size) -> None:
    x = torch.from_numpy(images(64, 64, count=2)).permute(0, 3, 1, 2).contiguous()
    native = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    assert (_two_rounded_passes(x, size, mode).int() - native.int()).abs().max() <= 2


@pytest.mark.parametrize("name", ["dpt", "depth_anything"])
def test_the_off_cpu_replay_gives_depth_near_the_cpu_one(folders, name: str) -> None:
    """What a CUDA device computes (the uint8 kernel emulated) against what pipeline() computes on CPU: a
    level or two on a few pixels moves a random tiny model's depth by up to ~3e-3 of its range, so this is
    looser than BOUND (an exact replay of torch's int16 uint8 kernel would close it)."""
    teacher = as_torchvision(load(folders[name]))
    batch = images(48, 64)
    on_cpu = teacher.predict(batch)
    p = teacher.preprocessing
    resized = _two_rounded_passes(torch.from_numpy(batch).permute(0, 3, 1, 2), p.output_size(48, 64), p.mode)
    pixels = p._pad(torchvision_rescale_normalise(resized, p.rescale, p.mean, p.std))
    depth = resize_depth(teacher.forward(pixels), (48, 64)).numpy()
    for want, got in zip(on_cpu, depth):
        assert np.abs(got - want).max() <= 5 * BOUND * float(np.ptp(want))


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision does not import here (the PyPI wheel needs a matching torch)")
@pytest.mark.parametrize("name", list(SAVERS))
def test_torchvision_backend_matches_transformers_pipeline(folders, name: str) -> None:
    from transformers import AutoImageProcessor, pipeline

    teacher = load(folders[name])
    assert teacher.preprocessing.backend == "torchvision"
    processor = AutoImageProcessor.from_pretrained(folders[name], backend="torchvision")
    reference = pipeline("depth-estimation", model=str(folders[name]), device="cpu", image_processor=processor)
    batch = images(48, 64)
    for image, depth in zip(batch, teacher.predict(batch)):
        expected = reference(Image.fromarray(image))["predicted_depth"].numpy()
        assert np.abs(depth - expected).max() <= BOUND * float(np.ptp(expected))
