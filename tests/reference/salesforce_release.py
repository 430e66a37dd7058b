"""A plain-torch transcription of the ALBEF and BLIP releases' forward passes, the reference vlencode's FusionModel is
tested against; it imports nothing from vlencode.

Sources (commit, file, lines):

- ALBEF: salesforce/ALBEF b9727e43c3040491774d1b22cc27718aa7772fac, ``models/vit.py``, ``models/xbert.py``,
  ``models/model_pretrain.py``, ``Pretrain.py``.
- BLIP: salesforce/BLIP 056a169437371659074aa2732649d5de3bffb4a8, ``models/vit.py``, ``models/med.py``,
  ``models/blip_pretrain.py``, ``models/blip.py``.
- LAVIS (what the study ran): salesforce/LAVIS 506965b9c4a18c1e565bd32acaccabe0198433f7,
  ``lavis/models/med.py``, ``lavis/models/albef_models/albef_feature_extractor.py``,
  ``lavis/models/blip_models/blip_feature_extractor.py``.

Transcribed for inference: dropout, drop-path, gradient checkpointing, head masks, key/value caches, attention maps
and the relative position branch (both releases use absolute positions) are left out, as they do nothing in eval
mode with the releases' configurations.  The module trees are the releases' own, so ``state_dict()`` of
:class:`ALBEFPretrain` and :class:`BLIPPretrain` gives the releases' checkpoint keys and shapes (momentum copies,
queues, masked-LM head and text decoder included; ``position_ids`` buffers too, which the releases register as
persistent).  The hidden-state lists some forwards return are what ``output_hidden_states=True`` collects (BertEncoder)
or are collected for the comparison (the ViT blocks); they change nothing in the computation.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BertConfig:
    """The fields of ALBEF ``configs/config_bert.json`` and BLIP ``configs/med_config.json`` the forward reads."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    encoder_width: int = 768
    fusion_layer: int = 6
    add_cross_attention: bool = True


# --- timm's ViT as copied in ALBEF models/vit.py (BLIP models/vit.py has the same math) ---------------------------


class PatchEmbed(nn.Module):
    """timm ``PatchEmbed`` (imported by ALBEF models/vit.py line 6): a conv of stride = kernel = patch."""

    def __init__(self, img_size: int, patch_size: int, embed_dim: int):
        super().__init__()
        self.img_size, self.num_patches = img_size, (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        assert x.shape[-1] == self.img_size and x.shape[-2] == self.img_size
        return self.proj(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """ALBEF models/vit.py lines 11-29 (``act_layer=nn.GELU``: the exact GELU)."""

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """ALBEF models/vit.py lines 32-74."""

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
        return self.proj(x)


class Block(nn.Module):
    """ALBEF models/vit.py lines 77-94."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, eps=1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class VisionTransformer(nn.Module):
    """ALBEF models/vit.py lines 97-174, as ``model_pretrain.py`` lines 34-36 build it (qkv_bias, LayerNorm eps 1e-6);
    BLIP ``models/blip.py`` ``create_vit`` lines 194-209 builds the same.

    ``forward`` returns ``(x, states)``: the release's output (every token after the final norm) and the states
    ``[embeddings, block 1, ..., block L]`` collected on the way.
    """

    def __init__(
        self, img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, qkv_bias=True, eps=1e-6
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_ratio, qkv_bias, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=eps)

    def forward(self, x):
        B = x.shape[0]
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(B, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embed[:, : x.size(1), :]
        states = [x]
        for blk in self.blocks:
            x = blk(x)
            states.append(x)
        x = self.norm(x)
        return x, states


def interpolate_pos_embed(pos_embed_checkpoint, visual_encoder):
    """ALBEF models/vit.py lines 178-202 (BLIP models/vit.py lines 281-305 are the same)."""
    embedding_size = pos_embed_checkpoint.shape[-1]
    num_patches = visual_encoder.patch_embed.num_patches
    num_extra_tokens = visual_encoder.pos_embed.shape[-2] - num_patches
    orig_size = int((pos_embed_checkpoint.shape[-2] - num_extra_tokens) ** 0.5)
    new_size = int(num_patches**0.5)
    if orig_size != new_size:
        extra_tokens = pos_embed_checkpoint[:, :num_extra_tokens]
        pos_tokens = pos_embed_checkpoint[:, num_extra_tokens:]
        pos_tokens = pos_tokens.reshape(-1, orig_size, orig_size, embedding_size).permute(0, 3, 1, 2)
        pos_tokens = torch.nn.functional.interpolate(
            pos_tokens, size=(new_size, new_size), mode="bicubic", align_corners=False
        )
        pos_tokens = pos_tokens.permute(0, 2, 3, 1).flatten(1, 2)
        return torch.cat((extra_tokens, pos_tokens), dim=1)
    return pos_embed_checkpoint


# --- BERT pieces identical in ALBEF models/xbert.py and BLIP models/med.py -------------------------------------------


class BertSelfAttention(nn.Module):
    """xbert.py lines 218-348 (med.py lines 97-225): on ``encoder_hidden_states`` the keys and values come from the
    image and the mask is ``encoder_attention_mask``."""

    def __init__(self, config: BertConfig, is_cross_attention: bool):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        if is_cross_attention:
            self.key = nn.Linear(config.encoder_width, self.all_head_size)
            self.value = nn.Linear(config.encoder_width, self.all_head_size)
        else:
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = x.view(*new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None):
        mixed_query_layer = self.query(hidden_states)
        is_cross_attention = encoder_hidden_states is not None
        if is_cross_attention:
            key_layer = self.transpose_for_scores(self.key(encoder_hidden_states))
            value_layer = self.transpose_for_scores(self.value(encoder_hidden_states))
            attention_mask = encoder_attention_mask
        else:
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
        query_layer = self.transpose_for_scores(mixed_query_layer)
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            attention_scores = attention_scores + attention_mask
        attention_probs = nn.Softmax(dim=-1)(attention_scores)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        return context_layer.view(*new_context_layer_shape)


class BertSelfOutput(nn.Module):
    """xbert.py lines 351-362 (med.py lines 228-239)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dense(hidden_states) + input_tensor)


class BertAttention(nn.Module):
    """xbert.py lines 365-411 (med.py lines 242-288)."""

    def __init__(self, config: BertConfig, is_cross_attention=False):
        super().__init__()
        self.self = BertSelfAttention(config, is_cross_attention)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None):
        self_outputs = self.self(hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask)
        return self.output(self_outputs, hidden_states)


class BertIntermediate(nn.Module):
    """xbert.py lines 414-426 (med.py lines 291-303); ``hidden_act: gelu`` is transformers' exact GELU."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, hidden_states):
        return F.gelu(self.dense(hidden_states))


class BertOutput(nn.Module):
    """xbert.py lines 429-440 (med.py lines 306-317)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dense(hidden_states) + input_tensor)


class BertPredictionHeadTransform(nn.Module):
    """xbert.py lines 649-663 (med.py lines 501-515)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class BertLMPredictionHead(nn.Module):
    """xbert.py lines 666-683 (med.py lines 518-535): ``decoder.bias`` is ``bias``, so both keys are saved."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias


class BertOnlyMLMHead(nn.Module):
    """xbert.py lines 686-693 (med.py lines 538-545)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)


def get_extended_attention_mask(attention_mask, dtype=torch.float32):
    """xbert.py lines 879-939 (med.py lines 609-668), encoder branch: ``[b, 1, 1, T]``, -10000 on padding."""
    extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
    return (1.0 - extended_attention_mask) * -10000.0


def invert_attention_mask(encoder_attention_mask, dtype=torch.float32):
    """transformers 4.8 (ALBEF's and BLIP's pinned version) ``ModuleUtilsMixin.invert_attention_mask``, float32."""
    encoder_extended_attention_mask = encoder_attention_mask[:, None, None, :].to(dtype=dtype)
    return (1.0 - encoder_extended_attention_mask) * -1e9


# --- ALBEF models/xbert.py ---------------------------------------------------------------------------------------


class XBertEmbeddings(nn.Module):
    """xbert.py lines 168-215: word + token type + position, then LayerNorm.

    ``token_types=False`` leaves the token-type term out, as LAVIS ``lavis/models/med.py`` lines 111-116 do when its
    ``med_config_albef.json`` (``add_type_embeddings: false``) builds no token-type table and no ids are passed.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))

    def forward(self, input_ids, token_type_ids=None, token_types=True):
        input_shape = input_ids.size()
        seq_length = input_shape[1]
        position_ids = self.position_ids[:, :seq_length]
        if token_type_ids is None:
            token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=self.position_ids.device)
        inputs_embeds = self.word_embeddings(input_ids)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) if token_types else inputs_embeds
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.LayerNorm(embeddings)


class XBertLayer(nn.Module):
    """xbert.py lines 443-520: cross-attention only when ``layer_num >= config.fusion_layer``."""

    def __init__(self, config: BertConfig, layer_num: int):
        super().__init__()
        self.config = config
        self.attention = BertAttention(config)
        self.has_cross_attention = layer_num >= config.fusion_layer
        if self.has_cross_attention:
            self.layer_num = layer_num
            self.crossattention = BertAttention(config, is_cross_attention=True)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None):
        attention_output = self.attention(hidden_states, attention_mask)
        if self.has_cross_attention:
            assert encoder_hidden_states is not None, "encoder_hidden_states must be given for cross-attention layers"
            attention_output = self.crossattention(
                attention_output, attention_mask, encoder_hidden_states, encoder_attention_mask
            )
        intermediate_output = self.intermediate(attention_output)
        return self.output(intermediate_output, attention_output)


class XBertEncoder(nn.Module):
    """xbert.py lines 523-631: ``mode='text'`` runs layers ``[0, fusion_layer)``, ``'fusion'`` layers
    ``[fusion_layer, L)``, ``'multi_modal'`` all; returns ``(last, all_hidden_states)`` (input of each layer, then
    the last output)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([XBertLayer(config, i) for i in range(config.num_hidden_layers)])

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        mode="multi_modal",
    ):
        if mode == "text":
            start_layer, output_layer = 0, self.config.fusion_layer
        elif mode == "fusion":
            start_layer, output_layer = self.config.fusion_layer, self.config.num_hidden_layers
        elif mode == "multi_modal":
            start_layer, output_layer = 0, self.config.num_hidden_layers
        all_hidden_states = ()
        for i in range(start_layer, output_layer):
            all_hidden_states = all_hidden_states + (hidden_states,)
            hidden_states = self.layer[i](hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask)
        all_hidden_states = all_hidden_states + (hidden_states,)
        return hidden_states, all_hidden_states


class XBertModel(nn.Module):
    """xbert.py lines 833-1082 (``add_pooling_layer=False`` as BertForMaskedLM builds it, line 1352)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = XBertEmbeddings(config)
        self.encoder = XBertEncoder(config)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        encoder_embeds=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        mode="multi_modal",
        token_types=True,
    ):
        if input_ids is not None:
            batch_size, seq_length = input_ids.size()
        else:
            batch_size, seq_length = encoder_embeds.size()[:-1]
        if attention_mask is None:
            attention_mask = torch.ones((batch_size, seq_length))
        extended_attention_mask = get_extended_attention_mask(attention_mask)
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = torch.ones(encoder_hidden_states.size()[:2])
            encoder_extended_attention_mask = invert_attention_mask(encoder_attention_mask)
        else:
            encoder_extended_attention_mask = None
        if encoder_embeds is None:
            embedding_output = self.embeddings(input_ids=input_ids, token_types=token_types)
        else:
            embedding_output = encoder_embeds
        return self.encoder(
            embedding_output, extended_attention_mask, encoder_hidden_states, encoder_extended_attention_mask, mode=mode
        )


class XBertForMaskedLM(nn.Module):
    """xbert.py lines 1344-1355: ``bert`` and the MLM head ``cls``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = XBertModel(config)
        self.cls = BertOnlyMLMHead(config)


class ALBEFPretrain(nn.Module):
    """ALBEF ``models/model_pretrain.py`` lines 20-84: the module tree ``Pretrain.py`` (lines 163-170) saves as
    ``{'model': model.state_dict(), 'optimizer', 'lr_scheduler', 'config', 'epoch'}``."""

    def __init__(
        self,
        config: BertConfig,
        image_res=256,
        patch_size=16,
        vision_width=768,
        vision_depth=12,
        vision_heads=12,
        embed_dim=256,
        queue_size=65536,
        temp=0.07,
    ):
        super().__init__()
        self.visual_encoder = VisionTransformer(
            img_size=image_res,
            patch_size=patch_size,
            embed_dim=vision_width,
            depth=vision_depth,
            num_heads=vision_heads,
            mlp_ratio=4,
            qkv_bias=True,
        )
        self.text_encoder = XBertForMaskedLM(config)
        text_width = config.hidden_size
        self.vision_proj = nn.Linear(vision_width, embed_dim)
        self.text_proj = nn.Linear(text_width, embed_dim)
        self.temp = nn.Parameter(torch.ones([]) * temp)
        self.itm_head = nn.Linear(text_width, 2)
        self.visual_encoder_m = copy.deepcopy(self.visual_encoder)
        self.vision_proj_m = copy.deepcopy(self.vision_proj)
        self.text_encoder_m = copy.deepcopy(self.text_encoder)
        self.text_proj_m = copy.deepcopy(self.text_proj)
        self.register_buffer("image_queue", F.normalize(torch.randn(embed_dim, queue_size), dim=0))
        self.register_buffer("text_queue", F.normalize(torch.randn(embed_dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


def load_albef_checkpoint(model: ALBEFPretrain, state_dict: dict) -> None:
    """ALBEF ``Pretrain.py`` lines 130-142: position embeddings resampled to the model's grid, then a strict load."""
    state_dict = dict(state_dict)
    state_dict["visual_encoder.pos_embed"] = interpolate_pos_embed(
        state_dict["visual_encoder.pos_embed"], model.visual_encoder
    )
    state_dict["visual_encoder_m.pos_embed"] = interpolate_pos_embed(
        state_dict["visual_encoder_m.pos_embed"], model.visual_encoder_m
    )
    model.load_state_dict(state_dict)


@torch.no_grad()
def albef_features(model: ALBEFPretrain, image, input_ids, attention_mask, token_types=True) -> dict:
    """ALBEF ``model_pretrain.py`` lines 92-140 (the positive pair), as LAVIS ``albef_feature_extractor.py``
    lines 126-162 run it; ``token_types=False`` is LAVIS's embedding (no token-type term).

    Returns
    -------
    dict
        ``image_states`` (ViT, before the final norm), ``image_embeds`` (after it), ``text_states`` (``mode='text'``:
        embeddings and layers 1..fusion_layer), ``fusion_states`` (``mode='fusion'``: layers fusion_layer+1..L),
        ``image_feat`` and ``text_feat`` (the projections of the CLS tokens, before normalisation) and ``itm`` (the
        ITM head on the fused CLS).
    """
    image_embeds, image_states = model.visual_encoder(image)
    image_atts = torch.ones(image_embeds.size()[:-1], dtype=torch.long)
    text_embeds, text_states = model.text_encoder.bert(
        input_ids, attention_mask=attention_mask, mode="text", token_types=token_types
    )
    fused, fusion_states = model.text_encoder.bert(
        encoder_embeds=text_embeds,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_atts,
        mode="fusion",
    )
    return {
        "image_states": image_states,
        "image_embeds": image_embeds,
        "text_states": list(text_states),
        "fusion_states": list(fusion_states[1:]),
        "image_feat": model.vision_proj(image_embeds[:, 0, :]),
        "text_feat": model.text_proj(text_embeds[:, 0, :]),
        "itm": model.itm_head(fused[:, 0, :]),
    }


# --- BLIP models/med.py ------------------------------------------------------------------------------------------


class MedBertEmbeddings(nn.Module):
    """med.py lines 52-94: word + position, then LayerNorm (no token types)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))

    def forward(self, input_ids):
        seq_length = input_ids.size()[1]
        position_ids = self.position_ids[:, :seq_length]
        embeddings = self.word_embeddings(input_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.LayerNorm(embeddings)


class MedBertLayer(nn.Module):
    """med.py lines 320-383: cross-attention in every layer (``add_cross_attention``), run when
    ``mode=='multimodal'``."""

    def __init__(self, config: BertConfig, layer_num: int):
        super().__init__()
        self.config = config
        self.attention = BertAttention(config)
        self.layer_num = layer_num
        if self.config.add_cross_attention:
            self.crossattention = BertAttention(config, is_cross_attention=self.config.add_cross_attention)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(
        self, hidden_states, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None, mode=None
    ):
        attention_output = self.attention(hidden_states, attention_mask)
        if mode == "multimodal":
            assert encoder_hidden_states is not None, "encoder_hidden_states must be given for cross-attention layers"
            attention_output = self.crossattention(
                attention_output, attention_mask, encoder_hidden_states, encoder_attention_mask
            )
        intermediate_output = self.intermediate(attention_output)
        return self.output(intermediate_output, attention_output)


class MedBertEncoder(nn.Module):
    """med.py lines 386-483: every layer, each told the mode; returns ``(last, all_hidden_states)``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([MedBertLayer(config, i) for i in range(config.num_hidden_layers)])

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        mode="multimodal",
    ):
        all_hidden_states = ()
        for i in range(self.config.num_hidden_layers):
            all_hidden_states = all_hidden_states + (hidden_states,)
            hidden_states = self.layer[i](
                hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask, mode=mode
            )
        all_hidden_states = all_hidden_states + (hidden_states,)
        return hidden_states, all_hidden_states


class MedBertModel(nn.Module):
    """med.py lines 571-810 (``add_pooling_layer=False`` as ``blip_pretrain.py`` line 54 builds it)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = MedBertEmbeddings(config)
        self.encoder = MedBertEncoder(config)

    def forward(
        self, input_ids, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None, mode="multimodal"
    ):
        batch_size, seq_length = input_ids.size()
        if attention_mask is None:
            attention_mask = torch.ones((batch_size, seq_length))
        extended_attention_mask = get_extended_attention_mask(attention_mask)
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = torch.ones(encoder_hidden_states.size()[:2])
            encoder_extended_attention_mask = invert_attention_mask(encoder_attention_mask)
        else:
            encoder_extended_attention_mask = None
        embedding_output = self.embeddings(input_ids=input_ids)
        return self.encoder(
            embedding_output, extended_attention_mask, encoder_hidden_states, encoder_extended_attention_mask, mode=mode
        )


class MedBertLMHeadModel(nn.Module):
    """med.py lines 811-822: ``bert`` (no pooler) and ``cls``; BLIP's ``text_decoder``."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.bert = MedBertModel(config)
        self.cls = BertOnlyMLMHead(config)


class BLIPPretrain(nn.Module):
    """BLIP ``models/blip_pretrain.py`` lines 19-94: the module tree ``pretrain.py`` (lines 136-142) saves as
    ``{'model': model.state_dict(), 'optimizer', 'config', 'epoch'}``.  The text vocabulary is bert-base-uncased's
    plus ``[DEC]`` and ``[ENC]`` (``models/blip.py`` ``init_tokenizer`` lines 186-191, embeddings resized to
    ``len(tokenizer)`` at ``blip_pretrain.py`` line 55), so ``[ENC]`` is its last id."""

    def __init__(
        self,
        config: BertConfig,
        image_size=224,
        patch_size=16,
        vision_width=768,
        vision_depth=12,
        vision_heads=12,
        embed_dim=256,
        queue_size=57600,
    ):
        super().__init__()
        self.visual_encoder = VisionTransformer(
            img_size=image_size,
            patch_size=patch_size,
            embed_dim=vision_width,
            depth=vision_depth,
            num_heads=vision_heads,
            mlp_ratio=4,
            qkv_bias=True,
        )
        self.text_encoder = MedBertModel(config)
        text_width = config.hidden_size
        self.vision_proj = nn.Linear(vision_width, embed_dim)
        self.text_proj = nn.Linear(text_width, embed_dim)
        self.itm_head = nn.Linear(text_width, 2)
        self.visual_encoder_m = copy.deepcopy(self.visual_encoder)
        self.vision_proj_m = copy.deepcopy(self.vision_proj)
        self.text_encoder_m = copy.deepcopy(self.text_encoder)
        self.text_proj_m = copy.deepcopy(self.text_proj)
        self.register_buffer("image_queue", F.normalize(torch.randn(embed_dim, queue_size), dim=0))
        self.register_buffer("text_queue", F.normalize(torch.randn(embed_dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
        self.temp = nn.Parameter(0.07 * torch.ones([]))
        self.text_decoder = MedBertLMHeadModel(config)

    @property
    def enc_token_id(self) -> int:
        return self.text_encoder.config.vocab_size - 1


@torch.no_grad()
def blip_features(model: BLIPPretrain, image, input_ids, attention_mask) -> dict:
    """BLIP ``blip_pretrain.py`` lines 101-103 and 142-153 (image-text matching's positive pair), as LAVIS
    ``blip_feature_extractor.py`` lines 161-177 run it: ``[ENC]`` replaces the first token, ``mode='multimodal'``.

    Returns
    -------
    dict
        ``image_states``, ``image_embeds``, ``multimodal_states`` (embeddings and layers 1..L), ``image_feat`` and
        ``itm`` (the ITM head on the fused CLS).
    """
    image_embeds, image_states = model.visual_encoder(image)
    image_atts = torch.ones(image_embeds.size()[:-1], dtype=torch.long)
    encoder_input_ids = input_ids.clone()
    encoder_input_ids[:, 0] = model.enc_token_id
    fused, states = model.text_encoder(
        encoder_input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_atts,
    )
    return {
        "image_states": image_states,
        "image_embeds": image_embeds,
        "multimodal_states": list(states),
        "image_feat": model.vision_proj(image_embeds[:, 0, :]),
        "itm": model.itm_head(fused[:, 0, :]),
    }
