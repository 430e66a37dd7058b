"""vlencode's FusionModel (ALBEF, BLIP) against a transcription of the releases (tests/reference/salesforce_release.py).

Synthetic release files are built from the reference's own module trees (so their keys are the releases'), every
parameter drawn at random (LayerNorms away from 1/0, ALBEF's token-type row nonzero) so that a mapping error cannot
hide, and saved in the releases' containers.  The small towers keep the releases' 64-wide heads (the converters'
rule): text width 256 (4 heads), image width 192 (3 heads, so cross-attention reads another width), 4 text layers
fused from layer 2, patches of 8 px.  The ALBEF file is trained at 40 px (5x5 patches) and converted to 32 px (4x4),
as the 14M release (256 px) is converted to the study's 224 px.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from reference import salesforce_release as ref

from vlencode.models.checkpoints import CheckpointError, read_release_checkpoint
from vlencode.models.fusion import (
    NETWORK_TYPE,
    FusionConfig,
    FusionModel,
    build_fusion,
    convert_albef,
    convert_blip,
)
from vlencode.models.vit import ViTConfig

TOL = 1e-5
VISION = {"patch_size": 8, "vision_width": 192, "vision_depth": 3, "vision_heads": 3, "embed_dim": 32}
TEXT = {
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 40,
    "encoder_width": 192,
    "fusion_layer": 2,
}
ALBEF_TEXT = ref.BertConfig(vocab_size=203, **TEXT)
BLIP_TEXT = ref.BertConfig(vocab_size=205, **TEXT)
ALBEF_TRAINED_PX, IMAGE_PX = 40, 32


def randomise_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Draw every floating-point parameter and buffer: LayerNorm gains 1 + 0.3 N, biases 0.3 N, embedding tables N,
    other weights N / sqrt(fan in); integer buffers (position ids, queue pointer) are left alone."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict(keep_vars=True).items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if tensor.ndim == 1 and name.endswith("weight") and "norm" in name.lower():
                tensor.copy_(1 + 0.3 * noise)
            elif tensor.ndim <= 1:
                tensor.copy_(0.3 * noise)
            elif "_embeddings." in name or name.endswith(("pos_embed", "cls_token", "_queue")):
                tensor.copy_(noise)
            else:
                tensor.copy_(noise / math.sqrt(tensor[0].numel()))
    return module


def albef_release(image_res: int) -> ref.ALBEFPretrain:
    return ref.ALBEFPretrain(ALBEF_TEXT, image_res=image_res, queue_size=48, **VISION).eval()


def albef_container(model: torch.nn.Module) -> dict:
    """ALBEF ``Pretrain.py`` lines 163-169."""
    return {
        "model": model.state_dict(),
        "optimizer": torch.optim.AdamW(model.parameters()).state_dict(),
        "lr_scheduler": {"t_initial": 30, "lr_min": 1e-5, "warmup_t": 20},
        "epoch": 29,
        "config": {
            "bert_config": "configs/config_bert.json",
            "image_res": ALBEF_TRAINED_PX,
            "vision_width": 192,
            "embed_dim": 32,
            "batch_size": 64,
            "temp": 0.07,
            "queue_size": 48,
            "momentum": 0.995,
            "optimizer": {"opt": "adamW", "lr": 1e-4, "weight_decay": 0.02},
        },
    }


def blip_container(model: torch.nn.Module) -> dict:
    """BLIP ``pretrain.py`` lines 136-141."""
    return {
        "model": model.state_dict(),
        "optimizer": torch.optim.AdamW(model.parameters()).state_dict(),
        "config": {"vit": "base", "image_size": IMAGE_PX, "queue_size": 48, "alpha": 0.4},
        "epoch": 19,
    }


@pytest.fixture(scope="module")
def albef(tmp_path_factory):
    """The ALBEF file (trained at 40 px), read back safely, and the reference at 32 px loaded from it the release's
    way (``Pretrain.py``: position embeddings interpolated, strict load)."""
    trained = randomise_(albef_release(ALBEF_TRAINED_PX), seed=1)
    assert trained.text_encoder.bert.embeddings.token_type_embeddings.weight[0].abs().min() > 0
    path = tmp_path_factory.mktemp("albef") / "ALBEF.pth"
    torch.save(albef_container(trained), path)
    container = read_release_checkpoint(path)
    reference = albef_release(IMAGE_PX)
    ref.load_albef_checkpoint(reference, container["model"])
    return path, container, reference


@pytest.fixture(scope="module")
def blip(tmp_path_factory):
    release = randomise_(ref.BLIPPretrain(BLIP_TEXT, image_size=IMAGE_PX, queue_size=48, **VISION), seed=2).eval()
    path = tmp_path_factory.mktemp("blip") / "model_base_capfilt_large.pth"
    torch.save(blip_container(release), path)
    return path, read_release_checkpoint(path), release


def inputs(vocab: int, seed: int = 3):
    """Two images and two texts (``[CLS]``-like first id, the second padded by 3 tokens)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(2, 3, IMAGE_PX, IMAGE_PX, generator=generator)
    ids = torch.randint(2, vocab - 2, (2, 9), generator=generator)
    ids[:, 0] = 1
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    return image, ids, mask


def loaded(config: FusionConfig, weights: dict) -> FusionModel:
    model = FusionModel(config)
    model.load_state_dict(weights, strict=True)
    return model.eval()


def assert_close(label: str, ours: torch.Tensor, theirs: torch.Tensor, report: list) -> None:
    diff = (ours - theirs).abs().max().item()
    scale = theirs.abs().max().item()
    report.append(f"{label}: max abs {diff:.2e}, rel {diff / scale:.2e} (max |x| {scale:.2f})")
    assert ours.shape == theirs.shape, label
    assert diff < TOL * max(1.0, scale), report[-1]


def compare_albef(model: FusionModel, expected: dict, image, ids, mask) -> list[str]:
    report = []
    with torch.no_grad():
        states = model.image_states(image)
        normed = model.image_normed(states)
        text = model.text_states(ids, mask)
        fused = model.fusion_states(text[-1], mask, normed)
        for i, (ours, theirs) in enumerate(zip(states, expected["image_states"], strict=True)):
            assert_close(f"image state {i}", ours, theirs, report)
        assert_close("image normed", normed, expected["image_embeds"], report)
        assert len(text) == ALBEF_TEXT.fusion_layer + 1
        for i, (ours, theirs) in enumerate(zip(text, expected["text_states"], strict=True)):
            assert_close(f"text state {i}", ours, theirs, report)
        assert len(fused) == ALBEF_TEXT.num_hidden_layers - ALBEF_TEXT.fusion_layer
        for i, (ours, theirs) in enumerate(zip(fused, expected["fusion_states"], strict=True)):
            assert_close(f"fusion layer {ALBEF_TEXT.fusion_layer + i + 1}", ours, theirs, report)
        assert_close("fusion CLS", fused[-1][:, 0], expected["fusion_states"][-1][:, 0], report)
        assert_close("vision_proj(CLS)", model.vision_proj(normed[:, 0]), expected["image_feat"], report)
        assert_close("text_proj(CLS)", model.text_proj(text[-1][:, 0]), expected["text_feat"], report)
        assert_close("itm_head(fused CLS)", model.itm_head(fused[-1][:, 0]), expected["itm"], report)
    return report


def test_albef_converted_matches_the_release(albef):
    path, container, reference = albef
    config, weights = convert_albef(path, container, image_size=IMAGE_PX)
    assert config.fusion_layer == 2 and config.enc_token_id is None and config.heads == 4
    assert config.vision == ViTConfig(image_size=32, patch_size=8, width=192, layers=3, heads=3)
    assert weights["visual_encoder.pos_embed"].shape == (1, 17, 192)
    image, ids, mask = inputs(ALBEF_TEXT.vocab_size)
    report = compare_albef(loaded(config, weights), ref.albef_features(reference, image, ids, mask), image, ids, mask)
    print("\nALBEF (token type folded) vs the release:\n  " + "\n  ".join(report))


def test_albef_without_token_type_matches_lavis(albef):
    """``fold_token_type=False`` is LAVIS's ALBEF (no token-type term), the study's; it is not the release's."""
    path, container, reference = albef
    config, weights = convert_albef(path, container, image_size=IMAGE_PX, fold_token_type=False)
    model = loaded(config, weights)
    image, ids, mask = inputs(ALBEF_TEXT.vocab_size)
    lavis = ref.albef_features(reference, image, ids, mask, token_types=False)
    report = compare_albef(model, lavis, image, ids, mask)
    print("\nALBEF (token type dropped) vs LAVIS:\n  " + "\n  ".join(report))
    release = ref.albef_features(reference, image, ids, mask)
    with torch.no_grad():
        fused = model.fusion_states(
            model.text_states(ids, mask)[-1], mask, model.image_normed(model.image_states(image))
        )[-1][:, 0]
    assert (fused - release["fusion_states"][-1][:, 0]).abs().max() > 1e-2


def test_blip_converted_matches_the_release(blip):
    path, container, release = blip
    config, weights = convert_blip(path, container, image_size=IMAGE_PX)
    assert config.fusion_layer == 0 and config.enc_token_id == BLIP_TEXT.vocab_size - 1 == release.enc_token_id
    model = loaded(config, weights)
    image, ids, mask = inputs(BLIP_TEXT.vocab_size)
    expected = ref.blip_features(release, image, ids, mask)
    report = []
    with torch.no_grad():
        mm_ids = model.multimodal_input_ids(ids)
        assert (mm_ids[:, 0] == config.enc_token_id).all() and (mm_ids[:, 1:] == ids[:, 1:]).all()
        assert (ids[:, 0] == 1).all()  # the input is left alone
        states = model.image_states(image)
        normed = model.image_normed(states)
        text = model.text_states(mm_ids, mask)
        assert len(text) == 1
        fused = model.fusion_states(text[-1], mask, normed)
        for i, (ours, theirs) in enumerate(zip(states, expected["image_states"], strict=True)):
            assert_close(f"image state {i}", ours, theirs, report)
        assert_close("image normed", normed, expected["image_embeds"], report)
        for i, (ours, theirs) in enumerate(zip(text + fused, expected["multimodal_states"], strict=True)):
            assert_close(f"multimodal state {i}", ours, theirs, report)
        assert_close("fusion CLS", fused[-1][:, 0], expected["multimodal_states"][-1][:, 0], report)
        assert_close("vision_proj(CLS)", model.vision_proj(normed[:, 0]), expected["image_feat"], report)
        assert_close("itm_head(fused CLS)", model.itm_head(fused[-1][:, 0]), expected["itm"], report)
    print("\nBLIP ([ENC], multimodal) vs the release:\n  " + "\n  ".join(report))


def test_blip_position_embeddings_follow_image_size(blip):
    path, container, release = blip
    _, weights = convert_blip(path, container, image_size=48)
    expected = ref.interpolate_pos_embed(
        container["model"]["visual_encoder.pos_embed"],
        ref.VisionTransformer(img_size=48, patch_size=8, embed_dim=192, depth=0),
    )
    assert weights["visual_encoder.pos_embed"].shape == (1, 37, 192)
    torch.testing.assert_close(weights["visual_encoder.pos_embed"], expected, rtol=0, atol=1e-6)


# --- why vlencode has its own class -------------------------------------------------------------------------------


def blip_text_model(weights: dict, **config):
    from transformers import BlipTextConfig, BlipTextModel

    text_config = BlipTextConfig(
        hidden_size=256,
        num_hidden_layers=4,
        intermediate_size=512,
        max_position_embeddings=40,
        encoder_hidden_size=192,
        is_decoder=True,
        bos_token_id=None,
        sep_token_id=None,
        **config,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BlipTextModel(text_config, add_pooling_layer=False).eval()
    return model, model.load_state_dict(weights, strict=False)


def test_transformers_blip_text_model_gets_albef_wrong(albef):
    """BlipTextModel holds ALBEF's weights but has cross-attention in every layer (random below the fusion layer)
    and no token-type term: its fused CLS is off by far more than 1%."""
    _, container, reference = albef
    prefix = "text_encoder.bert."
    weights = {
        name[len(prefix) :]: tensor
        for name, tensor in container["model"].items()
        if name.startswith(prefix) and "token_type" not in name and not name.endswith("position_ids")
    }
    model, result = blip_text_model(weights, vocab_size=ALBEF_TEXT.vocab_size, num_attention_heads=4)
    assert not result.unexpected_keys
    assert {key.split(".crossattention.")[0] for key in result.missing_keys} == {
        f"encoder.layer.{i}" for i in range(ALBEF_TEXT.fusion_layer)
    }
    image, ids, mask = inputs(ALBEF_TEXT.vocab_size)
    release = ref.albef_features(reference, image, ids, mask)
    with torch.no_grad():
        cls = model(
            input_ids=ids,
            attention_mask=mask,
            encoder_hidden_states=release["image_embeds"],
            encoder_attention_mask=torch.ones(release["image_embeds"].shape[:2], dtype=torch.long),
            is_decoder=False,
        ).last_hidden_state[:, 0]
    expected = release["fusion_states"][-1][:, 0]
    assert (cls - expected).abs().max() / expected.abs().max() > 0.01


def test_blip_text_config_default_heads_are_a_silent_trap(blip):
    """``BlipTextConfig`` defaults to 8 heads: 12-head BERT-base weights load with the same shapes (a 4-head tower
    here loads into 8) and compute something else; with the heads given it reproduces BLIP's text encoder."""
    from transformers import BlipTextConfig

    assert BlipTextConfig().num_attention_heads != 12
    _, container, release = blip
    prefix = "text_encoder."
    weights = {
        name[len(prefix) :]: tensor
        for name, tensor in container["model"].items()
        if name.startswith(prefix) and not name.endswith("position_ids")
    }
    image, ids, mask = inputs(BLIP_TEXT.vocab_size)
    expected = ref.blip_features(release, image, ids, mask)
    mm_ids = ids.clone()
    mm_ids[:, 0] = release.enc_token_id
    cls = {}
    for heads in (4, None):
        model, result = blip_text_model(
            weights, vocab_size=BLIP_TEXT.vocab_size, **({"num_attention_heads": heads} if heads else {})
        )
        assert not result.missing_keys and not result.unexpected_keys  # the same shapes either way
        with torch.no_grad():
            cls[heads] = model(
                input_ids=mm_ids, attention_mask=mask, encoder_hidden_states=expected["image_embeds"], is_decoder=False
            ).last_hidden_state[:, 0]
    reference_cls = expected["multimodal_states"][-1][:, 0]
    scale = reference_cls.abs().max()
    assert (cls[4] - reference_cls).abs().max() / scale < 1e-4
    assert (cls[None] - reference_cls).abs().max() / scale > 0.01


# --- full-size layouts ------------------------------------------------------------------------------------------


def empty_state_dict(model: torch.nn.Module) -> dict:
    """The module's keys and shapes as uninitialised tensors (pages never touched: no memory, no time)."""
    return {name: torch.empty(tensor.shape, dtype=tensor.dtype) for name, tensor in model.state_dict().items()}


def expected_keys(config: FusionConfig) -> dict:
    with torch.device("meta"):
        return {name: tensor.shape for name, tensor in FusionModel(config).state_dict().items()}


def test_full_size_albef_release_layout():
    """ALBEF.pth's layout: ViT-B/16 at 256 px (257 positions), BERT-base (30522), fusion from layer 6."""
    with torch.device("meta"):
        release = ref.ALBEFPretrain(ref.BertConfig(), image_res=256)
    container = {**albef_container(torch.nn.Linear(1, 1)), "model": empty_state_dict(release)}
    container["config"]["image_res"] = 256
    assert container["model"]["visual_encoder.pos_embed"].shape == (1, 257, 768)
    config, weights = convert_albef("ALBEF.pth", container)
    assert config == FusionConfig(vision=ViTConfig(), vocab_size=30522, fusion_layer=6)
    assert weights["visual_encoder.pos_embed"].shape == (1, 197, 768)
    assert {name: tensor.shape for name, tensor in weights.items()} == expected_keys(config)
    assert FusionConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert NETWORK_TYPE == "fusion"


def test_full_size_blip_release_layout():
    """model_base_capfilt_large.pth's layout: ViT-B/16 at 224 px, BERT-base with [DEC] and [ENC] (30524)."""
    with torch.device("meta"):
        release = ref.BLIPPretrain(ref.BertConfig(vocab_size=30524))
    container = {**blip_container(torch.nn.Linear(1, 1)), "model": empty_state_dict(release)}
    config, weights = convert_blip("model_base_capfilt_large.pth", container)
    assert config == FusionConfig(vision=ViTConfig(), vocab_size=30524, fusion_layer=0, enc_token_id=30523)
    assert weights["visual_encoder.pos_embed"].shape == (1, 197, 768)
    assert {name: tensor.shape for name, tensor in weights.items()} == expected_keys(config)
    assert FusionConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config


# --- random initialisation -----------------------------------------------------------------------------------------

SMALL = FusionConfig(
    vision=ViTConfig(image_size=32, patch_size=8, width=192, layers=3, heads=3),
    vocab_size=203,
    width=256,
    layers=4,
    heads=4,
    intermediate=512,
    max_positions=40,
    fusion_layer=2,
    embed_dim=32,
)


def varies(states: list[torch.Tensor], skip_cls: int = 0) -> None:
    """Each state differs between the two samples, over all tokens and (from ``skip_cls`` on) at the CLS token."""
    for i, state in enumerate(states):
        assert (state[0] - state[1]).abs().max() > 1e-3 * state.abs().max(), f"state {i} is constant"
        if i >= skip_cls:
            assert (state[0, 0] - state[1, 0]).abs().max() > 1e-3 * state[:, 0].abs().max(), f"state {i} CLS"


def test_random_init_is_seeded_and_varies():
    rng = torch.get_rng_state()
    first, again, other = build_fusion(SMALL, 0), build_fusion(SMALL, 0), build_fusion(SMALL, 1)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not first.training
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert all(
        not torch.equal(tensor, other.state_dict()[name])
        for name, tensor in first.state_dict().items()
        if name.endswith("weight") and "LayerNorm" not in name and "norm" not in name.split(".")[-2]
    )
    for name in (
        "visual_encoder.blocks.0.attn.qkv.weight",
        "text_encoder.encoder.layer.0.attention.self.query.weight",
        "text_encoder.encoder.layer.3.crossattention.self.key.weight",
        "text_encoder.embeddings.word_embeddings.weight",
    ):
        assert 0.018 < first.state_dict()[name].std() < 0.022, name  # std 0.02, not BlipVisionConfig's 1e-10

    image, ids, mask = inputs(SMALL.vocab_size)
    with torch.no_grad():
        states = first.image_states(image)
        varies(states, skip_cls=1)  # the embeddings' CLS is the class token at its position: the same for all
        normed = first.image_normed(states)
        text = first.text_states(ids, mask)
        varies(text, skip_cls=1)  # both texts start with the same id
        same_text = first.text_states(ids[:1].expand(2, -1), mask[:1].expand(2, -1))[-1]
        varies(first.fusion_states(same_text, mask[:1].expand(2, -1), normed))  # over images, for one text
        varies(first.fusion_states(text[-1], mask, normed[:1].expand(2, -1, -1)))  # over texts, for one image


# --- errors -----------------------------------------------------------------------------------------------------------


def one_line_error(convert, *args) -> str:
    with pytest.raises(CheckpointError) as caught:
        convert(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_conversion_errors_are_one_line(albef, blip):
    path, container, _ = albef
    assert "'model'" in one_line_error(convert_albef, path, {"state_dict": container["model"]})
    extra = {
        **container,
        "model": {**container["model"], "text_encoder.bert.encoder.layer.0.extra.weight": torch.zeros(2)},
    }
    assert "text_encoder.encoder.layer.0.extra.weight" in one_line_error(convert_albef, path, extra)
    missing = {**container, "model": {k: v for k, v in container["model"].items() if k != "itm_head.bias"}}
    assert "itm_head.bias" in one_line_error(convert_albef, path, missing)
    no_proj = {**container, "model": {k: v for k, v in container["model"].items() if k != "text_proj.weight"}}
    assert "text_proj.weight" in one_line_error(convert_albef, path, no_proj)
    assert str(path) in one_line_error(convert_blip, path, container)  # an ALBEF file given as BLIP's
    stated = {**container, "config": {**container["config"], "bert_config": {"fusion_layer": 3}}}
    assert "fusion_layer 3" in one_line_error(convert_albef, path, stated)

    blip_path, blip_file, _ = blip
    assert "'model'" in one_line_error(convert_blip, blip_path, {"state_dict": blip_file["model"]})
    missing = {
        **blip_file,
        "model": {
            k: v
            for k, v in blip_file["model"].items()
            if k != "text_encoder.encoder.layer.1.crossattention.self.key.bias"
        },
    }
    assert "layer.1.crossattention.self.key.bias" in one_line_error(convert_blip, blip_path, missing)
    assert str(blip_path) in one_line_error(convert_albef, blip_path, blip_file)  # a BLIP file given as ALBEF's
