"""Tiny randomly initialised depth models saved like Hub checkpoints, for offline tests.

Each helper writes a model *and* its image processor to `folder`, so that loading through
`from_pretrained` (and transformers' own `pipeline("depth-estimation")`) works exactly as for a real
checkpoint. Weights are random but seeded, so outputs are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTConfig,
    DPTForDepthEstimation,
    DPTImageProcessorPil,
    GLPNConfig,
    GLPNForDepthEstimation,
    GLPNImageProcessorPil,
    PreTrainedModel,
)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def _save(model: PreTrainedModel, processor, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_dpt(folder: str | Path, seed: int = 0) -> Path:
    """DPT (ViT backbone) whose processor keeps aspect ratio, rounds to 16 and centre-pads to 32."""
    torch.manual_seed(seed)
    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=64,
        patch_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        use_auxiliary_head=False,
        initializer_range=0.1,  # default 0.02 gives ~1e-8 depth: too degenerate to compare
    )
    processor = DPTImageProcessorPil(
        size={"height": 64, "width": 64},
        keep_aspect_ratio=True,
        ensure_multiple_of=16,
        do_pad=True,
        size_divisor=32,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return _save(DPTForDepthEstimation(config), processor, folder)


def save_tiny_glpn(folder: str | Path, seed: int = 0) -> Path:
    """GLPN (metric depth) whose processor rounds sizes down to a multiple of 32, bilinear."""
    torch.manual_seed(seed)
    config = GLPNConfig(
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=16,
        drop_path_rate=0.0,
    )
    return _save(GLPNForDepthEstimation(config), GLPNImageProcessorPil(size_divisor=32), folder)


def save_tiny_depth_anything(folder: str | Path, metric: bool = False, seed: int = 0) -> Path:
    """Depth Anything with a tiny DINOv2 backbone; processor as in the Hub checkpoints, but 56 px."""
    torch.manual_seed(seed)
    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=56,
        patch_size=14,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
        apply_layernorm=True,
        initializer_range=0.1,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 16, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="metric" if metric else "relative",
        max_depth=20 if metric else 1,
        initializer_range=0.1,
    )
    processor = DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # PIL BICUBIC, as in the real checkpoints
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return _save(DepthAnythingForDepthEstimation(config), processor, folder)


# What DepthProImageProcessor writes to preprocessor_config.json (it needs torchvision, so it is not
# instantiated here): the keys and defaults of apple/DepthPro-hf's file, at a size this tiny model takes.
DEPTH_PRO_PROCESSOR = {
    "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "DepthProImageProcessor", "image_std": [0.5, 0.5, 0.5], "resample": 2,
    "rescale_factor": 0.00392156862745098, "size": {"height": 32, "width": 32},
}


def save_tiny_depth_pro(folder: str | Path, seed: int = 0, processor: dict | None = None) -> Path:
    """Depth Pro with its field-of-view head: tiny DINOv2 encoders, a 32 px input."""
    import json

    from transformers import DepthProConfig, DepthProForDepthEstimation

    torch.manual_seed(seed)
    encoder = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, patch_size=4,
                   image_size=16, model_type="dinov2", initializer_range=0.1)
    config = DepthProConfig(
        fusion_hidden_size=16, patch_size=16, intermediate_hook_ids=[1, 0], intermediate_feature_dims=[8, 8],
        scaled_images_ratios=[0.5, 1], scaled_images_overlap_ratios=[0.0, 0.5], scaled_images_feature_dims=[16, 16],
        use_fov_model=True, num_fov_head_layers=1, image_model_config=encoder, patch_model_config=encoder,
        fov_model_config=encoder,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    DepthProForDepthEstimation(config).eval().save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor or DEPTH_PRO_PROCESSOR, indent=2))
    return folder
