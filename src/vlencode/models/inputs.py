"""Model inputs: frames resized and normalised per the registry, texts tokenized with counted truncation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def prepare_images(frames: np.ndarray, image_size: int, normalize: Mapping[str, Sequence[float]],
                   device: torch.device) -> torch.Tensor:
    """``[b, H, W, 3]`` uint8 frames -> ``[b, 3, image_size, image_size]`` float32, normalised.

    The whole frame is resized to the square input (bilinear with antialiasing), not cropped: a movie frame's edges
    hold content (faces, captions) that a centre crop would cut.
    """
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    if pixels.shape[-2:] != (image_size, image_size):
        pixels = F.interpolate(pixels, size=(image_size, image_size), mode="bilinear", antialias=True,
                               align_corners=False)
    mean = torch.tensor(normalize["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(normalize["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return (pixels - mean) / std


def tokenize(tokenizer: Any, texts: Sequence[str], max_tokens: int, fixed_length: bool,
             device: torch.device) -> tuple[dict[str, torch.Tensor], int]:
    """Tokenize a batch, truncating to ``max_tokens``; return the tensors and how many texts were truncated.

    ``fixed_length`` pads every text to ``max_tokens`` (needed when a layer is flattened, so every stimulus has the
    same dimension); otherwise the batch is padded to its longest text.
    """
    encoded = tokenizer(list(texts), truncation=True, max_length=max_tokens,
                        padding="max_length" if fixed_length else True, return_tensors="pt")
    if encoded.encodings is not None:  # a fast tokenizer keeps what truncation cut off: no second pass needed
        truncated = sum(bool(encoding.overflowing) for encoding in encoded.encodings)
    else:
        truncated = sum(len(ids) > max_tokens for ids in tokenizer(list(texts))["input_ids"])
    tokens = {key: encoded[key].to(device) for key in ("input_ids", "attention_mask")}
    return tokens, truncated
