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
    assert tokenizer.truncation_side == ("left" if left else "right")  # the caller's setting left alone
    positions = [3, 1, 4]
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
    expected = tokenizer(
        [TEXTS[i] for i in positions],
        truncation=True,
        max_length=6,
        padding="max_length" if fixed_length else True,
        return_tensors="pt",
    )
    batch = tokens.batch(positions, torch.device("cpu"))
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(batch[key], expected[key]), key
    assert tokens.n_truncated == sum(len(ids) > 6 for ids in tokenizer(TEXTS)["input_ids"]) > 0


#: A sentence of 79 words: its word events' texts are its prefixes (events.text_context: prefix).
SENTENCE = (
    "when the three farmers finally came down the hill with their shovels and their lanterns and their "
    "dogs the fox and his family had already dug a tunnel so long and so deep that nobody could "
    "hope to follow them and so the farmers sat by the hole all night long waiting in the cold rain "
    "while far below the fox told his children a story about chickens geese ducks turkeys apples cider "
    "and the feast of tomorrow night"
)


@pytest.mark.parametrize("name", ["minilm", "minilm-python"])
@pytest.mark.parametrize("max_tokens", [12, 35, 64, 77])
@pytest.mark.parametrize("fixed_length", [False, True])  # the study's extraction pads to a fixed length
def test_a_long_prefix_keeps_its_last_word_and_the_special_tokens(tokenizers, name, max_tokens, fixed_length):
    from vlencode.stimuli.events import prefix_texts

    tokenizer = tokenizers[name]
    tokenizer.truncation_side = "right"
    words = SENTENCE.split()
    assert len(words) == 79
    prefixes = prefix_texts(SENTENCE, words)
    tokens = tokenize(tokenizer, prefixes, max_tokens, fixed_length)
    full = tokenizer(prefixes)["input_ids"]
    assert tokens.n_truncated == sum(len(ids) > max_tokens for ids in full) > 0
    for prefix, ids, whole in zip(prefixes, tokens.ids, full, strict=True):
        assert len(ids) == min(len(whole), max_tokens)
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id  # special tokens kept
        assert ids[-4:-1] == whole[-4:-1]  # the end of the text, where its word is
        assert tokenizer.decode(ids, skip_special_tokens=True).split()[-1] == prefix.split()[-1]
    assert len({tuple(ids) for ids in tokens.ids}) == 79  # every word its own text: none merged by the cut


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
