"""Model inputs: tokenized once and right-padded per batch as the tokenizer pads on the right; frames resized and
normalised."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer

from vlencode.models.inputs import ImageInputs, tokenize
from vlencode.models.registry import load_registry
from vlencode.models.sources import tokenizer_location

TEXTS = ["a fox", "the fox digs a tunnel under the farm at night", "", "Boggis, Bunce and Bean", "run"]


@pytest.fixture(scope="module")
def tokenizers():
    from pathlib import Path

    entries = load_registry(Path(__file__).resolve().parents[1] / "config" / "models.yaml")
    found = {name: AutoTokenizer.from_pretrained(tokenizer_location(entries[name])) for name in ("minilm", "tiny-clip")}
    found["minilm-python"] = AutoTokenizer.from_pretrained(tokenizer_location(entries["minilm"]), use_fast=False)
    return found


@pytest.mark.parametrize("name", ["minilm", "tiny-clip", "minilm-python"])
@pytest.mark.parametrize("fixed_length", [False, True])
@pytest.mark.parametrize("left", [False, True])
def test_batches_equal_the_tokenizers_own_right_padding_whatever_its_side(tokenizers, name, fixed_length, left):
    tokenizer = tokenizers[name]
    tokenizer.padding_side = "left" if left else "right"
    tokenizer.truncation_side = "left" if left else "right"
    tokens = tokenize(tokenizer, TEXTS, 6, fixed_length)
    positions = [3, 1, 4]
    tokenizer.padding_side = "right"
    expected = tokenizer([TEXTS[i] for i in positions], truncation=True, max_length=6,
                         padding="max_length" if fixed_length else True, return_tensors="pt")
    batch = tokens.batch(positions, torch.device("cpu"))
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(batch[key], expected[key]), key
    assert tokens.n_truncated == sum(len(ids) > 6 for ids in tokenizer(TEXTS)["input_ids"]) > 0


def test_tokenizing_leaves_the_tokenizers_settings_as_they_were(tokenizers):
    backend = tokenizers["minilm"].backend_tokenizer
    backend.enable_padding(length=128)
    backend.enable_truncation(128)
    before = (backend.truncation, backend.padding)
    tokenize(tokenizers["minilm"], TEXTS, 6, False)
    assert (backend.truncation, backend.padding) == before
    backend.no_padding()
    backend.no_truncation()
    tokenize(tokenizers["minilm"], TEXTS, 6, False)
    assert (backend.truncation, backend.padding) == (None, None)


def test_frames_are_resized_whole_and_normalised():
    rng = np.random.default_rng(0)
    frames = np.repeat(np.repeat(rng.integers(0, 256, (3, 6, 9, 3), dtype=np.uint8), 8, 1), 8, 2)  # 48 x 72
    normalize = {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}
    pixels = ImageInputs(32, normalize, torch.device("cpu"))(frames)
    assert pixels.shape == (3, 3, 32, 32) and pixels.dtype == torch.float32
    assert pixels.is_contiguous(memory_format=torch.channels_last)  # the layout convolutions run fastest on
    as_float = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    resized = F.interpolate(as_float, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    mean, std = (torch.tensor(normalize[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    # Resizing uint8 images (fixed-point weights, rounded to a level) stays within one level of the float resize.
    assert (pixels - (resized - mean) / std).abs().max() <= 1 / 255 / min(normalize["std"]) + 1e-6
    same_size = ImageInputs(48, normalize, torch.device("cpu"))(frames[:, :, :48])
    assert torch.allclose(same_size, (as_float[..., :48] - mean) / std, atol=1e-6)
