"""The reference model's metrics and losses against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from generator.baseline.losses import METRIC, NO_DEPTH, RELATIVE, DepthLabels, depth_loss, mask_loss, scale_and_shift, valid_depth
from generator.baseline.metrics import Averages, boundary, boundary_f, depth_errors, mask_iou, predicted_depth
from generator.baseline.model import UNet, parameter_count


def image(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_mask_iou_by_hand():
    logit = image([[1, 1, -1], [1, -1, -1]])  # predicted: 3 pixels
    mask = image([[1, 0, 0], [1, 1, 0]])  # true: 3 pixels, 2 shared, union 4
    assert mask_iou(logit, mask).item() == pytest.approx(2 / 4)
    assert mask_iou(-torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 1.0  # both empty


def test_boundary_f_by_hand():
    truth = torch.zeros(1, 1, 16, 16)  # 16 px: the tolerance is 1 px
    truth[..., 3:9, 3:9] = 1  # a 6x6 square (rows and columns 3-8): its boundary is the 20-pixel ring
    assert boundary_f(truth * 2 - 1, truth).item() == 1.0
    shifted = torch.zeros_like(truth)
    shifted[..., 3:9, 4:10] = 1  # one column to the right: every boundary pixel within 1 px of the other ring
    assert boundary_f(shifted * 2 - 1, truth).item() == 1.0
    far = torch.zeros_like(truth)
    far[..., 3:9, 6:12] = 1  # three columns to the right: a 20-pixel ring in columns 6-11
    # Its pixels within 1 px (8-neighbourhood) of the true ring: rows 3 and 8 at columns 6-9 (8), column 6 at
    # rows 4 and 7 (2): precision 10/20. The true ring's near the predicted one: rows 3 and 8 at columns
    # 5-8 (8), column 8 at rows 4 and 7 (2): recall 10/20. F = 0.5.
    assert boundary_f(far * 2 - 1, truth).item() == pytest.approx(0.5)
    edge = torch.zeros_like(truth)
    edge[..., :, :8] = 1  # the image's edge is no boundary: only column 7 is
    assert boundary(edge > 0).sum().item() == 16
    assert boundary_f(-torch.ones_like(truth), truth).item() == 0.0  # nothing predicted


def test_depth_errors_by_hand():
    target = image([[1.0, 2.0], [4.0, 0.0]])  # the 0 is unknown
    predicted = image([[1.1, 3.0], [4.0, 5.0]])
    valid = torch.ones_like(target, dtype=torch.bool)
    errors = depth_errors(predicted, target, valid)
    assert errors["count"].item() == 3
    assert errors["abs_rel"].item() == pytest.approx((0.1 / 1 + 1.0 / 2 + 0) / 3)
    assert errors["rmse"].item() == pytest.approx(math.sqrt((0.01 + 1.0 + 0) / 3))
    assert errors["delta1"].item() == pytest.approx(2 / 3)  # 3/2 = 1.5 is over 1.25


def test_least_squares_scale_and_shift_by_hand():
    prediction = image([[0.0, 1.0], [2.0, 3.0]])
    target = 2 * prediction + 5  # exactly affine
    valid = torch.ones_like(target, dtype=torch.bool)
    scale, shift = scale_and_shift(prediction, target, valid)
    assert (scale.item(), shift.item()) == pytest.approx((2.0, 5.0))
    # Not exactly affine: x = 0, 1, 2, y = 0, 2, 1 -> s = cov / var = 0.5, t = mean(y) - s mean(x) = 0.5;
    # the fourth pixel is invalid and must not count.
    scale, shift = scale_and_shift(image([[0.0, 1.0], [2.0, 9.0]]), image([[0.0, 2.0], [1.0, -7.0]]), image([[1, 1], [1, 0]]).bool())
    assert (scale.item(), shift.item()) == pytest.approx((0.5, 0.5))


def test_relative_predictions_are_aligned_before_the_errors():
    target = image([[1.0, 2.0], [3.0, 4.0]])  # relative labels (disparity)
    prediction = (target - 5) / 3  # right up to scale and shift
    valid = torch.ones_like(target, dtype=torch.bool)
    aligned = predicted_depth(prediction, target, valid, RELATIVE, RELATIVE)
    assert torch.allclose(aligned, target, atol=1e-5)
    # against metric ground truth: aligned to its inverse, then inverted back to metres
    metres = 1 / target
    back = predicted_depth(prediction, metres, valid, RELATIVE, METRIC)
    assert torch.allclose(back, metres, atol=1e-5)
    # a metric model predicts log metres
    assert torch.allclose(predicted_depth(torch.log(metres), metres, valid, METRIC, METRIC), metres)


def test_object_pixel_variants_and_per_image_means():
    averages = Averages()
    depth = torch.full((2, 1, 2, 2), 2.0)
    mask = torch.zeros(2, 1, 2, 2)
    mask[0, 0, 0, 0] = 1  # image 0: one object pixel; image 1: none (left out of the object means)
    output = torch.zeros(2, 2, 2, 2)
    output[:, 0] = -1
    output[0, 0, 0, 0] = 1  # image 0's mask right, image 1 right too (both empty)
    output[:, 1] = math.log(2.0)
    output[0, 1, 0, 0] = math.log(3.0)  # the object pixel 1.5x too deep
    valid = torch.ones_like(depth, dtype=torch.bool)
    averages.add_batch(output, mask, depth, valid, METRIC, METRIC)
    means = averages.means()
    assert means["mask_iou"] == pytest.approx(1.0)
    assert means["abs_rel"] == pytest.approx((0.5 / 4 + 0) / 2)
    assert means["abs_rel_object"] == pytest.approx(0.5)
    assert means["delta1_object"] == pytest.approx(0.0)


def test_losses_fit_the_labels():
    assert DepthLabels.from_manifest({"mode": "scene", "meaning": "metric depth in metres along the optical axis"}).kind == METRIC
    assert DepthLabels.from_manifest({"mode": "model", "meaning": "relative inverse depth (disparity): larger is nearer"}).kind == RELATIVE
    assert DepthLabels.from_manifest({"mode": "none"}).kind == NO_DEPTH
    depth = image([[1.0, 2.0], [4.0, 0.0]])
    valid = valid_depth(depth, torch.tensor([True]), METRIC)
    assert valid.sum().item() == 3  # the unknown pixel carries no loss
    exact = torch.log(torch.where(valid, depth, torch.ones_like(depth)))
    exact[0, 0, 1, 1] = 100.0  # whatever is predicted there
    assert depth_loss(exact, depth, valid, METRIC).item() == pytest.approx(0.0)
    assert depth_loss(exact + 0.5, depth, valid, METRIC).item() == pytest.approx(0.5)
    relative = image([[1.0, 2.0], [3.0, 4.0]])
    valid = valid_depth(relative, torch.tensor([True]), RELATIVE)
    assert depth_loss(relative * -7 + 3, relative, valid, RELATIVE).item() == pytest.approx(0.0, abs=1e-8)
    assert depth_loss(image([[1.0, 0.0], [0.0, 1.0]]), relative, valid, RELATIVE).item() > 0.1
    assert mask_loss(image([[20.0, -20.0]]), image([[1.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)


def test_the_network_is_a_small_unet():
    model = UNet()
    assert 1_000_000 <= parameter_count(model) <= 5_000_000
    assert model(torch.zeros(2, 6, 32, 32)).shape == (2, 2, 32, 32)
