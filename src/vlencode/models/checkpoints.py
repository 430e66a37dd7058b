"""Release checkpoints in, converted network directories out: the one module that reads and writes weight files.

The SLIP, ALBEF and BLIP releases ship ``torch.save`` pickles (``{'state_dict', 'args', ...}`` or ``{'model', ...}``).
:func:`read_release_checkpoint` opens them with ``torch.load(weights_only=True)``, which unpickles tensors and plain
containers only, plus the few types the releases are known to pickle beside the weights: ``argparse.Namespace`` (the
SLIP release's ``args``) and numpy scalars and dtypes.  Any other type is refused with one line naming it and the
opt-in (``trust_pickle``) that loads the file with full unpickling, for a file the user trusts.

A converted network is a directory holding ``config.json`` (``{"network": <type>, "config": {...}, "source": {...}}``)
and ``model.safetensors`` (:func:`save_network`, :func:`read_network`): no pickle is read again once a release is
converted.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlencode.store import atomic_path, file_sha256

#: File names of a converted network directory.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A release file that cannot be converted; the message is one line naming the file and the fix."""


def _allowed_globals() -> list[Any]:
    """``argparse.Namespace`` and numpy's scalar reconstructor and dtypes, as ``torch.save`` pickles them."""
    from numpy import dtypes

    scalar = getattr(np, "_core", np.core).multiarray.scalar
    dtype_classes = [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return [argparse.Namespace, scalar, np.dtype, *dtype_classes]


def read_release_checkpoint(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict[str, Any]:
    """Load a release's ``torch.save`` file on the CPU without running arbitrary pickled code.

    Parameters
    ----------
    path
        The release file (``slip_base_25ep.pt``, ``ALBEF.pth``, ``model_base_capfilt_large.pth``, ...).
    trust_pickle
        Unpickle everything (``torch.load(weights_only=False)``): only for a file from a source you trust.

    Returns
    -------
    dict
        The file's top-level container.

    Raises
    ------
    CheckpointError
        No such file, not a torch checkpoint, or it pickles a type outside the allowed ones (named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such release file; download it (docs/models.md gives each address) or fix the path"
        )
    if trust_pickle:
        return _as_container(path, torch.load(path, map_location="cpu", weights_only=False))
    allowed = _allowed_globals()
    allowed_names = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
    try:
        unsafe = [
            name
            for name in torch.serialization.get_unsafe_globals_in_checkpoint(path)
            if name not in allowed_names and not name.startswith("numpy.dtypes.")
        ]
    except (RuntimeError, pickle.UnpicklingError, ValueError, EOFError) as error:
        raise CheckpointError(
            f"{path}: not a torch checkpoint ({_first_line(error)}); download the release file again"
        ) from None
    if unsafe:
        raise CheckpointError(
            f"{path}: pickles {', '.join(sorted(unsafe))}, which vlencode does not unpickle by default; if you trust "
            "the file, convert it with --trust-pickle"
        )
    with torch.serialization.safe_globals(allowed):
        try:
            return _as_container(path, torch.load(path, map_location="cpu", weights_only=True))
        except pickle.UnpicklingError as error:
            raise CheckpointError(
                f"{path}: {_first_line(error)}; if you trust the file, convert it with --trust-pickle"
            ) from None


def _as_container(path: Path, loaded: Any) -> dict[str, Any]:
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path}: holds a {type(loaded).__name__}, not a checkpoint dictionary; is it the release file?"
        )
    return dict(loaded)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def state_dict_of(path: str | os.PathLike, container: Mapping[str, Any], key: str) -> dict[str, torch.Tensor]:
    """The weights under ``container[key]``, each ``module.`` prefix (DistributedDataParallel's) removed.

    Raises
    ------
    CheckpointError
        The container has no ``key`` (the message lists its keys).
    """
    if key not in container:
        raise CheckpointError(
            f"{path}: has no {key!r} entry (it holds {', '.join(map(str, container))}); is it the right release file?"
        )
    weights = container[key]
    return {
        (name[len("module.") :] if name.startswith("module.") else name): tensor for name, tensor in weights.items()
    }


def save_network(
    directory: str | os.PathLike,
    network: str,
    config: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    source: Mapping[str, Any],
) -> Path:
    """Write a converted network atomically: ``config.json`` and ``model.safetensors`` in ``directory``.

    Parameters
    ----------
    network
        The network type, a key of :data:`vlencode.models.networks.OWN_NETWORKS` (``slip``, ``fusion``).
    config
        The network's JSON-able configuration.
    weights
        Its state dict (tensors are made contiguous copies: safetensors stores no shared memory).
    source
        Provenance: the release file's name and sha256, and the conversion options.

    Raises
    ------
    CheckpointError
        ``directory`` is a file, or a directory holding anything but an earlier conversion (replacing it would delete
        those files: the release file, other models, a weights directory).
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    _check_replaceable(directory)
    with atomic_path(directory) as tmp:
        tmp.mkdir(parents=True)
        save_file(
            {name: tensor.detach().contiguous().clone() for name, tensor in weights.items()},
            os.fspath(tmp / WEIGHTS_FILE),
            metadata={"format": "pt"},
        )
        document = {"network": network, "config": dict(config), "source": dict(source)}
        (tmp / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return directory


def _check_replaceable(directory: Path) -> None:
    """Refuse to replace ``directory`` unless it is absent, empty or an earlier :func:`save_network` output."""
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory}: is a file; give a directory for the converted network")
    if not directory.exists():
        return
    others = sorted(p.name for p in directory.iterdir() if p.name not in (CONFIG_FILE, WEIGHTS_FILE))
    written = True
    if (directory / CONFIG_FILE).exists():
        try:
            written = "network" in json.loads((directory / CONFIG_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
            written = False
    if others or not written:
        held = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "") if others else f"another {CONFIG_FILE}"
        raise CheckpointError(
            f"{directory}: holds {held}, which converting into it would delete; give a new or empty directory"
        )


def read_network(directory: str | os.PathLike) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """The network type, configuration and weights of a directory written by :func:`save_network`.

    Raises
    ------
    CheckpointError
        The directory lacks either file (one line saying how to convert the release into it).
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise CheckpointError(
            f"{directory}: not a converted network (needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
            "convert the release file with `python -m vlencode.models.convert`"
        )
    document = json.loads(config_path.read_text())
    return document["network"], document["config"], load_file(os.fspath(weights_path))


def source_record(path: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Provenance of a conversion: the release file's name and sha256, and the options it was converted with."""
    path = Path(path)
    return {"file": path.name, "sha256": file_sha256(path), **options}
