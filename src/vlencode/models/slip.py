"""The SLIP release's networks (Mu et al. 2022): SimCLR, CLIP and SLIP with a ViT image tower, in its parameter layout.

The release (facebookresearch/SLIP ``models.py``) trains three objectives on one architecture: ``SIMCLR`` (the image
tower and a three-layer projection MLP), ``CLIP`` (image and text towers and two linear projections into a joint space)
and ``SLIP`` (both).  The image tower is timm's ``vit_base_patch16_224(num_classes=0)``
(:class:`~vlencode.models.vit.VisionTower`, one class for all three, so the SimCLR/SLIP pair differs in weights only);
the text tower is OpenAI CLIP's causal transformer.  :class:`SlipModel` names its attributes as the release does, so a
release state dict (without DistributedDataParallel's ``module.`` prefix) loads with ``strict=True`` and no key map.

Source: Mu et al. 2022 (ECCV), facebookresearch/SLIP ``models.py``; Radford et al. 2021, openai/CLIP ``model.py``.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vlencode.models.checkpoints import CheckpointError, state_dict_of
from vlencode.models.vit import VisionTower, ViTConfig

NETWORK_TYPE = "slip"
VARIANTS = ("simclr", "clip", "slip")

#: The release's image towers by the suffix of its model names (``SLIP_VITB16``): timm's
#: ``vit_small_mocov3_patch16_224`` (12 heads, not timm's 6), ``vit_base_patch16_224`` and ``vit_large_patch16_224``.
RELEASE_TOWERS = {
    "VITS16": ViTConfig(width=384, layers=12, heads=12),
    "VITB16": ViTConfig(width=768, layers=12, heads=12),
    "VITL16": ViTConfig(width=1024, layers=24, heads=16),
}

#: The text tower's LayerNorm epsilon: the release's ``LayerNorm`` is torch's, with its default (the ViT's is 1e-6).
TEXT_EPS = 1e-5


@dataclass(frozen=True)
class SlipConfig:
    """Shape of a SLIP-release network; the defaults are the release's ViT-B/16 models (``*_VITB16``).

    Attributes
    ----------
    variant
        ``simclr`` (image tower and SimCLR head), ``clip`` (image and text towers and projections) or ``slip`` (all).
    vision
        The image tower (ViT-B/16: 224 px, patch 16, width 768, 12 layers, 12 heads, LayerNorm eps 1e-6).
    embed_dim
        Width of the joint image-text space.
    context_length, vocab_size, text_width, text_heads, text_layers
        The text tower (77 tokens, 49408 BPE ids, width 512, 8 heads, 12 layers in every release model).
    ssl_mlp_dim, ssl_emb_dim
        Hidden and output width of the SimCLR head (``--ssl-mlp-dim``, ``--ssl-emb-dim``: 4096, 256).
    """

    variant: str
    vision: ViTConfig = field(default_factory=ViTConfig)
    embed_dim: int = 512
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12
    ssl_mlp_dim: int = 4096
    ssl_emb_dim: int = 256

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"SLIP variant {self.variant!r} is not one of {', '.join(VARIANTS)}")

    @property
    def has_text(self) -> bool:
        return self.variant in ("clip", "slip")

    @property
    def has_head(self) -> bool:
        return self.variant in ("simclr", "slip")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlipConfig:
        data = dict(data)
        vision = data.pop("vision", None)
        return cls(**data, vision=ViTConfig.from_dict(vision) if vision is not None else ViTConfig())


class TextAttention(nn.Module):
    """Causal multi-head self-attention holding ``nn.MultiheadAttention``'s parameters.

    ``in_proj_weight`` rows are query, key and value in thirds and ``out_proj`` the output Linear, as torch's module
    stores them; the computation is the release's ``attn(x, x, x, attn_mask=build_attention_mask())`` (each token sees
    itself and the tokens before it).
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (
            F.linear(x, self.in_proj_weight, self.in_proj_bias)
            .reshape(b, t, 3, self.heads, c // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, c))


class TextMlp(nn.Module):
    """``c_proj(QuickGELU(c_fc(x)))``; QuickGELU is ``x * sigmoid(1.702 x)`` (OpenAI CLIP's GELU approximation)."""

    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_fc(x)
        return self.c_proj(x * torch.sigmoid(1.702 * x))


class TextBlock(nn.Module):
    """The release's ``ResidualAttentionBlock``: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = TextAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=TEXT_EPS)
        self.mlp = TextMlp(width)
        self.ln_2 = nn.LayerNorm(width, eps=TEXT_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    """The release's ``Transformer``: ``resblocks``, run one by one by :meth:`SlipModel.text_states`."""

    def __init__(self, width: int, layers: int, heads: int):
        super().__init__()
        self.resblocks = nn.ModuleList(TextBlock(width, heads) for _ in range(layers))

    def blocks(self) -> list[TextBlock]:
        """``resblocks`` in order, typed (``nn.ModuleList`` yields plain modules)."""
        blocks = []
        for block in self.resblocks:
            if not isinstance(block, TextBlock):
                raise TypeError(f"text transformer block is a {type(block).__name__}, not a TextBlock")
            blocks.append(block)
        return blocks


class SslMlp(nn.Sequential):
    """The release's SimCLR head, its layers named (and so typed) as its state dict names them."""

    layer1: nn.Linear
    bn1: nn.BatchNorm1d
    layer2: nn.Linear
    bn2: nn.BatchNorm1d
    layer3: nn.Linear


def _ssl_mlp(in_dim: int, mlp_dim: int, out_dim: int) -> SslMlp:
    # BatchNorm1d for the release's SyncBatchNorm: the same parameters and buffers, and the same eval-mode function.
    return SslMlp(
        OrderedDict(
            [
                ("layer1", nn.Linear(in_dim, mlp_dim)),
                ("bn1", nn.BatchNorm1d(mlp_dim)),
                ("relu1", nn.ReLU()),
                ("layer2", nn.Linear(mlp_dim, mlp_dim)),
                ("bn2", nn.BatchNorm1d(mlp_dim)),
                ("relu2", nn.ReLU()),
                ("layer3", nn.Linear(mlp_dim, out_dim)),
            ]
        )
    )


def _frozen_bn(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)


class SlipModel(nn.Module):
    """The release's ``SIMCLR``, ``CLIP`` or ``SLIP`` module, split into the steps whose outputs are features.

    Attributes are named as the release's (``visual``; ``transformer.resblocks``, ``token_embedding``,
    ``positional_embedding``, ``ln_final``, ``image_projection``, ``text_projection``, ``logit_scale`` for clip and
    slip; ``image_mlp`` for simclr and slip), so a release state dict loads with ``strict=True``.  Parameters start at
    zeros or torch's defaults; :func:`build_slip` gives the release's random initialisation.
    """

    def __init__(self, config: SlipConfig):
        super().__init__()
        self.config = config
        self.visual = VisionTower(config.vision)
        if config.has_text:
            self.transformer = TextTransformer(config.text_width, config.text_layers, config.text_heads)
            self.token_embedding = nn.Embedding(config.vocab_size, config.text_width)
            self.positional_embedding = nn.Parameter(torch.zeros(config.context_length, config.text_width))
            self.ln_final = nn.LayerNorm(config.text_width, eps=TEXT_EPS)
            self.image_projection = nn.Parameter(torch.zeros(config.vision.width, config.embed_dim))
            self.text_projection = nn.Parameter(torch.zeros(config.text_width, config.embed_dim))
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        if config.has_head:
            self.image_mlp = _ssl_mlp(config.vision.width, config.ssl_mlp_dim, config.ssl_emb_dim)

    def image_states(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states of the image tower (timm ``VisionTransformer.forward_features`` before its final norm).

        Parameters
        ----------
        pixels
            ``[b, 3, s, s]`` normalised images, ``s`` the tower's ``image_size``.

        Returns
        -------
        list of torch.Tensor
            ``[embeddings, block 1, ..., block L]``, each ``[b, 1 + n_patches, width]``.
        """
        return self.visual(pixels)

    def image_output(self, states: list[torch.Tensor]) -> torch.Tensor:
        """``[b, width]``: the class token after the final LayerNorm, the release's ``visual(image)``.

        Source: timm ``VisionTransformer.forward_features`` (``norm(x)``, then ``pre_logits(x[:, 0])``, an identity).
        """
        return self.visual.output(states[-1])

    def image_embed(self, output: torch.Tensor) -> torch.Tensor:
        """``[b, embed_dim]``: ``output @ image_projection`` (SLIP ``models.py`` ``CLIP.encode_image``)."""
        self._need("image_embed", self.config.has_text)
        return output @ self.image_projection

    def image_head(self, output: torch.Tensor) -> torch.Tensor:
        """``[b, ssl_emb_dim]``: the SimCLR head ``image_mlp(output)`` (SLIP ``models.py`` ``SIMCLR._build_mlp``).

        The batch norms use their running statistics whatever the module's mode, so the features of an image do not
        depend on the batch it is in.
        """
        self._need("image_head", self.config.has_head)
        mlp = self.image_mlp
        x = F.relu(_frozen_bn(mlp.bn1, mlp.layer1(output)))
        x = F.relu(_frozen_bn(mlp.bn2, mlp.layer2(x)))
        return mlp.layer3(x)

    def text_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states of the text tower (SLIP ``models.py`` ``CLIP.encode_text`` up to ``ln_final``).

        The release runs every text at 77 tokens, zero-padded; attention is causal, so a token's states depend on the
        tokens before it only and a shorter right-padded batch gives the release's states at every real token.

        Parameters
        ----------
        input_ids
            ``[b, T]`` BPE ids, ``T <= context_length``, each text ``<start> ... <end>`` and right-padded.
        attention_mask
            ``[b, T]``, 1 at real tokens then 0 (checked: left padding would change the states).

        Returns
        -------
        list of torch.Tensor
            ``[token + positional embeddings, block 1, ..., block L]``, each ``[b, T, text_width]``.
        """
        self._need("text_states", self.config.has_text)
        length = input_ids.shape[-1]
        if length > self.config.context_length:
            raise ValueError(f"texts of {length} tokens exceed the SLIP text tower's {self.config.context_length}")
        if (attention_mask[:, 1:] > attention_mask[:, :-1]).any():
            raise ValueError("SLIP texts must be right-padded (attention mask 1 ... 1 0 ... 0)")
        x = self.token_embedding(input_ids) + self.positional_embedding[:length]
        states = [x]
        for block in self.transformer.blocks():
            x = block(x)
            states.append(x)
        return states

    def text_final(self, states: list[torch.Tensor]) -> torch.Tensor:
        """``[b, T, text_width]``: ``ln_final`` of the last hidden state."""
        self._need("text_final", self.config.has_text)
        return self.ln_final(states[-1])

    def text_output(self, final: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[b, text_width]``: ``final`` at each text's last real token, its end-of-text token.

        The release reads ``text.argmax(-1)``, the end-of-text id (49407) being the largest; the two agree whenever a
        text ends with it (the release's tokenizer drops it from texts over 76 tokens).
        """
        positions = torch.arange(final.shape[1], device=final.device)
        last = (positions * (attention_mask > 0)).argmax(-1)
        return final[torch.arange(final.shape[0], device=final.device), last]

    def text_embed(self, output: torch.Tensor) -> torch.Tensor:
        """``[b, embed_dim]``: ``output @ text_projection`` (SLIP ``models.py`` ``CLIP.encode_text``)."""
        self._need("text_embed", self.config.has_text)
        return output @ self.text_projection

    def init_weights(self) -> None:
        """The release's random initialisation (SLIP ``models.py`` ``CLIP.initialize_parameters``; timm's ViT init).

        Text tower: token embeddings N(0, 0.02), positional N(0, 0.01), ``in_proj_weight`` N(0, width^-1/2),
        ``out_proj`` and ``c_proj`` weights N(0, width^-1/2 (2 layers)^-1/2), ``c_fc`` weights N(0, (2 width)^-1/2);
        attention biases zero (``nn.MultiheadAttention``'s reset) and MLP biases torch's default (the release leaves
        them); projections N(0, in_width^-1/2); ``logit_scale`` log(1/0.07); unit LayerNorms.  Image tower:
        :meth:`~vlencode.models.vit.VisionTower.init_weights`.  SimCLR head: torch's defaults.
        """
        config = self.config
        self.visual.init_weights()
        if config.has_text:
            width = config.text_width
            proj_std = width**-0.5 * (2 * config.text_layers) ** -0.5
            nn.init.normal_(self.token_embedding.weight, std=0.02)
            nn.init.normal_(self.positional_embedding, std=0.01)
            for block in self.transformer.blocks():
                nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
                nn.init.zeros_(block.attn.in_proj_bias)
                nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
                nn.init.zeros_(block.attn.out_proj.bias)
                block.mlp.c_fc.reset_parameters()
                block.mlp.c_proj.reset_parameters()
                nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
                nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
                for norm in (block.ln_1, block.ln_2):
                    norm.reset_parameters()
            self.ln_final.reset_parameters()
            nn.init.normal_(self.image_projection, std=config.vision.width**-0.5)
            nn.init.normal_(self.text_projection, std=width**-0.5)
            nn.init.constant_(self.logit_scale, math.log(1 / 0.07))
        if config.has_head:
            for module in self.image_mlp:
                if isinstance(module, nn.Linear | nn.BatchNorm1d):
                    module.reset_parameters()

    def _need(self, method: str, available: bool) -> None:
        if not available:
            raise ValueError(f"{method}: the {self.config.variant} network of the SLIP release has no such part")


def build_slip(config: SlipConfig, seed: int) -> SlipModel:
    """A randomly initialised network (:meth:`SlipModel.init_weights`) in eval mode; the caller's RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SlipModel(config)
        model.init_weights()
    return model.eval()


def _release_config(
    path: str | os.PathLike,
    container: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    config: SlipConfig | None,
) -> SlipConfig:
    args = container.get("args")
    model = args.get("model") if isinstance(args, Mapping) else getattr(args, "model", None)
    if not isinstance(model, str) or "_" not in model:
        raise CheckpointError(
            f"{path}: its 'args' names no SLIP model (args.model = {model!r}); is it a checkpoint "
            "of the SLIP release (slip_base_25ep.pt, ...)?"
        )
    prefix, tower = model.split("_", 1)
    variant = prefix.lower()
    if variant not in VARIANTS:
        raise CheckpointError(f"{path}: args.model {model!r} is not a SIMCLR_, CLIP_ or SLIP_ model of the release")
    if config is not None:
        if config.variant != variant:
            raise CheckpointError(f"{path}: holds a {model} network but the given configuration is {config.variant}")
        return config
    if tower not in RELEASE_TOWERS:
        # Widths and depths could be read off the weights, head counts cannot: those need the release's name.
        raise CheckpointError(
            f"{path}: args.model {model!r} is not one of the release's towers "
            f"({', '.join(RELEASE_TOWERS)}); pass its configuration (convert_slip(config=...))"
        )
    release = SlipConfig(variant=variant, vision=RELEASE_TOWERS[tower])
    if variant == "clip":
        return release
    widths = [
        _head_width(args, weights, name, key, default)
        for name, key, default in (
            ("ssl_mlp_dim", "image_mlp.layer1.weight", release.ssl_mlp_dim),
            ("ssl_emb_dim", "image_mlp.layer3.weight", release.ssl_emb_dim),
        )
    ]
    return replace(release, ssl_mlp_dim=widths[0], ssl_emb_dim=widths[1])


def _head_width(args: Any, weights: Mapping[str, torch.Tensor], name: str, key: str, default: int) -> int:
    """A SimCLR head width: the checkpoint's ``args.<name>``, else the width of weight ``key``, else ``default``."""
    value = args.get(name) if isinstance(args, Mapping) else getattr(args, name, None)
    if value is not None:
        return int(value)
    return int(weights[key].shape[0]) if key in weights else default


def convert_slip(
    path: str | os.PathLike, container: Mapping[str, Any], *, config: SlipConfig | None = None
) -> tuple[SlipConfig, dict[str, torch.Tensor]]:
    """The configuration and weights of a SLIP-release checkpoint, checked against :class:`SlipModel`.

    Parameters
    ----------
    path
        The release file (for messages).
    container
        Its loaded top-level dictionary (:func:`~vlencode.models.checkpoints.read_release_checkpoint`):
        ``{'state_dict', 'args', 'epoch', 'optimizer', 'scaler', 'best_acc1'}`` as the release's ``main.py`` saves it.
    config
        The configuration, for a checkpoint whose ``args.model`` is not one of the release's nine names
        (``{SIMCLR,CLIP,SLIP}_VIT{S,B,L}16``): head counts cannot be read off the weights.  Its variant must match
        ``args.model``'s prefix.

    Returns
    -------
    SlipConfig, dict
        The variant and tower from ``args.model``, the SimCLR head's widths from ``args.ssl_mlp_dim`` and
        ``args.ssl_emb_dim`` (else the weights' shapes); the state dict without ``module.`` prefixes.

    Raises
    ------
    CheckpointError
        No ``state_dict`` or ``args.model``, an unknown model name, or weights that do not fill :class:`SlipModel`
        exactly (missing, unexpected or misshapen keys, the first few named).
    """
    weights = state_dict_of(path, container, "state_dict")
    config = _release_config(path, container, weights, config)
    with torch.device("meta"):
        model = SlipModel(config)
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    misshapen = [
        f"{key} {tuple(weights[key].shape)} (expected {tuple(tensor.shape)})"
        for key, tensor in expected.items()
        if key in weights and weights[key].shape != tensor.shape
    ]
    problems = [
        f"{label} {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''} ({len(keys)})"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen))
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{path}: its weights do not fit the {config.variant} network its args describe: {'; '.join(problems)}"
        )
    model.load_state_dict(weights, strict=True, assign=True)
    return config, weights
