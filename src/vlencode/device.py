"""The compute device: the one place that turns the config's ``device`` into a torch device.

Results do not depend on the device beyond float round-off; it is a performance setting.  For that, a CUDA device
computes float32 products and convolutions in IEEE arithmetic: torch's default lets cuDNN convolve float32 in TF32,
whose 10-bit mantissa rounds each product to about 5e-4 relative, so the patch embedding of every ViT and all of
ConvNeXt would leave the CPU's features by far more than float32 round-off (``benchmarks/device_checks.py`` compares
them at rtol 1e-4).
"""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to compute on.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, or a device.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        CUDA requested where no CUDA device is visible.
    """
    if device is None or device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        resolved = torch.device(device)
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but no CUDA device is visible; set device: auto or cpu")
    if resolved.type == "cuda":
        ieee_float32()
    return resolved


def ieee_float32() -> None:
    """Make CUDA's float32 matrix products and cuDNN's float32 convolutions IEEE, not TF32 (process-wide).

    Through the ``allow_tf32`` flags, which every torch since 1.7 reads: torch >= 2.9 also has ``fp32_precision``
    settings, but once they are set, reading the old flags raises, and libraries still read them (``cudnn.flags()``
    does).  Matrix products are IEEE by default already; the flag also undoes a caller's
    ``torch.backends.cuda.matmul.allow_tf32 = True``.
    """
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
