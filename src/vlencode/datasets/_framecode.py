"""A binary code in the top-left corner of every replica frame, carrying the frame's index.

The code is ``CODE_ROWS x CODE_COLS`` square blocks, black for 0 and white for 1, least significant bit first in
row-major order.  Blocks are at least 4 pixels on frames of 64 x 96 or more (2 on smaller frames), large enough to
survive a high-quality H.264 encode with 4:2:0 chroma subsampling since only luminance carries the bits.
"""

from __future__ import annotations

import numpy as np

CODE_ROWS = 2
CODE_COLS = 10
#: Largest frame index the code can carry.
MAX_INDEX = 2 ** (CODE_ROWS * CODE_COLS) - 1


def code_block_px(height: int, width: int) -> int:
    """Side of one code block in pixels for a ``height x width`` frame."""
    return max(2, min(height // 16, width // 24))


def check_frame_size(height: int, width: int) -> None:
    """Raise ValueError unless a frame of this size can hold the code and be encoded as 4:2:0 H.264."""
    block = code_block_px(height, width)
    if height % 2 or width % 2 or height < 2 * CODE_ROWS * block or width < 2 * CODE_COLS * block:
        raise ValueError(
            f"replica.frame_size [{height}, {width}]: use even sizes of at least [16, 48] so the corner frame code fits"
        )


def draw_frame_code(frame: np.ndarray, index: int) -> None:
    """Paint ``index`` into the corner of ``frame`` (``[H, W, 3]`` uint8), in place."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"frame index {index} does not fit the {CODE_ROWS * CODE_COLS}-bit corner code")
    block = code_block_px(*frame.shape[:2])
    bits = (index >> np.arange(CODE_ROWS * CODE_COLS)) & 1
    cells = np.repeat(np.repeat(bits.reshape(CODE_ROWS, CODE_COLS), block, 0), block, 1)
    frame[: CODE_ROWS * block, : CODE_COLS * block] = (cells * 255).astype(np.uint8)[..., None]


def read_frame_code(frame: np.ndarray) -> int:
    """The frame index carried by the corner code of a (decoded) replica frame ``[H, W, 3]`` uint8.

    Each bit is the mean luminance of the inner part of its block, thresholded at mid-grey, so compression ringing
    at block edges does not flip it.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"read_frame_code: expected an [H, W, 3] frame, got shape {frame.shape}")
    block = code_block_px(*frame.shape[:2])
    margin = block // 4
    region = frame[: CODE_ROWS * block, : CODE_COLS * block].astype(np.float32).mean(axis=2)
    cells = region.reshape(CODE_ROWS, block, CODE_COLS, block)[:, margin : block - margin, :, margin : block - margin]
    bits = (cells.mean(axis=(1, 3)) > 127.5).reshape(-1).astype(np.int64)
    return int((bits << np.arange(bits.size)).sum())
