"""Tiny randomly initialised models for the cutouts stages, saved like Hub checkpoints (model, processor
and, for text, a tokenizer built from a small local vocabulary), for offline tests through the real
`from_pretrained` path. Weights are random but seeded."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers as t

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "an", "the", "dog", "cat", "person", "chair", "photo", "of"]


def _save(model, processor, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _tiny_swin(out_features: list[str]) -> t.SwinConfig:
    return t.SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4, image_size=64, out_features=out_features)


def save_tiny_grounding_dino(folder: str | Path, seed: int = 0) -> Path:
    """Grounding DINO with 2 decoder layers, a BERT text encoder and tokenizer over VOCABULARY."""
    torch.manual_seed(seed)
    tokenizer = t.BertTokenizer(vocab={word: index for index, word in enumerate(VOCABULARY)})
    text = t.BertConfig(vocab_size=len(VOCABULARY), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=64)
    config = t.GroundingDinoConfig(
        backbone_config=_tiny_swin(["stage2", "stage3", "stage4"]), text_config=text, d_model=32, encoder_layers=1,
        decoder_layers=2, num_queries=8, encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
        decoder_attention_heads=2, num_feature_levels=4, encoder_n_points=2, decoder_n_points=2, max_text_len=32,
    )
    image_processor = t.GroundingDinoImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96})
    return _save(t.GroundingDinoForObjectDetection(config), t.GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer), folder)


def save_tiny_sam(folder: str | Path, seed: int = 0, hq: bool = False) -> Path:
    """SAM (or SAM-HQ, `hq`) at 64 px with 16 px low-resolution masks."""
    torch.manual_seed(seed)
    kind = "SamHQ" if hq else "Sam"
    vision = getattr(t, f"{kind}VisionConfig")(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=64, patch_size=16,
                                               output_channels=16, global_attn_indexes=[1], mlp_dim=32, window_size=2, num_pos_feats=8)
    prompt = getattr(t, f"{kind}PromptEncoderConfig")(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = getattr(t, f"{kind}MaskDecoderConfig")(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                                                     iou_head_hidden_dim=16, **({"vit_dim": 32} if hq else {}))
    config = getattr(t, f"{kind}Config")(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
    image_processor = t.SamImageProcessorPil(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
                                             mask_size={"longest_edge": 16}, mask_pad_size={"height": 16, "width": 16})
    return _save(getattr(t, f"{kind}Model")(config), getattr(t, f"{kind}Processor")(image_processor=image_processor), folder)


def save_tiny_vitmatte(folder: str | Path, seed: int = 0) -> Path:
    """ViTMatte with a 2-layer ViTDet backbone; its processor pads to a multiple of 32 like the real one."""
    torch.manual_seed(seed)
    backbone = t.VitDetConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, num_channels=4,
                              image_size=32, pretrain_image_size=32, patch_size=16, out_features=["stage2"])
    config = t.VitMatteConfig(backbone_config=backbone, hidden_size=32, convstream_hidden_sizes=[8, 16, 16], fusion_hidden_sizes=[16, 16, 8, 8])
    return _save(t.VitMatteForImageMatting(config), t.VitMatteImageProcessorPil(), folder)


def save_tiny_mask2former(folder: str | Path, labels: tuple[str, ...] = ("person", "dog", "chair"), seed: int = 0) -> Path:
    """Mask2Former (instance segmentation) over `labels`; transformers needs scipy to build it."""
    torch.manual_seed(seed)
    config = t.Mask2FormerConfig(
        backbone_config=_tiny_swin(["stage1", "stage2", "stage3", "stage4"]), feature_size=32, mask_feature_size=32,
        hidden_dim=32, encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1, decoder_layers=2,
        num_attention_heads=2, num_queries=6, id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
    )
    image_processor = t.Mask2FormerImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}, size_divisor=32)
    return _save(t.Mask2FormerForUniversalSegmentation(config), image_processor, folder)


# A CLIP byte-pair vocabulary for "a dog" and "a cat"; id 0 is no token (OWL masks queries starting with 0).
CLIP_TOKENS = ["!", "<|startoftext|>", "<|endoftext|>", "a</w>", "d", "o", "g</w>", "do", "dog</w>", "c", "a", "t</w>", "ca", "cat</w>", ".</w>"]
CLIP_MERGES = [("d", "o"), ("do", "g</w>"), ("c", "a"), ("ca", "t</w>")]


def save_tiny_owlv2(folder: str | Path, seed: int = 0) -> Path:
    """OWLv2 at 64 px with a CLIP tokenizer over CLIP_TOKENS; its PIL processor needs scipy to resize."""
    torch.manual_seed(seed)
    tokenizer = t.CLIPTokenizer(vocab={token: index for index, token in enumerate(CLIP_TOKENS)}, merges=CLIP_MERGES)
    text = t.Owlv2TextConfig(vocab_size=len(CLIP_TOKENS), hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                             num_attention_heads=2, max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    vision = t.Owlv2VisionConfig(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=64, patch_size=16)
    config = t.Owlv2Config(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    processor = t.Owlv2Processor(image_processor=t.Owlv2ImageProcessorPil(size={"height": 64, "width": 64}), tokenizer=tokenizer)
    return _save(t.Owlv2ForObjectDetection(config), processor, folder)
