"""The SLIP release's networks: vlencode's ``SlipModel`` against a plain-torch transcription of the release.

Synthetic checkpoints are written exactly as the release's ``main.py`` saves them (``{'epoch', 'state_dict'
('module.'-prefixed), 'optimizer', 'scaler', 'best_acc1', 'args'}``), from the reference module
(``tests/reference/slip_release.py``) with every parameter and buffer randomised, so a wrong key, transpose or
LayerNorm cannot hide behind unit gains and zero biases.

Agreement is measured as ``max |ours - release| / max |release|`` per tensor (relative to the tensor's largest value).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from reference import slip_release as ref
from torch import nn

from vlencode.models.checkpoints import CheckpointError, read_release_checkpoint
from vlencode.models.slip import VARIANTS, SlipConfig, SlipModel, build_slip, convert_slip
from vlencode.models.vit import VisionTower, ViTConfig

TOLERANCE = 1e-5
SOT, EOT = 49406, 49407

#: A small network of every kind, for the agreement tests: the reference's sizes and vlencode's configuration.
SMALL = dict(
    img_size=32,
    patch_size=8,
    vision_width=64,
    vision_layers=3,
    vision_heads=4,
    embed_dim=24,
    context_length=77,
    vocab_size=49408,
    text_width=32,
    text_heads=4,
    text_layers=2,
    ssl_mlp_dim=48,
    ssl_emb_dim=16,
)
#: A model name outside the release's nine: its tower sizes come from ``convert_slip(config=...)``.
SMALL_TOWER = "VITT8"


def small_config(variant: str) -> SlipConfig:
    return SlipConfig(
        variant=variant,
        vision=ViTConfig(image_size=32, patch_size=8, width=64, layers=3, heads=4),
        embed_dim=24,
        context_length=77,
        vocab_size=49408,
        text_width=32,
        text_heads=4,
        text_layers=2,
        ssl_mlp_dim=48,
        ssl_emb_dim=16,
    )


def rel(ours: torch.Tensor, release: torch.Tensor) -> float:
    return float((ours - release).abs().max() / release.abs().max())


# ---------------------------------------------------------------------------------------------------------------------
# Synthetic release files
# ---------------------------------------------------------------------------------------------------------------------


def randomise_(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter and buffer of ``model`` drawn at random, at scales that keep activations of order one."""
    generator = torch.Generator().manual_seed(seed)

    def randn(tensor):
        return torch.randn(tensor.shape, generator=generator)

    def rand(tensor):
        return torch.rand(tensor.shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
                if name == "num_batches_tracked":
                    tensor.fill_(123457)
                elif name == "logit_scale":
                    tensor.fill_(3.0 + float(torch.rand((), generator=generator)))
                elif name == "running_mean":
                    tensor.copy_(0.5 * randn(tensor))
                elif name == "running_var":
                    tensor.copy_(0.5 + 1.5 * rand(tensor))
                elif isinstance(module, nn.LayerNorm | nn.BatchNorm1d) and name == "weight":
                    tensor.copy_(0.5 + rand(tensor))
                elif tensor.dim() == 1:
                    tensor.copy_(0.2 * randn(tensor))
                elif name in ("image_projection", "text_projection"):
                    tensor.copy_(randn(tensor) * tensor.shape[0] ** -0.5)
                elif name in ("cls_token", "pos_embed", "positional_embedding") or isinstance(module, nn.Embedding):
                    tensor.copy_(0.5 * randn(tensor))
                else:  # Linear, Conv2d and in_proj weights: [out, in, ...]
                    tensor.copy_(randn(tensor) * tensor[0].numel() ** -0.5)
    return model


def release_args(model: str, **overrides) -> argparse.Namespace:
    """The release's ``main.py`` arguments (L35-87, defaults) as its checkpoints pickle them."""
    args = dict(
        dataset="yfcc15m",
        root="",
        metadata="yfcc15m.pkl",
        output_dir="./",
        model=model,
        ssl_mlp_dim=ref.SSL_MLP_DIM,
        ssl_emb_dim=ref.SSL_EMB_DIM,
        ssl_scale=1.0,
        ssl_temp=0.1,
        resume="",
        epochs=25,
        warmup_epochs=1,
        start_epoch=0,
        batch_size=64,
        lr=3e-3,
        lr_start=1e-6,
        lr_end=1e-5,
        update_freq=1,
        wd=0.1,
        betas=(0.9, 0.98),
        eps=1e-8,
        eval_freq=1,
        disable_amp=False,
        print_freq=10,
        workers=10,
        evaluate=False,
        world_size=1,
        rank=0,
        local_rank=0,
        dist_url="env://",
        dist_backend="nccl",
        seed=0,
        gpu=0,
        wandb=False,
        distributed=True,
    )
    args.update(overrides)
    return argparse.Namespace(**args)


def release_container(model: nn.Module, args: argparse.Namespace, *, optimizer_state: bool = True) -> dict:
    """``main.py`` L244-251: what the release's ``torch.save`` writes, from a DistributedDataParallel module."""
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=args.betas, eps=args.eps, weight_decay=args.wd)
    optimizer_dict = optimizer.state_dict()
    if optimizer_state:
        optimizer_dict["state"] = {
            i: {"step": torch.tensor(1000.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.full_like(p, 1e-8)}
            for i, p in enumerate(params)
        }
    return {
        "epoch": 25,
        "state_dict": {"module." + key: value for key, value in model.state_dict().items()},
        "optimizer": optimizer_dict,
        "scaler": {
            "scale": 65536.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 1234,
        },
        "best_acc1": np.float64(31.25),
        "args": args,
    }


@pytest.fixture(scope="module")
def small_release(tmp_path_factory):
    """``{variant: (path, reference model)}``: one randomised small release file per variant."""
    directory = tmp_path_factory.mktemp("slip_release")
    files = {}
    for seed, variant in enumerate(VARIANTS):
        torch.manual_seed(seed)
        model = ref.build(variant, **SMALL)
        before = {key: value.clone() for key, value in model.state_dict().items()}
        randomise_(model, seed + 100)
        unchanged = [key for key, value in model.state_dict().items() if torch.equal(value, before[key])]
        assert not unchanged, unchanged
        path = directory / f"{variant}_small_25ep.pt"
        name = f"{variant.upper()}_{SMALL_TOWER}"
        torch.save(release_container(model, release_args(name, ssl_mlp_dim=48, ssl_emb_dim=16)), path)
        files[variant] = path, model
    return files


def converted(path, variant: str) -> SlipModel:
    config, weights = convert_slip(path, read_release_checkpoint(path), config=small_config(variant))
    model = SlipModel(config)
    model.load_state_dict(weights, strict=True)
    return model.eval()


def release_texts(lengths, generator, length=77) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids as the release's tokenizer gives them (``<start> ... <end>``, zero-padded to ``length``), and the mask."""
    ids = torch.zeros(len(lengths), length, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, 0] = SOT
        ids[row, 1 : n - 1] = torch.randint(1, SOT, (n - 2,), generator=generator)
        ids[row, n - 1] = EOT
    mask = (torch.arange(length) < torch.tensor(lengths)[:, None]).long()
    return ids, mask


# ---------------------------------------------------------------------------------------------------------------------
# 1-2. Agreement with the release's forward
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_agrees_with_the_release_at_every_block(small_release, variant):
    path, release = small_release[variant]
    model = converted(path, variant)
    generator = torch.Generator().manual_seed(7)
    images = torch.randn(3, 3, 32, 32, generator=generator)
    with torch.no_grad():
        release_cls, release_states = ref.image_forward(release, images)
        states = model.image_states(images)
        assert len(states) == len(release_states) == SMALL["vision_layers"] + 1
        for ours, theirs in zip(states, release_states):
            assert ours.shape == theirs.shape == (3, 17, 64)
            assert rel(ours, theirs) < TOLERANCE
        output = model.image_output(states)
        assert output.shape == (3, 64) and rel(output, release_cls) < TOLERANCE

        if variant in ("simclr", "slip"):
            head = model.image_head(output)
            assert head.shape == (3, 16) and rel(head, ref.image_mlp(release, release_cls)) < TOLERANCE
        if variant in ("clip", "slip"):
            assert rel(model.image_embed(output), release.encode_image(images)) < TOLERANCE
            ids, mask = release_texts([77, 40, 3], generator)
            release_embed, release_text_states, release_final, release_read = ref.text_forward(release, ids)
            text_states = model.text_states(ids, mask)
            assert len(text_states) == len(release_text_states) == SMALL["text_layers"] + 1
            for ours, theirs in zip(text_states, release_text_states):
                assert ours.shape == theirs.shape == (3, 77, 32)
                assert rel(ours, theirs) < TOLERANCE
            final = model.text_final(text_states)
            assert rel(final, release_final) < TOLERANCE
            text_output = model.text_output(final, mask)
            assert rel(text_output, release_read) < TOLERANCE
            assert rel(model.text_embed(text_output), release_embed) < TOLERANCE


def test_short_right_padded_texts_agree_with_the_release_at_77_tokens(small_release):
    path, release = small_release["slip"]
    model = converted(path, "slip")
    lengths = [5, 12, 2, 9]
    ids77, _ = release_texts(lengths, torch.Generator().manual_seed(3))
    ids, mask = ids77[:, :12], (torch.arange(12) < torch.tensor(lengths)[:, None]).long()
    with torch.no_grad():
        release_embed, release_states, _, release_read = ref.text_forward(release, ids77)
        states = model.text_states(ids, mask)
        for ours, theirs in zip(states, release_states):
            assert ours.shape == (4, 12, 32)
            for row, n in enumerate(lengths):
                assert rel(ours[row, :n], theirs[row, :n]) < TOLERANCE
        output = model.text_output(model.text_final(states), mask)
        assert rel(output, release_read) < TOLERANCE
        assert rel(model.text_embed(output), release_embed) < TOLERANCE
        with pytest.raises(ValueError, match="right-padded"):
            model.text_states(ids, mask.flip(-1))
        with pytest.raises(ValueError, match="exceed"):
            model.text_states(torch.zeros(1, 78, dtype=torch.long), torch.ones(1, 78))


# ---------------------------------------------------------------------------------------------------------------------
# 3. The release's full-size layouts
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [f"{prefix}_{tower}" for prefix in ("SIMCLR", "CLIP", "SLIP") for tower in ("VITS16", "VITB16", "VITL16")]
)
def test_each_release_name_gives_its_full_size_layout(name):
    # Meta tensors: the reference's keys and shapes at full size, without allocating them.
    with torch.device("meta"):
        release = ref.build_release(name)
    container = {
        "state_dict": {"module." + key: value for key, value in release.state_dict().items()},
        "args": release_args(name),
    }
    config, weights = convert_slip(f"{name}.pt", container)
    width, layers, heads = ref.TOWERS[name.split("_")[1]]
    assert config.variant == name.split("_")[0].lower()
    assert config.vision == ViTConfig(image_size=224, patch_size=16, width=width, layers=layers, heads=heads)
    assert (config.embed_dim, config.context_length, config.vocab_size) == (512, 77, 49408)
    assert (config.text_width, config.text_heads, config.text_layers) == (512, 8, 12)
    assert (config.ssl_mlp_dim, config.ssl_emb_dim) == (4096, 256)
    with torch.device("meta"):
        model = SlipModel(config)
    assert model.load_state_dict(weights, strict=True, assign=True) is not None
    assert set(weights) == set(release.state_dict())


def test_head_widths_come_from_args_else_from_the_weights():
    with torch.device("meta"):
        release = ref.build_release("SIMCLR_VITS16", ssl_mlp_dim=512, ssl_emb_dim=128)
    weights = {"module." + key: value for key, value in release.state_dict().items()}
    args = release_args("SIMCLR_VITS16")
    del args.ssl_mlp_dim, args.ssl_emb_dim
    config, _ = convert_slip("simclr.pt", {"state_dict": weights, "args": args})
    assert (config.ssl_mlp_dim, config.ssl_emb_dim) == (512, 128)
    with pytest.raises(CheckpointError, match=r"simclr\.pt: .*misshapen image_mlp\.layer1\.weight"):
        convert_slip("simclr.pt", {"state_dict": weights, "args": release_args("SIMCLR_VITS16")})


@pytest.mark.slow
def test_a_full_size_slip_file_converts_and_agrees(tmp_path):
    torch.manual_seed(0)
    release = ref.build_release("SLIP_VITB16")
    path = tmp_path / "slip_base_25ep.pt"
    torch.save(release_container(release, release_args("SLIP_VITB16"), optimizer_state=False), path)
    config, weights = convert_slip(path, read_release_checkpoint(path))
    assert config == SlipConfig(variant="slip")
    model = SlipModel(config).eval()
    result = model.load_state_dict(weights, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    image = torch.randn(1, 3, 224, 224)
    ids, mask = release_texts([20], torch.Generator().manual_seed(0))
    with torch.no_grad():
        release_cls, release_states = ref.image_forward(release, image)
        states = model.image_states(image)
        assert rel(states[-1], release_states[-1]) < 1e-4
        output = model.image_output(states)
        assert rel(output, release_cls) < 1e-4
        assert rel(model.image_head(output), ref.image_mlp(release, release_cls)) < 1e-4
        release_embed = release.encode_text(ids)
        text = model.text_output(model.text_final(model.text_states(ids[:, :20], mask[:, :20])), mask[:, :20])
        assert rel(model.text_embed(text), release_embed) < 1e-4


# ---------------------------------------------------------------------------------------------------------------------
# 4. Why not transformers' CLIPVisionModel
# ---------------------------------------------------------------------------------------------------------------------


def clip_vision_weights(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """The release's image tower in transformers' ``CLIPVisionModel`` layout (its pre-LayerNorm set to identity gain).

    ``CLIPVisionEmbeddings``' patch convolution has no bias: timm's is folded into the patch tokens' position
    embeddings, which is exact.
    """
    width = weights["visual.cls_token"].shape[-1]
    position = weights["visual.pos_embed"][0].clone()
    position[1:] += weights["visual.patch_embed.proj.bias"]
    out = {
        "embeddings.class_embedding": weights["visual.cls_token"][0, 0],
        "embeddings.patch_embedding.weight": weights["visual.patch_embed.proj.weight"],
        "embeddings.position_embedding.weight": position,
        "pre_layrnorm.weight": torch.ones(width),
        "pre_layrnorm.bias": torch.zeros(width),
        "post_layernorm.weight": weights["visual.norm.weight"],
        "post_layernorm.bias": weights["visual.norm.bias"],
    }
    for i in range(layers):
        src, dst = f"visual.blocks.{i}.", f"encoder.layers.{i}."
        for part, tensor in zip(("weight", "bias"), (weights[src + "attn.qkv.weight"], weights[src + "attn.qkv.bias"])):
            for name, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3)):
                out[f"{dst}self_attn.{name}.{part}"] = chunk
        for theirs, ours in (
            ("attn.proj", "self_attn.out_proj"),
            ("norm1", "layer_norm1"),
            ("norm2", "layer_norm2"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ):
            for part in ("weight", "bias"):
                out[f"{dst}{ours}.{part}"] = weights[f"{src}{theirs}.{part}"]
    return out


def test_transformers_clip_vision_model_cannot_hold_the_release_tower(small_release):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    path, release = small_release["simclr"]
    _, weights = convert_slip(path, read_release_checkpoint(path), config=small_config("simclr"))
    hf = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=3,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            layer_norm_eps=1e-6,
            hidden_act="gelu",
            attn_implementation="eager",
        )
    ).eval()
    result = hf.load_state_dict(clip_vision_weights(weights, 3), strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= {"embeddings.position_ids"}
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        release_cls = release.visual(images)
        assert rel(hf(pixel_values=images).pooler_output, release_cls) > 0.01
        # The key map is right: without the LayerNorm CLIPVisionModel applies to the embeddings, it agrees.
        hf.pre_layrnorm = nn.Identity()
        assert rel(hf(pixel_values=images).pooler_output, release_cls) < TOLERANCE


# ---------------------------------------------------------------------------------------------------------------------
# 5-6. Unsafe and damaged files
# ---------------------------------------------------------------------------------------------------------------------


def test_a_foreign_pickled_type_is_refused_unless_trusted(small_release, tmp_path):
    source, _ = small_release["simclr"]
    container = torch.load(source, weights_only=False)
    container["args"].started = datetime.date(2022, 1, 1)
    path = tmp_path / "simclr_dated.pt"
    torch.save(container, path)
    with pytest.raises(CheckpointError) as refused:
        read_release_checkpoint(path)
    message = str(refused.value)
    assert "\n" not in message and "datetime.date" in message and "--trust-pickle" in message and str(path) in message
    config, _ = convert_slip(path, read_release_checkpoint(path, trust_pickle=True), config=small_config("simclr"))
    assert config.variant == "simclr"


def test_damaged_files_and_containers_are_one_line_errors(small_release, tmp_path):
    source, _ = small_release["clip"]
    data = source.read_bytes()
    truncated, garbage = tmp_path / "truncated.pt", tmp_path / "garbage.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(bytes(range(256)) * 64)
    for path in (truncated, garbage, tmp_path / "absent.pt"):
        with pytest.raises(CheckpointError) as error:
            read_release_checkpoint(path)
        assert "\n" not in str(error.value) and str(path) in str(error.value)

    container = read_release_checkpoint(source)
    weightless = {key: value for key, value in container.items() if key != "state_dict"}
    with pytest.raises(CheckpointError, match=r"clip_small_25ep\.pt: has no 'state_dict'") as error:
        convert_slip(source, weightless)
    assert "\n" not in str(error.value)

    with pytest.raises(CheckpointError, match="names no SLIP model") as error:
        convert_slip(source, {**container, "args": argparse.Namespace(lr=1.0)})
    with pytest.raises(CheckpointError, match="pass its configuration"):
        convert_slip(source, container)  # VITT8 is not a release tower

    # A CLIP file labelled SLIP: a missing head, named, never a partial load.
    relabelled = {**container, "args": release_args(f"SLIP_{SMALL_TOWER}")}
    with pytest.raises(CheckpointError, match=r"missing image_mlp\.layer1\.weight") as error:
        convert_slip(source, relabelled, config=small_config("slip"))
    assert "\n" not in str(error.value) and str(source) in str(error.value)
    with pytest.raises(CheckpointError, match="given configuration is simclr"):
        convert_slip(source, container, config=small_config("simclr"))


# ---------------------------------------------------------------------------------------------------------------------
# 7-8. Random initialisation; one image tower for the three variants
# ---------------------------------------------------------------------------------------------------------------------


def test_random_init_is_seeded_and_no_layer_is_constant():
    config = small_config("slip")
    rng = torch.get_rng_state()
    first, again, other = build_slip(config, 0), build_slip(config, 0), build_slip(config, 1)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not first.training
    a, b, c = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)
    for key in (
        "visual.patch_embed.proj.weight",
        "visual.pos_embed",
        "visual.cls_token",
        "visual.blocks.0.attn.qkv.weight",
        "token_embedding.weight",
        "positional_embedding",
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.1.mlp.c_fc.bias",
        "image_projection",
        "text_projection",
        "image_mlp.layer1.weight",
        "image_mlp.layer3.bias",
    ):
        assert not torch.equal(a[key], c[key]), key
    # The release's scales (CLIP.initialize_parameters), checked loosely.
    assert float(a["logit_scale"]) == pytest.approx(math.log(1 / 0.07))
    assert float(a["positional_embedding"].std()) == pytest.approx(0.01, rel=0.1)
    assert float(a["token_embedding.weight"].std()) == pytest.approx(0.02, rel=0.05)
    assert float(a["transformer.resblocks.0.attn.in_proj_weight"].std()) == pytest.approx(32**-0.5, rel=0.1)
    assert float(a["image_projection"].std()) == pytest.approx(64**-0.5, rel=0.1)
    assert torch.equal(a["transformer.resblocks.0.attn.in_proj_bias"], torch.zeros(96))
    assert torch.equal(a["image_mlp.bn1.running_var"], torch.ones(48))

    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    ids, mask = release_texts([6, 9], torch.Generator().manual_seed(5), length=9)
    with torch.no_grad():
        states = first.image_states(images)
        for state in [*states, first.image_output(states), first.image_head(first.image_output(states))]:
            assert rel(state[0], state[1]) > 1e-3
        text_states = first.text_states(ids, mask)
        for state in text_states[1:]:  # position 0 is <start> in both texts, so compare whole texts
            assert rel(state[0, :6], state[1, :6]) > 1e-3
        output = first.text_output(first.text_final(text_states), mask)
        assert rel(output[0], output[1]) > 1e-3


def test_one_image_tower_class_and_code_for_every_variant():
    models = {variant: SlipModel(small_config(variant)).eval() for variant in VARIANTS}
    assert {type(model.visual) for model in models.values()} == {VisionTower}
    assert type(models["simclr"]).image_states is type(models["slip"]).image_states
    # The same tower weights give the same states, bit for bit, whichever objective's network holds them.
    reference = build_slip(small_config("simclr"), 3)
    for model in models.values():
        model.visual.load_state_dict(reference.visual.state_dict())
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outputs = [model.image_output(model.image_states(images)) for model in models.values()]
    assert all(torch.equal(outputs[0], output) for output in outputs[1:])


def test_config_round_trips_through_json():
    for variant in VARIANTS:
        config = small_config(variant)
        assert SlipConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert SlipConfig.from_dict({"variant": "clip"}) == SlipConfig(variant="clip")
    assert replace(SlipConfig(variant="slip"), vision=ViTConfig()).vision.width == 768
    with pytest.raises(ValueError, match="not one of"):
        SlipConfig(variant="moco")
    with pytest.raises(ValueError, match="simclr network .* has no such part"):
        SlipModel(small_config("simclr")).image_embed(torch.zeros(1, 64))
