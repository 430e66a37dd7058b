"""The compute device: the one place that turns the config's ``device`` into a torch device.

Results do not depend on the device beyond float round-off; it is a performance setting.
"""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to compute on.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        CUDA requested where no CUDA device is visible.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA device is visible; set device: auto or cpu")
    return resolved
