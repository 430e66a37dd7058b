"""The ALBEF and BLIP releases as one network: a ViT image encoder and a BERT text encoder that fuses the image by
cross-attention from its ``fusion_layer`` on.

ALBEF (salesforce/ALBEF ``models/model_pretrain.py``, ``models/xbert.py``) runs its 12 BERT layers in two passes: the
text alone through layers 0-5 (``mode='text'``, the unimodal text features), then layers 6-11, each self-attention,
cross-attention to the image and feed-forward (``mode='fusion'``).  BLIP (salesforce/BLIP ``models/blip_pretrain.py``,
``models/med.py``) has cross-attention in every layer and reads an image-grounded text whose first token is replaced
by ``[ENC]`` (``mode='multimodal'``).  Both are a :class:`FusionModel` with ``fusion_layer`` 6 or 0.

transformers' ``BlipTextModel`` cannot stand in for ALBEF: it adds cross-attention to every layer (the six random
ones below ALBEF's fusion layer change every fused state) and has no token-type embedding; its ``BlipTextConfig``
defaults to 8 heads, which loads 12-head weights with the same shapes and computes something else.  This module
keeps the releases' parameter names (BLIP's ``med.py`` layout: ``text_encoder.embeddings``,
``text_encoder.encoder.layer.<i>.{attention,crossattention,intermediate,output}``), so a converted release loads with
``strict=True``.

Conversion (:func:`convert_albef`, :func:`convert_blip`) keeps the image encoder, the text encoder, ``vision_proj``,
``text_proj`` and ``itm_head`` and drops the training state: momentum copies (``*_m``), queues, ``temp``, BLIP's
``text_decoder`` and ALBEF's masked-LM head.  ALBEF's token-type embedding (row 0, the only type the text ever has)
is folded into the position embeddings, which is exact because both are added before the embedding LayerNorm.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vlencode.models.checkpoints import CheckpointError, state_dict_of
from vlencode.models.vit import VisionTower, ViTConfig, interpolate_pos_embed

NETWORK_TYPE = "fusion"

#: Width of one attention head in every ALBEF and BLIP tower (BERT-base and ViT-B: 768 / 12; BLIP's ViT-L: 1024 / 16).
HEAD_WIDTH = 64
#: BERT's additive mask value for padding (xbert.py and med.py ``get_extended_attention_mask``).
_MASKED = -10000.0


@dataclass(frozen=True)
class FusionConfig:
    """Shape of a :class:`FusionModel`.

    Attributes
    ----------
    vision
        The image encoder (ViT-B/16 at 224 px for the study; LayerNorm eps 1e-6).
    vocab_size
        Text vocabulary: ALBEF 30522 (bert-base-uncased), BLIP 30524 (plus ``[DEC]`` and ``[ENC]``).
    width, layers, heads, intermediate, max_positions, eps
        BERT-base: 768, 12, 12, 3072, 512, 1e-12.
    fusion_layer
        Index of the first layer with cross-attention: ALBEF 6 (layers 0-5 read the text only), BLIP 0.
    embed_dim
        Output width of ``vision_proj`` and ``text_proj`` (256).
    enc_token_id
        BLIP's ``[ENC]`` id (30523), put in place of the first token of the image-grounded text; ``None`` for ALBEF.
    """

    vision: ViTConfig
    vocab_size: int
    width: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    max_positions: int = 512
    eps: float = 1e-12
    fusion_layer: int = 6
    embed_dim: int = 256
    enc_token_id: int | None = None

    def __post_init__(self):
        if not 0 <= self.fusion_layer <= self.layers:
            raise ValueError(f"fusion_layer {self.fusion_layer} is not in 0..{self.layers}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionConfig:
        vision = data["vision"]
        return cls(**{**data, "vision": vision if isinstance(vision, ViTConfig) else ViTConfig.from_dict(vision)})


class _Projections(nn.Module):
    """``attention.self``: query from the text, key and value from the text or (cross-attention) the image."""

    def __init__(self, width: int, source_width: int):
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(source_width, width)
        self.value = nn.Linear(source_width, width)


class _Residual(nn.Module):
    """``LayerNorm(dense(x) + residual)``: BERT's ``SelfOutput`` and ``Output``."""

    def __init__(self, in_width: int, width: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(in_width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    """BERT's ``BertAttention``: multi-head attention of ``x`` to ``source``, then :class:`_Residual` on ``x``."""

    def __init__(self, width: int, heads: int, eps: float, source_width: int):
        super().__init__()
        self.heads = heads
        self.self = _Projections(width, source_width)
        self.output = _Residual(width, width, eps)

    def forward(self, x: torch.Tensor, source: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        def split(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        q, k, v = split(self.self.query(x)), split(self.self.key(source)), split(self.self.value(source))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # softmax(q k' / sqrt(d) + mask) v
        return self.output(context.transpose(1, 2).flatten(2), x)


class _Intermediate(nn.Module):
    def __init__(self, width: int, intermediate: int):
        super().__init__()
        self.dense = nn.Linear(width, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # BERT's "gelu": the exact (erf) form


class _Layer(nn.Module):
    """xbert.py / med.py ``BertLayer``: self-attention, cross-attention to the image (fusion layers only), FFN."""

    def __init__(self, config: FusionConfig, cross: bool):
        super().__init__()
        self.attention = _Attention(config.width, config.heads, config.eps, config.width)
        if cross:
            self.crossattention = _Attention(config.width, config.heads, config.eps, config.vision.width)
        self.intermediate = _Intermediate(config.width, config.intermediate)
        self.output = _Residual(config.intermediate, config.width, config.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention(x, x, mask)
        if image is not None:
            x = self.crossattention(x, image, None)  # the releases attend to every image token (mask of ones)
        return self.output(self.intermediate(x), x)


class _Embeddings(nn.Module):
    def __init__(self, config: FusionConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.width)
        self.position_embeddings = nn.Embedding(config.max_positions, config.width)
        self.LayerNorm = nn.LayerNorm(config.width, eps=config.eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings.weight[: input_ids.shape[1]])


class _Layers(nn.Module):
    def __init__(self, config: FusionConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(config, i >= config.fusion_layer) for i in range(config.layers))


class _TextEncoder(nn.Module):
    def __init__(self, config: FusionConfig):
        super().__init__()
        self.embeddings = _Embeddings(config)
        self.encoder = _Layers(config)


class FusionModel(nn.Module):
    """ALBEF's and BLIP's image encoder, fusion text encoder and heads, in the releases' parameter layout.

    Attributes
    ----------
    visual_encoder
        :class:`~vlencode.models.vit.VisionTower`.
    text_encoder
        ``embeddings.{word_embeddings,position_embeddings,LayerNorm}`` and ``encoder.layer.<i>``; layers from
        ``fusion_layer`` on hold ``crossattention`` (key and value read the image width).
    vision_proj, text_proj, itm_head
        ``Linear(vision width, embed_dim)``, ``Linear(width, embed_dim)``, ``Linear(width, 2)``.
    """

    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config
        self.visual_encoder = VisionTower(config.vision)
        self.text_encoder = _TextEncoder(config)
        self.vision_proj = nn.Linear(config.vision.width, config.embed_dim)
        self.text_proj = nn.Linear(config.width, config.embed_dim)
        self.itm_head = nn.Linear(config.width, 2)

    def image_states(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The image encoder's hidden states ``[embeddings, block 1, ..., block L]``, each ``[b, 1 + P, vw]``.

        Source: salesforce/ALBEF and salesforce/BLIP ``models/vit.py`` ``VisionTransformer.forward`` (before its
        final norm).
        """
        return self.visual_encoder(pixels)

    def image_normed(self, states: list[torch.Tensor]) -> torch.Tensor:
        """``[b, 1 + P, vw]``: the last state after the final LayerNorm, what ``visual_encoder(image)`` returns in
        both releases and what cross-attention attends to.

        Source: salesforce/ALBEF and salesforce/BLIP ``models/vit.py`` ``VisionTransformer.forward`` (``self.norm``).
        """
        return self.visual_encoder.normed(states[-1])

    def _mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # xbert.py / med.py get_extended_attention_mask: [b, 1, 1, T], 0 where attended, -10000 on padding
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * _MASKED

    def text_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """The text-only stream: ``[embeddings, layer 1, ..., layer fusion_layer]``, each ``[b, T, width]``.

        ALBEF gives 7 states (its unimodal text encoder, ``mode='text'``); BLIP (``fusion_layer`` 0) gives only the
        embeddings, which :meth:`fusion_states` continues.

        Parameters
        ----------
        input_ids
            ``[b, T]`` token ids (BLIP's image-grounded stream: pass :meth:`multimodal_input_ids`).
        attention_mask
            ``[b, T]``, 1 on tokens and 0 on padding.

        Source: salesforce/ALBEF ``models/xbert.py`` ``BertModel.forward`` with ``mode='text'``; salesforce/BLIP
        ``models/med.py`` ``BertEmbeddings``.
        """
        x = self.text_encoder.embeddings(input_ids)
        mask = self._mask(attention_mask, x.dtype)
        states = [x]
        for layer in self.text_encoder.encoder.layer[: self.config.fusion_layer]:
            x = layer(x, mask)
            states.append(x)
        return states

    def fusion_states(
        self, text_last: torch.Tensor, attention_mask: torch.Tensor, image: torch.Tensor
    ) -> list[torch.Tensor]:
        """Layers ``fusion_layer + 1 .. layers``, each ``[b, T, width]``: self-attention over the text (padding
        masked), cross-attention to every image token, feed-forward.

        Parameters
        ----------
        text_last
            ``[b, T, width]``, the last of :meth:`text_states`.
        attention_mask
            ``[b, T]``, as given to :meth:`text_states`.
        image
            ``[b, 1 + P, vw]``, :meth:`image_normed`.

        Source: salesforce/ALBEF ``models/xbert.py`` ``BertEncoder.forward`` with ``mode='fusion'``; salesforce/BLIP
        ``models/med.py`` ``BertLayer.forward`` with ``mode='multimodal'``.
        """
        x, mask = text_last, self._mask(attention_mask, text_last.dtype)
        states = []
        for layer in self.text_encoder.encoder.layer[self.config.fusion_layer :]:
            x = layer(x, mask, image)
            states.append(x)
        return states

    def multimodal_input_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[b, T]``: ``enc_token_id`` in place of the first token when set (BLIP's ``[ENC]``), else the input.

        Source: salesforce/BLIP ``models/blip_pretrain.py`` (``encoder_input_ids[:,0] = self.tokenizer.enc_token_id``);
        LAVIS ``blip_feature_extractor.py``.
        """
        if self.config.enc_token_id is None:
            return input_ids
        ids = input_ids.clone()
        ids[:, 0] = self.config.enc_token_id
        return ids

    def init_weights(self) -> None:
        """The releases' initialisation from scratch.

        The text encoder by BERT's ``_init_weights`` (xbert.py / med.py ``BertPreTrainedModel``): Linear and Embedding
        weights normal (std 0.02), zero biases, unit LayerNorms.  The image encoder by timm's ViT initialisation
        (:meth:`VisionTower.init_weights`).  ``vision_proj``, ``text_proj`` and ``itm_head`` are plain ``nn.Linear``
        in both releases (ALBEF ``model_pretrain.py``, BLIP ``blip_pretrain.py``), outside any BERT module, so they
        keep torch's default draw.
        """
        self.visual_encoder.init_weights()
        for module in self.text_encoder.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for head in (self.vision_proj, self.text_proj, self.itm_head):
            head.reset_parameters()


def build_fusion(config: FusionConfig, seed: int) -> FusionModel:
    """A randomly initialised :class:`FusionModel` (:meth:`FusionModel.init_weights`), the same for the same seed,
    in eval mode; the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FusionModel(config)
        model.init_weights()
    return model.eval()


def _heads(path: str | os.PathLike, width: int) -> int:
    # Heads leave no trace in the weights' shapes; every ALBEF and BLIP tower has 64-wide heads.
    if width % HEAD_WIDTH:
        raise CheckpointError(f"{path}: a tower of width {width} is not a release's (heads of width {HEAD_WIDTH})")
    return width // HEAD_WIDTH


def _count(weights: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for name in weights if (m := re.match(pattern, name))})


def _config_from_weights(
    path: str | os.PathLike, weights: Mapping[str, torch.Tensor], image_size: int, enc_token: bool
) -> FusionConfig:
    """The shapes of a converted state dict; ``fusion_layer`` is the first layer holding ``crossattention``."""
    try:
        return _shapes(path, weights, image_size, enc_token)
    except KeyError as error:
        raise CheckpointError(f"{path}: has no {error.args[0]}; is it the right release file?") from None


def _shapes(
    path: str | os.PathLike, weights: Mapping[str, torch.Tensor], image_size: int, enc_token: bool
) -> FusionConfig:
    patch = weights["visual_encoder.patch_embed.proj.weight"].shape[-1]
    if image_size % patch:
        raise CheckpointError(f"{path}: image_size {image_size} is not a multiple of the patch size {patch}")
    vision_width = weights["visual_encoder.cls_token"].shape[-1]
    vision = ViTConfig(
        image_size=image_size,
        patch_size=patch,
        width=vision_width,
        layers=len(_count(weights, r"visual_encoder\.blocks\.(\d+)\.")),
        heads=_heads(path, vision_width),
        mlp_ratio=weights["visual_encoder.blocks.0.mlp.fc1.weight"].shape[0] / vision_width,
        eps=1e-6,
    )
    layers = _count(weights, r"text_encoder\.encoder\.layer\.(\d+)\.")
    cross = _count(weights, r"text_encoder\.encoder\.layer\.(\d+)\.crossattention\.")
    if cross != list(range(cross[0] if cross else len(layers), len(layers))):
        raise CheckpointError(
            f"{path}: cross-attention in layers {cross} of {len(layers)}, not in every layer from "
            "one on; is it an ALBEF or BLIP release?"
        )
    words, width = weights["text_encoder.embeddings.word_embeddings.weight"].shape
    return FusionConfig(
        vision=vision,
        vocab_size=words,
        width=width,
        layers=len(layers),
        heads=_heads(path, width),
        intermediate=weights["text_encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_positions=weights["text_encoder.embeddings.position_embeddings.weight"].shape[0],
        fusion_layer=cross[0] if cross else len(layers),
        embed_dim=weights["text_proj.weight"].shape[0],
        enc_token_id=words - 1 if enc_token else None,
    )


def _verified(
    path: str | os.PathLike, config: FusionConfig, weights: dict[str, torch.Tensor]
) -> tuple[FusionConfig, dict[str, torch.Tensor]]:
    """The weights, checked to load into ``FusionModel(config)`` with ``strict=True`` (keys and shapes compared
    against a model built on the meta device, so nothing is allocated)."""
    with torch.device("meta"):
        expected = {name: tensor.shape for name, tensor in FusionModel(config).state_dict().items()}
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    if missing or unexpected:
        found = "; ".join(
            f"{kind} {', '.join(names[:3])}"
            for kind, names in (("missing", missing), ("unexpected", unexpected))
            if names
        )
        raise CheckpointError(
            f"{path}: does not fit the ALBEF/BLIP layout ({len(missing)} missing, {len(unexpected)} "
            f"unexpected keys: {found}); is it the right release file?"
        )
    wrong = [
        f"{name} {tuple(weights[name].shape)} != {tuple(shape)}"
        for name, shape in expected.items()
        if weights[name].shape != shape
    ]
    if wrong:
        raise CheckpointError(
            f"{path}: weights of unexpected shape ({'; '.join(wrong[:3])}); is it the right release file?"
        )
    return config, weights


def _training_state(name: str) -> bool:
    """Momentum copies (``visual_encoder_m.*``, ...), queues, the contrastive temperature and position-id buffers."""
    head = name.split(".", 1)[0]
    return (
        head.endswith("_m")
        or head in {"image_queue", "text_queue", "idx_queue", "queue_ptr", "temp"}
        or name.endswith("embeddings.position_ids")
    )


def _interpolated(weights: dict[str, torch.Tensor], image_size: int) -> None:
    patch = weights["visual_encoder.patch_embed.proj.weight"].shape[-1]
    weights["visual_encoder.pos_embed"] = interpolate_pos_embed(
        weights["visual_encoder.pos_embed"], (image_size // patch) ** 2
    )


def convert_albef(
    path: str | os.PathLike, container: Mapping[str, Any], *, image_size: int = 224, fold_token_type: bool = True
) -> tuple[FusionConfig, dict[str, torch.Tensor]]:
    """An ALBEF release (``ALBEF.pth``, ``{'model', 'optimizer', 'lr_scheduler', 'config', 'epoch'}``) as a
    :class:`FusionModel`'s configuration and state dict.

    The text encoder (``text_encoder.bert.*`` of a ``BertForMaskedLM``) loses its ``bert.`` level and its MLM head
    (``text_encoder.cls.*``); momentum copies, queues and ``temp`` are dropped.  The position embeddings of the image
    are resampled from the file's grid (ALBEF's 14M model was trained at 256 px: 16x16 patches) to ``image_size``
    as ALBEF does (``models/vit.py`` ``interpolate_pos_embed``).  ``fusion_layer`` is the first layer holding
    cross-attention (6, as ``configs/config_bert.json`` sets it; the container's ``config`` names that file rather
    than holding it, and a value it does hold must agree); heads are the releases' (width / 64: 12).

    Parameters
    ----------
    path
        The file, for messages.
    container
        Its content (:func:`~vlencode.models.checkpoints.read_release_checkpoint`).
    image_size
        The input side the network will take (the study: 224).
    fold_token_type
        ``True``: add ``token_type_embeddings[0]`` to every position embedding, which reproduces the ALBEF release
        exactly (xbert.py ``BertEmbeddings`` adds the type-0 row to every token).  ``False``: drop it, which
        reproduces LAVIS's ``albef_feature_extractor`` and so the study (LAVIS ``med_config_albef.json`` sets
        ``add_type_embeddings: false``; ``load_from_pretrained`` loads with ``strict=False``, silently leaving the
        row out).

    Raises
    ------
    CheckpointError
        No ``model`` entry, or weights that do not load into the network with ``strict=True`` (one line naming the
        file and the first missing or unexpected keys).
    """
    weights = {}
    for name, tensor in state_dict_of(path, container, "model").items():
        if _training_state(name) or name.startswith("text_encoder.cls."):
            continue
        weights[name.replace("text_encoder.bert.", "text_encoder.", 1)] = tensor
    token_type = weights.pop("text_encoder.embeddings.token_type_embeddings.weight", None)
    if token_type is None:
        raise CheckpointError(
            f"{path}: has no text_encoder.bert.embeddings.token_type_embeddings; is it an ALBEF "
            "release (BLIP's files convert with convert_blip)?"
        )
    config = _config_from_weights(path, weights, image_size, enc_token=False)
    if fold_token_type:
        weights["text_encoder.embeddings.position_embeddings.weight"] = (
            weights["text_encoder.embeddings.position_embeddings.weight"] + token_type[0]
        )
    _interpolated(weights, image_size)
    _check_fusion_layer(path, container, config)
    return _verified(path, config, weights)


def _check_fusion_layer(path: str | os.PathLike, container: Mapping[str, Any], config: FusionConfig) -> None:
    # The release stores its YAML config, whose bert_config is a file name; a dict there (or a fusion_layer entry)
    # must agree with the layers that hold cross-attention.
    settings = container.get("config")
    if not isinstance(settings, Mapping):
        return
    bert = settings.get("bert_config")
    stated = settings.get("fusion_layer", bert.get("fusion_layer") if isinstance(bert, Mapping) else None)
    if stated is not None and stated != config.fusion_layer:
        raise CheckpointError(
            f"{path}: its config says fusion_layer {stated} but cross-attention starts at layer "
            f"{config.fusion_layer}; is the file complete?"
        )


def convert_blip(
    path: str | os.PathLike, container: Mapping[str, Any], *, image_size: int = 224
) -> tuple[FusionConfig, dict[str, torch.Tensor]]:
    """A BLIP release (``model_base_capfilt_large.pth``, ``{'model', 'optimizer', 'config', 'epoch'}``) as a
    :class:`FusionModel`'s configuration and state dict.

    ``text_decoder.*``, momentum copies, queues and ``temp`` are dropped; the text encoder (a ``BertModel``, no
    ``bert.`` level) keeps its names.  ``fusion_layer`` is 0 (cross-attention in every layer) and ``enc_token_id`` the
    last row of the vocabulary: BLIP's ``init_tokenizer`` (``models/blip.py``) adds ``[DEC]`` and then ``[ENC]`` to
    bert-base-uncased's 30522 tokens and ``blip_pretrain.py`` resizes the embeddings to ``len(tokenizer)``, so
    ``[ENC]`` is 30523 of 30524.  The image position embeddings are resampled if the file's grid differs from
    ``image_size``'s.  Heads are the releases' (width / 64: 12 for BERT-base and ViT-B).

    Raises
    ------
    CheckpointError
        As :func:`convert_albef`.
    """
    weights = {
        name: tensor
        for name, tensor in state_dict_of(path, container, "model").items()
        if not (_training_state(name) or name.startswith("text_decoder."))
    }
    if any(name.startswith("text_encoder.bert.") for name in weights):
        raise CheckpointError(f"{path}: holds text_encoder.bert.*, an ALBEF layout; convert it with convert_albef")
    config = _config_from_weights(path, weights, image_size, enc_token=True)
    if config.fusion_layer:
        raise CheckpointError(
            f"{path}: cross-attention only from layer {config.fusion_layer}, where BLIP's text "
            "encoder has it in every layer; is it a BLIP release?"
        )
    _interpolated(weights, image_size)
    return _verified(path, config, weights)
