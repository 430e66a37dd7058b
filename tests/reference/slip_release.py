"""The SLIP release's networks transcribed in plain torch: the reference vlencode's ``SlipModel`` is tested against.

Sources, transcribed line for line (dropout and drop-path left out: they are identities at inference, and the release
builds its towers with rate 0):

* facebookresearch/SLIP ``models.py`` at c6faf5d03cbfa7d529d210779f859cd3dddec09a (the text tower, ``CLIP``,
  ``SIMCLR``, ``SLIP`` and the ``*_VIT*16`` factories);
* timm ``timm/models/vision_transformer.py`` and ``timm/models/layers/{patch_embed,mlp}.py`` at
  93901e992f7bcb6bdb46729a307f67e39dd9b5fd (huggingface/pytorch-image-models, "Version bump to 0.5.0": the release
  says it was tested with timm 0.5.0), whose ``VisionTransformer`` salesforce/ALBEF ``models/vit.py`` at
  b9727e43c3040491774d1b22cc27718aa7772fac copies.

This module must not import vlencode: it is what vlencode is checked against.  It is also where the synthetic release
checkpoints of ``tests/test_release_slip.py`` take their keys and shapes from.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial

import numpy as np
import torch
from torch import nn

# ---------------------------------------------------------------------------------------------------------------------
# timm's Vision Transformer, as ``timm.create_model('vit_base_patch16_224', num_classes=0)`` builds it.
# ---------------------------------------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """timm ``layers/patch_embed.py`` L15-39 (93901e99): conv, flatten, ``norm`` an identity."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        B, C, H, W = x.shape
        assert H == self.img_size[0] and W == self.img_size[1]
        x = self.proj(x)
        x = x.flatten(2).transpose(1, 2)  # BCHW -> BNC
        return x


class Mlp(nn.Module):
    """ALBEF ``models/vit.py`` L11-29; timm ``layers/mlp.py`` L8-26: ``fc2(GELU(fc1(x)))``, exact GELU."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        x = self.fc1(x)
        x = self.act(x)
        x = self.fc2(x)
        return x


class Attention(nn.Module):
    """ALBEF ``models/vit.py`` L32-74; timm ``vision_transformer.py`` L178-202: explicit ``softmax(q k' scale) v``."""

    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]

        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)

        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        x = self.proj(x)
        return x


class Block(nn.Module):
    """ALBEF ``models/vit.py`` L77-94; timm ``vision_transformer.py`` L205-221: pre-norm residual block."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = norm_layer(dim)
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.mlp = Mlp(in_features=dim, hidden_features=mlp_hidden_dim, act_layer=act_layer)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


def _init_vit_weights(module):
    """timm ``vision_transformer.py`` L366-398 (93901e99), its non-jax branch; ALBEF ``models/vit.py`` L147-154."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.zeros_(module.bias)
        nn.init.ones_(module.weight)


class VisionTransformer(nn.Module):
    """timm ``vision_transformer.py`` L224-363 (93901e99) with ``num_classes=0``: ``head`` and ``pre_logits`` are
    identities, so ``forward`` is ``forward_features``: the class token of ``norm(x)`` (L337-350).

    ALBEF's copy (``models/vit.py`` L97-174) is the same network; its ``forward`` returns the whole normed sequence
    instead of ``x[:, 0]``.
    """

    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_chans=3,
        num_classes=0,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        norm_layer=None,
    ):
        super().__init__()
        assert num_classes == 0, "the SLIP release builds its towers with num_classes=0"
        self.num_features = self.embed_dim = embed_dim
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=1e-6)

        self.patch_embed = PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        num_patches = self.patch_embed.num_patches

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.blocks = nn.Sequential(
            *[
                Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_layer=norm_layer)
                for _ in range(depth)
            ]
        )
        self.norm = norm_layer(embed_dim)
        self.pre_logits = nn.Identity()
        self.head = nn.Identity()

        # init_weights(mode=''), L300-311
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_vit_weights)

    def forward_features(self, x):
        x = self.patch_embed(x)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, x), dim=1)
        x = x + self.pos_embed
        x = self.blocks(x)
        x = self.norm(x)
        return self.pre_logits(x[:, 0])

    def forward(self, x):
        x = self.forward_features(x)
        x = self.head(x)
        return x


# ---------------------------------------------------------------------------------------------------------------------
# SLIP models.py
# ---------------------------------------------------------------------------------------------------------------------


class LayerNorm(nn.LayerNorm):
    """SLIP ``models.py`` L18-24: torch's LayerNorm computed in float32."""

    def forward(self, x: torch.Tensor):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    """SLIP ``models.py`` L27-29."""

    def forward(self, x: torch.Tensor):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """SLIP ``models.py`` L32-53: torch's ``nn.MultiheadAttention`` (sequence-first) with an additive mask."""

    def __init__(self, d_model: int, n_head: int, attn_mask: torch.Tensor = None):
        super().__init__()

        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(d_model, d_model * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(d_model * 4, d_model)),
                ]
            )
        )
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x: torch.Tensor):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]

    def forward(self, x: torch.Tensor):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    """SLIP ``models.py`` L56-64."""

    def __init__(self, width: int, layers: int, heads: int, attn_mask: torch.Tensor = None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor):
        return self.resblocks(x)


class CLIP(nn.Module):
    """SLIP ``models.py`` L67-156."""

    def __init__(
        self,
        embed_dim: int,
        vision_width: int,
        vision_model: nn.Module,
        context_length: int,
        vocab_size: int,
        transformer_width: int,
        transformer_heads: int,
        transformer_layers: int,
        **kwargs,
    ):
        super().__init__()

        self.context_length = context_length
        self.vision_width = vision_width

        self.visual = vision_model

        self.transformer = Transformer(
            width=transformer_width,
            layers=transformer_layers,
            heads=transformer_heads,
            attn_mask=self.build_attention_mask(),
        )

        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(self.context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)

        self.image_projection = nn.Parameter(torch.empty(vision_width, embed_dim))
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))

        self.initialize_parameters()

    def initialize_parameters(self):
        """L106-120."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)

        proj_std = (self.transformer.width**-0.5) * ((2 * self.transformer.layers) ** -0.5)
        attn_std = self.transformer.width**-0.5
        fc_std = (2 * self.transformer.width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

        nn.init.normal_(self.image_projection, std=self.vision_width**-0.5)
        nn.init.normal_(self.text_projection, std=self.transformer.width**-0.5)

    def build_attention_mask(self):
        """L122-128: additive causal mask, -inf above the diagonal."""
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float("-inf"))
        mask.triu_(1)  # zero out the lower diagonal
        return mask

    def encode_image(self, image):
        """L130-134."""
        x = self.visual(image)
        x = x @ self.image_projection

        return x

    def encode_text(self, text):
        """L136-148: ``text`` is ``[batch, context_length]``, zero-padded; read at ``text.argmax(-1)``."""
        x = self.token_embedding(text)  # [batch_size, n_ctx, d_model]
        x = x + self.positional_embedding
        x = x.permute(1, 0, 2)  # NLD -> LND
        x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_final(x)

        # take features from the eot embedding (eot_token is the highest number in each sequence)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

        return x


def _build_mlp(in_dim, mlp_dim, out_dim):
    """SLIP ``models.py`` L176-185 and L213-222 (``SIMCLR._build_mlp``, ``SLIP._build_mlp``).

    ``nn.BatchNorm1d`` for ``nn.SyncBatchNorm``, which needs a process group to run and is BatchNorm1d in eval mode.
    """
    return nn.Sequential(
        OrderedDict(
            [
                ("layer1", nn.Linear(in_dim, mlp_dim)),
                ("bn1", nn.BatchNorm1d(mlp_dim)),
                ("relu1", nn.ReLU(inplace=True)),
                ("layer2", nn.Linear(mlp_dim, mlp_dim)),
                ("bn2", nn.BatchNorm1d(mlp_dim)),
                ("relu2", nn.ReLU(inplace=True)),
                ("layer3", nn.Linear(mlp_dim, out_dim)),
            ]
        )
    )


class SIMCLR(nn.Module):
    """SLIP ``models.py`` L159-200."""

    def __init__(self, vision_width: int, vision_model: nn.Module, ssl_mlp_dim: int, ssl_emb_dim: int, **kwargs):
        super().__init__()

        self.vision_width = vision_width
        self.visual = vision_model

        self.image_mlp = _build_mlp(in_dim=vision_width, mlp_dim=ssl_mlp_dim, out_dim=ssl_emb_dim)

    def encode_image(self, image):
        x = self.visual(image)

        return x


class SLIP(CLIP):
    """SLIP ``models.py`` L203-235."""

    def __init__(self, ssl_mlp_dim: int, ssl_emb_dim: int, **kwargs):
        super().__init__(**kwargs)

        self.image_mlp = _build_mlp(in_dim=self.vision_width, mlp_dim=ssl_mlp_dim, out_dim=ssl_emb_dim)


# ---------------------------------------------------------------------------------------------------------------------
# Factories: SLIP models.py L265-331, with the sizes as arguments for small synthetic checkpoints.
# ---------------------------------------------------------------------------------------------------------------------

#: ``--ssl-mlp-dim`` and ``--ssl-emb-dim`` defaults of SLIP ``main.py`` L44-47.
SSL_MLP_DIM, SSL_EMB_DIM = 4096, 256

#: Image towers by the suffix of the release's model names: (width, depth, heads), patch 16, 224 px
#: (``vit_small_mocov3_patch16_224`` L257-262, ``vit_base_patch16_224``, ``vit_large_patch16_224``).
TOWERS = {"VITS16": (384, 12, 12), "VITB16": (768, 12, 12), "VITL16": (1024, 24, 16)}


def build(
    variant,
    *,
    img_size=224,
    patch_size=16,
    vision_width=768,
    vision_layers=12,
    vision_heads=12,
    embed_dim=512,
    context_length=77,
    vocab_size=49408,
    text_width=512,
    text_heads=8,
    text_layers=12,
    ssl_mlp_dim=SSL_MLP_DIM,
    ssl_emb_dim=SSL_EMB_DIM,
):
    """The release's ``SIMCLR``, ``CLIP`` or ``SLIP`` (variant ``simclr``, ``clip``, ``slip``), eval mode.

    The defaults are ``SLIP_VITB16`` (L303-308): ``timm.create_model('vit_base_patch16_224', num_classes=0)``,
    ``embed_dim=512``, ``context_length=77``, ``vocab_size=49408``, text width 512, 8 heads, 12 layers.
    """
    vision_model = VisionTransformer(
        img_size=img_size,
        patch_size=patch_size,
        embed_dim=vision_width,
        depth=vision_layers,
        num_heads=vision_heads,
        num_classes=0,
    )
    text = dict(
        embed_dim=embed_dim,
        context_length=context_length,
        vocab_size=vocab_size,
        transformer_width=text_width,
        transformer_heads=text_heads,
        transformer_layers=text_layers,
    )
    if variant == "simclr":
        model = SIMCLR(
            vision_width=vision_width, vision_model=vision_model, ssl_mlp_dim=ssl_mlp_dim, ssl_emb_dim=ssl_emb_dim
        )
    elif variant == "clip":
        model = CLIP(vision_width=vision_width, vision_model=vision_model, **text)
    elif variant == "slip":
        model = SLIP(
            vision_width=vision_width,
            vision_model=vision_model,
            ssl_mlp_dim=ssl_mlp_dim,
            ssl_emb_dim=ssl_emb_dim,
            **text,
        )
    else:
        raise ValueError(variant)
    return model.eval()


def build_release(name, **ssl):
    """One of the release's nine models by its name (``SLIP_VITB16``, ...), ``SLIP models.py`` L265-331."""
    prefix, tower = name.split("_")
    width, layers, heads = TOWERS[tower]
    return build(prefix.lower(), vision_width=width, vision_layers=layers, vision_heads=heads, **ssl)


# ---------------------------------------------------------------------------------------------------------------------
# The release's forward, with every hidden state recorded.
# ---------------------------------------------------------------------------------------------------------------------


def image_forward(model, image):
    """``visual(image)`` and the hidden states ``[embeddings, block 1..L]`` (forward hooks, the forward unchanged)."""
    states = []
    blocks = model.visual.blocks
    hooks = [blocks[0].register_forward_pre_hook(lambda module, args: states.append(args[0]))]
    hooks += [block.register_forward_hook(lambda module, args, out: states.append(out)) for block in blocks]
    try:
        output = model.visual(image)
    finally:
        for hook in hooks:
            hook.remove()
    return output, states


def text_forward(model, text):
    """``encode_text(text)``, the hidden states ``[embeddings, block 1..L]`` as ``[b, 77, w]`` (batch first), the
    ``ln_final`` output and the release's read of it at ``text.argmax(-1)``, before the projection."""
    states, finals = [], []
    blocks = model.transformer.resblocks
    hooks = [blocks[0].register_forward_pre_hook(lambda module, args: states.append(args[0].permute(1, 0, 2)))]
    hooks += [
        block.register_forward_hook(lambda module, args, out: states.append(out.permute(1, 0, 2))) for block in blocks
    ]
    hooks.append(model.ln_final.register_forward_hook(lambda module, args, out: finals.append(out)))
    try:
        embed = model.encode_text(text)
    finally:
        for hook in hooks:
            hook.remove()
    final = finals[0]
    return embed, states, final, final[torch.arange(final.shape[0]), text.argmax(dim=-1)]


def image_mlp(model, output):
    """The SimCLR head as the release applies it (``SIMCLR.forward`` L196, ``SLIP.forward`` L225), eval mode."""
    return model.image_mlp(output)
