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
    """Make cuDNN's float32 convolutions and CUDA's float32 matrix products IEEE, not TF32 (process-wide).

    torch >= 2.9 has two interfaces to these settings, and once the newer one (``fp32_precision``) is set, reading the
    older one (``allow_tf32``, ``get_float32_matmul_precision``) raises; libraries still read the older one
    (``cudnn.flags()`` does).  So the older one is set, unless the process already set the newer one, which is then
    set instead.  A caller's ``cudnn.flags(...)`` block still applies its own ``allow_tf32`` inside it.
    """
    backends = torch.backends
    if _newer_interface_set():
        _ieee_float32_newer()
        return
    backends.cudnn.allow_tf32 = False
    if torch.get_float32_matmul_precision() != "highest":
        torch.set_float32_matmul_precision("highest")
    conv = getattr(backends.cudnn, "conv", None)
    if getattr(conv, "fp32_precision", "ieee") == "tf32":  # a process-wide TF32 the older flag does not override
        _ieee_float32_newer()


def _ieee_float32_newer() -> None:
    """IEEE float32 convolutions and matrix products through torch's ``fp32_precision`` settings (torch >= 2.9)."""
    torch.backends.cudnn.conv.fp32_precision = "ieee"  # type: ignore[attr-defined]
    torch.backends.cuda.matmul.fp32_precision = "ieee"


def _newer_interface_set() -> bool:
    """Whether this process set torch's ``fp32_precision`` settings in a way the older interface cannot read back
    (reading it then raises); settings made through the older interface are mirrored in the newer one and read back."""
    try:
        torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    except RuntimeError:
        return True
    return False
