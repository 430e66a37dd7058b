"""The model registry, its instances (random twins, concat), and loading each backend offline."""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vlencode.features import state_sha256
from vlencode.models.networks import load_network
from vlencode.models.registry import ModelInstance, RegistryError, load_registry, model_instances
from vlencode.models.sources import SourceError, source_fingerprint, tokenizer_location

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "config" / "models.yaml"


@pytest.fixture
def config(monkeypatch):
    monkeypatch.chdir(ROOT)
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def entries():
    return load_registry(REGISTRY)


def write_registry(tmp_path, models):
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    return path


def test_default_instances_are_each_model_then_its_twins_in_use_order(config):
    instances = model_instances(config)
    assert list(instances) == [
        "minilm",
        "minilm-random-s0",
        "efficientnet-lite0",
        "efficientnet-lite0-random-s0",
        "tiny-clip",
        "tiny-clip-random-s0",
        "tiny-vilt",
        "tiny-vilt-random-s0",
        "tiny-simclr",
        "tiny-slip-vision",  # the untrained controlled pair: seeds: [] (no twins)
        "concat-minilm-efficientnet",
        "concat-minilm-efficientnet-random-s0",
    ]
    assert instances["tiny-slip-vision"].entry["pair"] == "tiny-simclr"
    assert instances["minilm"].init == "trained" and instances["minilm"].seed is None
    assert instances["minilm-random-s0"].init == "random" and instances["minilm-random-s0"].seed == 0
    assert instances["tiny-clip"].init == "random" and instances["tiny-clip"].seed == 100
    assert instances["concat-minilm-efficientnet"].components == ("minilm", "efficientnet-lite0")
    assert instances["concat-minilm-efficientnet-random-s0"].components == (
        "minilm-random-s0",
        "efficientnet-lite0-random-s0",
    )
    assert {i.family for i in instances.values()} == {"language", "vision", "multimodal"}


def test_several_seeds_give_one_twin_each(config):
    config["models"].update(use=["minilm"], random_seeds=[3, 7])
    assert list(model_instances(config)) == ["minilm", "minilm-random-s3", "minilm-random-s7"]


def test_as_dict_is_json_and_round_trips(config):
    for instance in model_instances(config).values():
        data = json.loads(json.dumps(instance.as_dict()))
        assert ModelInstance.from_dict(data) == instance


def test_building_instances_loads_no_model(config):
    code = (
        "import sys, yaml; from vlencode.models.registry import model_instances; "
        "model_instances(yaml.safe_load(open('config/config.yaml'))); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_model_is_one_line_listing_known_names(config):
    config["models"]["use"] = ["minilm", "gpt-17"]
    with pytest.raises(RegistryError) as error:
        model_instances(config)
    message = str(error.value)
    assert "\n" not in message
    assert "'gpt-17'" in message and "minilm, efficientnet-lite0, tiny-clip" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.update(poolng="cls"), r"entry 'minilm': Additional properties .*'poolng'"),
        (lambda e: e.update(family="audio"), r"entry 'minilm' key 'family': 'audio' is not one of"),
        (lambda e: e.update(max_tokens="many"), r"entry 'minilm' key 'max_tokens': 'many' is not of type"),
        (lambda e: e.pop("path"), r"entry 'minilm' misses key 'path'"),
        (lambda e: e.pop("max_tokens"), r"entry 'minilm' misses key 'max_tokens'"),
        (
            lambda e: e.update(name="minilm-random-s1"),
            r"key 'name': 'minilm-random-s1' is not a usable name: letters, digits, '\.' and '_', in parts joined by "
            r"'-'; '-random-s' is reserved for the random-init twins \(<name>-random-s<seed>\)$",
        ),
        (lambda e: e.update(name="mini lm"), r"key 'name': 'mini lm' is not a usable name"),
    ],
)
def test_bad_registry_entry_is_one_line_naming_entry_and_key(tmp_path, entries, change, expected):
    entry = copy.deepcopy(entries["minilm"])
    change(entry)
    path = write_registry(tmp_path, [entry])
    with pytest.raises(RegistryError, match=expected) as error:
        load_registry(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_concat_of_unknown_component_is_an_error(tmp_path, entries):
    concat = {
        "name": "cat",
        "family": "multimodal",
        "backend": "concat",
        "components": [{"model": "minilm"}, {"model": "nope"}],
    }
    with pytest.raises(RegistryError, match=r"entry 'cat' key 'components': 'nope' is not a network entry"):
        load_registry(write_registry(tmp_path, [entries["minilm"], concat]))


def test_random_entry_seed_equal_to_a_twin_seed_is_refused(tmp_path, entries, config):
    tiny = dict(entries["tiny-clip"], seed=0)
    config["models"].update(registry=str(write_registry(tmp_path, [tiny])), use=["tiny-clip"], random_seeds=[0])
    with pytest.raises(RegistryError, match="also a twin seed"):
        model_instances(config)


def test_paper_zoo_entries_are_the_studys_files(entries):
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["models"]["use"]
    assert set(paper) <= set(entries)
    assert entries["slip-vision"]["pair"] == "simclr"
    # The SLIP release's 25-epoch ViT-B/16 files, ALBEF 14M and pre-trained BLIP base, as the study loaded them.
    files = {name: entries[name]["release"]["file"] for name in paper if entries[name]["backend"] == "release"}
    assert files == {
        "simclr": "simclr_base_25ep.pt",
        "slip-vision": "slip_base_25ep.pt",
        "slip-language": "slip_base_25ep.pt",
        "clip-vision": "clip_base_25ep.pt",
        "clip-language": "clip_base_25ep.pt",
        "albef": "ALBEF.pth",
        "blip": "model_base_capfilt_large.pth",
    }
    assert {entries[name]["image_size"] for name in paper if "image" in entries[name].get("inputs", "")} == {224}
    assert entries["concat-simcse-simclr"]["components"] == [
        {"model": "simcse", "layer": "pooler"},
        {"model": "simclr", "layer": "vision.output"},
    ]
    assert all("study" in entries[name] for name in paper if entries[name]["backend"] != "concat")


def test_packaged_fingerprint_comes_from_the_wheel_record(entries):
    fingerprint = source_fingerprint(entries["minilm"])
    assert len(fingerprint["weights_sha256"]) == 64 and len(fingerprint["assets_sha256"]) == 64
    assert fingerprint == source_fingerprint(entries["minilm"])
    assert source_fingerprint(entries["efficientnet-lite0"])["weights_sha256"] != fingerprint["weights_sha256"]


# ------------------------------------------------------------------------------------------- loading networks


def test_each_embedded_network_has_its_layers(entries):
    minilm = load_network(entries["minilm"], "trained", None)
    assert minilm.layers == [f"hidden.{i}" for i in range(7)]
    effnet = load_network(entries["efficientnet-lite0"], "trained", None)
    assert effnet.layers == ["stem", *[f"block.{i}" for i in range(16)], "head"]
    clip = load_network(entries["tiny-clip"], "random", 100)
    assert clip.streams["image"][-1] == "vision.embeds" and clip.streams["text"][-1] == "text.embeds"
    assert clip.layers[-1] == "embeds" and len(clip.layers) == 4 + 1 + 4 + 1 + 1  # no hidden.0 under token pooling
    vilt = load_network(entries["tiny-vilt"], "random", 101)
    assert vilt.layers == [f"multimodal.hidden.{i}" for i in range(1, 4)] and vilt.streams == {"pair": vilt.layers}


@pytest.mark.parametrize("name", ["minilm", "efficientnet-lite0"])
def test_random_twin_differs_from_trained_and_repeats_for_a_seed(entries, name):
    trained = state_sha256(load_network(entries[name], "trained", None).module)
    twin = state_sha256(load_network(entries[name], "random", 0).module)
    assert twin != trained
    assert twin == state_sha256(load_network(entries[name], "random", 0).module)
    assert twin != state_sha256(load_network(entries[name], "random", 1).module)


def test_hf_backend_loads_a_local_directory(tmp_path, entries):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(tmp_path / "tiny-bert")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(Path(tokenizer_location(entries["minilm"])) / name, tmp_path / "tiny-bert" / name)
    entry = {
        "name": "tiny-bert",
        "family": "language",
        "backend": "hf",
        "source": str(tmp_path / "tiny-bert"),
        "inputs": "text",
        "layers": "all",
        "pooling": "cls",
        "max_tokens": 16,
        "architecture": "auto",
    }
    network = load_network(entry, "trained", None)
    assert network.layers == ["hidden.1", "hidden.2"]  # read at [CLS], hidden.0 is one embedding for every text
    tokens = network.tokenizer(["a small test"], return_tensors="pt")
    with torch.inference_mode():
        layers = network.text_layers(dict(tokens))
    assert layers["hidden.2"].shape == (1, 32)
    before = source_fingerprint(entry)
    (tmp_path / "tiny-bert" / "vocab.txt").write_text("changed\n")
    assert source_fingerprint(entry)["assets_sha256"] != before["assets_sha256"]
    assert source_fingerprint(entry)["weights_sha256"] == before["weights_sha256"]


def test_uncached_hub_model_is_one_line_telling_how_to_get_it(entries, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(SourceError) as error:
        load_network(entries["simcse"], "trained", None)
    message = str(error.value)
    assert "\n" not in message
    assert "`hf download princeton-nlp/sup-simcse-bert-base-uncased`" in message
    assert "set source: to a local directory" in message
    assert source_fingerprint(entries["simcse"])["weights_sha256"] == "locked"  # the weights step's lock says


def test_missing_converted_release_says_how_to_convert_it(entries, config):
    with pytest.raises(SourceError) as error:
        load_network(entries["simclr"], "trained", None)
    assert str(error.value) == (
        "simclr: no converted network at slip-simclr-vit-b16; convert the release file simclr_base_25ep.pt with "
        "`python -m vlencode.models.convert slip <file> slip-simclr-vit-b16`"
    )
