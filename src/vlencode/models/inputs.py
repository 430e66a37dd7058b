"""Model inputs: frames resized and normalised per the registry, texts tokenized with counted truncation, right-padded.

A tokenizer that reads the texts mostly as its unknown token is refused (:func:`check_vocabulary`): transformers builds
one without complaint from a model directory that lacks the tokenizer files, and every text would then code its length
only.

A change to what these functions compute must update :data:`vlencode.models.registry.INPUT_PIPELINE`, which is part
of every model instance's rerun key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vlencode.models.sources import SourceError

#: The largest fraction of the texts' tokens (special tokens aside) a tokenizer may read as its unknown token.  A
#: model's own tokenizer reads English text with almost none (MiniLM's WordPiece: emoji and music signs); one without
#: its vocabulary reads every word as unknown; one whose vocabulary belongs to another model or script reads most so.
MAX_UNKNOWN_FRACTION = 0.5

#: The files a transformers tokenizer is built from, as a user would look for them in a model's repository.
TOKENIZER_FILES = (
    "tokenizer.json, or vocab.txt / vocab.json + merges.txt / a sentencepiece .model, and tokenizer_config.json"
)


class ImageInputs:
    """``[b, H, W, 3]`` uint8 frames -> ``[b, 3, image_size, image_size]`` float32 pixels, normalised.

    The whole frame is resized to the square input (bilinear with antialiasing), not cropped: a movie frame's edges
    hold content (faces, captions) that a centre crop would cut.  Frames are resized as uint8 images, as the
    transformers image processors (PIL) and torchvision do, which takes torch's vectorised uint8 path (2.5x faster than
    resizing floats); scaling to [0, 1] and the registry's normalisation are then one multiply-add on the smaller image.
    The pixels stay channels-last in memory, as the frames are: oneDNN's convolutions run faster on that layout
    (EfficientNet-Lite0 on 256 frames: 0.59 s against 0.84 s on a contiguous copy).
    """

    def __init__(self, image_size: int, normalize: Mapping[str, Sequence[float]], device: torch.device):
        self.image_size = image_size
        self.device = device
        mean = torch.tensor(normalize["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
        std = torch.tensor(normalize["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std)
        self.offset = -mean / std

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)
        if pixels.shape[-2:] != (self.image_size, self.image_size):
            pixels = F.interpolate(
                pixels, size=(self.image_size, self.image_size), mode="bilinear", antialias=True, align_corners=False
            )
        return torch.addcmul(self.offset, pixels.float(), self.scale)


@dataclass(frozen=True)
class TokenizedTexts:
    """Texts tokenized once (truncated to the model's limit), padded per batch when a batch is taken.

    Batches are padded on the right whatever the tokenizer's ``padding_side``: a text's real tokens then sit at
    positions 0 .. n-1 in every batch, so models that number positions from the sequence start (BERT, CLIP, GPT-2 given
    no ``position_ids``) give a text the same features whatever its batch partners.  Left padding shifts a short
    text's positions by its longest partner's length (a small GPT-2 from a config: a text's features moved by about
    their own norm); it exists for generation, which feature extraction does not do.

    Attributes
    ----------
    ids
        Token ids per text, special tokens included.
    n_truncated
        How many texts were longer than the limit.
    pad_id
        The tokenizer's padding token.
    fixed_length
        Pad every batch to this length (a flattened layer needs one dimension for all stimuli), or None for the
        batch's longest text.
    """

    ids: list[list[int]]
    n_truncated: int
    pad_id: int
    fixed_length: int | None

    def batch(self, positions: Sequence[int] | np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` of the texts at ``positions``, padded on the right."""
        rows = [self.ids[i] for i in positions]
        length = self.fixed_length or max(len(row) for row in rows)
        input_ids = np.full((len(rows), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {
            "input_ids": torch.from_numpy(input_ids).to(device),
            "attention_mask": torch.from_numpy(mask).to(device),
        }


def tokenize(
    tokenizer: Any, texts: Sequence[str], max_tokens: int, fixed_length: bool, pad_id: int | None = None
) -> TokenizedTexts:
    """Tokenize every text in one call, truncating to ``max_tokens``, and count the truncated ones.

    A text longer than ``max_tokens`` loses tokens **on the left**, its special tokens kept (``[CLS] ... [SEP]``,
    ``<start> ... <end>``): a word event's text is the sentence up to that word, so the word itself, at the end, is
    what must survive (cut on the right, every long prefix of a sentence would become the same truncated text).
    One call over all texts lets a fast tokenizer work on them in parallel; the padding, which depends on the batch,
    is left to :meth:`TokenizedTexts.batch`.  ``fixed_length`` pads every text to ``max_tokens``; ``pad_id`` replaces
    the tokenizer's padding token (a release that pads with another id, as SLIP's with 0).
    """
    pad_id = tokenizer.pad_token_id if pad_id is None else pad_id
    if pad_id is None:
        raise SourceError(
            f"{tokenizer.name_or_path}: its tokenizer has no padding token; set pad_token in its tokenizer_config.json"
        )
    if getattr(tokenizer, "is_fast", False):
        ids, truncated = _fast_token_ids(tokenizer, texts, max_tokens)
    else:
        side = tokenizer.truncation_side
        tokenizer.truncation_side = "left"
        try:
            ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
        finally:
            tokenizer.truncation_side = side
        truncated = sum(len(row) > max_tokens for row in tokenizer(list(texts))["input_ids"])
    check_vocabulary(tokenizer, ids)
    return TokenizedTexts(ids, truncated, int(pad_id), max_tokens if fixed_length else None)


def _fast_token_ids(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> tuple[list[list[int]], int]:
    """Token ids from a fast tokenizer's Rust backend, truncated on the left as ``tokenizer(texts, truncation=True)``
    with ``truncation_side="left"`` would.

    The backend's batch call skips the offsets and the per-text conversion of the transformers wrapper (about a third
    of tokenizing a movie's texts), and keeps what truncation cut off, so the truncated texts are counted without a
    second pass.  The backend's truncation and padding settings are restored afterwards.
    """
    backend = tokenizer.backend_tokenizer
    truncation, padding = backend.truncation, backend.padding
    backend.no_padding()
    backend.enable_truncation(max_tokens, stride=0, strategy="longest_first", direction="left")
    try:
        encodings = getattr(backend, "encode_batch_fast", backend.encode_batch)(list(texts))
    finally:
        if truncation:
            backend.enable_truncation(**truncation)
        else:
            backend.no_truncation()
        if padding:
            backend.enable_padding(**padding)
    return [encoding.ids for encoding in encodings], sum(bool(encoding.overflowing) for encoding in encodings)


def check_vocabulary(tokenizer: Any, ids: Sequence[Sequence[int]] = ()) -> None:
    """Refuse a tokenizer with no vocabulary beyond its special tokens, or one that reads more than
    :data:`MAX_UNKNOWN_FRACTION` of the tokens in ``ids`` (token ids per text) as its unknown token.

    The fraction is not counted for a tokenizer whose unknown token is also another of its special tokens (CLIP's and
    GPT-2's ``<|endoftext|>``): their byte-level vocabularies have no unknown words, and the shared id ends texts.

    Raises
    ------
    SourceError
        One line naming the tokenizer's directory (or hub id), the fraction read as unknown and the files to copy.
    """
    specials = set(tokenizer.all_special_ids)
    fraction = _unknown_fraction(tokenizer, ids, specials)
    where = tokenizer.name_or_path or type(tokenizer).__name__
    maps = f"maps {fraction:.0%} of the texts' tokens to the unknown token {tokenizer.unk_token}" if fraction else ""
    fix = "copy them from the model's repository or set the entry's tokenizer: to a folder of them"
    if len(tokenizer) <= len(specials):
        raise SourceError(
            f"{where}: its tokenizer has no vocabulary beyond its {len(specials)} special tokens"
            f"{maps and ' and '}{maps}; the folder lacks the tokenizer files ({TOKENIZER_FILES}): {fix}"
        )
    if fraction is not None and fraction > MAX_UNKNOWN_FRACTION:
        raise SourceError(
            f"{where}: its tokenizer {maps} (at most {MAX_UNKNOWN_FRACTION:.0%} allowed), so its vocabulary is not "
            f"the model's; use the model's own tokenizer files ({TOKENIZER_FILES}): {fix}"
        )


def _unknown_fraction(tokenizer: Any, ids: Sequence[Sequence[int]], specials: set[int]) -> float | None:
    """The fraction of the non-special tokens in ``ids`` that are the unknown token; None where it cannot be told."""
    unknown_id = tokenizer.unk_token_id
    shared = any(
        token == tokenizer.unk_token for name, token in tokenizer.special_tokens_map.items() if name != "unk_token"
    )
    if unknown_id is None or shared:
        return None
    flat = np.fromiter((i for row in ids for i in row), dtype=np.int64)
    words = flat[~np.isin(flat, list(specials - {unknown_id}))]
    return float(np.mean(words == unknown_id)) if len(words) else None
