"""The Vision Transformer image tower of the SLIP, ALBEF and BLIP releases, with their parameter layout.

All three releases build their image encoder from timm's ``VisionTransformer`` (SLIP through ``timm.create_model(
'vit_base_patch16_224', num_classes=0)``; ALBEF and BLIP through a copy of it in their ``models/vit.py``): patch
embedding by a strided convolution, a class token, learned position embeddings added with **no LayerNorm before the
blocks**, pre-norm blocks (LayerNorm eps 1e-6, one fused ``qkv`` projection whose output rows are query, key and value
in thirds, exact GELU) and a final LayerNorm.  transformers' ``CLIPVisionModel`` applies a LayerNorm after the
embeddings and so cannot hold these weights; this module keeps the releases' own parameter names (``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``), so a
release's state dict loads into it with ``strict=True`` and no key map.

Source: Dosovitskiy et al. 2021 (ICLR); timm ``vision_transformer.py``; salesforce/ALBEF ``models/vit.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a ViT tower.

    Attributes
    ----------
    image_size
        Input side in pixels (square inputs); the position embeddings cover ``(image_size // patch_size) ** 2 + 1``
        tokens.
    patch_size, width, layers, heads
        Patch side, token width, number of blocks and attention heads (ViT-B/16: 16, 768, 12, 12).
    mlp_ratio
        MLP hidden width over token width (4).
    eps
        LayerNorm epsilon (timm's ViT: 1e-6).
    """

    image_size: int = 224
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    eps: float = 1e-6

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViTConfig:
        return cls(**data)


class PatchEmbed(nn.Module):
    """``[b, 3, s, s]`` pixels -> ``[b, n_patches, width]`` tokens by a convolution with stride = kernel = patch."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, config.width, kernel_size=config.patch_size, stride=config.patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (rows: query, key, value)."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.proj = nn.Linear(config.width, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k' / sqrt(head width)) v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, config: ViTConfig):
        super().__init__()
        hidden = int(config.width * config.mlp_ratio)
        self.fc1 = nn.Linear(config.width, hidden)
        self.fc2 = nn.Linear(hidden, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, eps=config.eps)
        self.attn = Attention(config)
        self.norm2 = nn.LayerNorm(config.width, eps=config.eps)
        self.mlp = Mlp(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTower(nn.Module):
    """timm's ``VisionTransformer`` without its classification head, in the releases' parameter layout.

    :meth:`forward` returns the hidden states; :meth:`output` is the release's ``visual(image)`` of SLIP (the class
    token after the final LayerNorm), :meth:`normed` the sequence ALBEF's and BLIP's ``visual_encoder`` return.
    """

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.n_patches + 1, config.width))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width, eps=config.eps)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states ``[embeddings, block 1, ..., block L]``, each ``[b, 1 + n_patches, width]``.

        Raises
        ------
        ValueError
            Pixels of another size than the tower's ``image_size`` (its position embeddings are fixed).
        """
        if pixels.shape[-1] != self.config.image_size or pixels.shape[-2] != self.config.image_size:
            raise ValueError(
                f"this ViT tower takes {self.config.image_size} px inputs, got "
                f"{tuple(pixels.shape[-2:])}; set the entry's image_size to {self.config.image_size}"
            )
        x = self.patch_embed(pixels)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        states = [x]
        for block in self.blocks:
            x = block(x)
            states.append(x)
        return states

    def normed(self, last: torch.Tensor) -> torch.Tensor:
        """The final LayerNorm over every token of the last hidden state."""
        return self.norm(last)

    def output(self, last: torch.Tensor) -> torch.Tensor:
        """The class token after the final LayerNorm, ``[b, width]``: what the SLIP release's ``visual(image)`` is."""
        return self.norm(last[:, 0])

    def init_weights(self) -> None:
        """timm's ViT initialisation (as ALBEF's ``models/vit.py`` copies it): truncated normal (std 0.02) position
        embeddings, class token and Linear weights, zero biases, unit LayerNorms; the patch convolution keeps torch's
        default draw."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


def interpolate_pos_embed(pos_embed: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Position embeddings trained on another grid, resampled to ``n_patches`` patches as ALBEF and BLIP do.

    The class token's embedding is kept; the patch grid is resized bicubically (``align_corners=False``), as
    ``interpolate_pos_embed`` in salesforce/ALBEF ``models/vit.py`` and LAVIS ``lavis/models/vit.py``.

    Parameters
    ----------
    pos_embed
        ``[1, 1 + g * g, width]`` from a checkpoint.
    n_patches
        The target number of patches, a square.

    Returns
    -------
    torch.Tensor
        ``[1, 1 + n_patches, width]``; the input itself when the grids agree.
    """
    width = pos_embed.shape[-1]
    old = int(math.isqrt(pos_embed.shape[-2] - 1))
    new = int(math.isqrt(n_patches))
    if old * old != pos_embed.shape[-2] - 1 or new * new != n_patches:
        raise ValueError(
            f"position embeddings of {pos_embed.shape[-2]} tokens or {n_patches} patches are not a "
            "class token plus a square grid"
        )
    if old == new:
        return pos_embed
    grid = pos_embed[:, 1:].reshape(-1, old, old, width).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    return torch.cat([pos_embed[:, :1], grid.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)
