"""Zarr and Parquet helpers: atomic writes, provenance attributes and content hashes.

Every output of the workflow is written to a sibling temporary path and renamed into place only when complete, so a
crash or a kill never leaves a half-written store that a later run could mistake for a finished one.  Every store
and table carries the provenance a reader needs to trust it, in one form (:func:`provenance`, read back by
:func:`read_provenance`): the vlencode version, the narrowed parameters it depends on and content hashes of the
inputs it read, keyed by input name (:func:`input_hashes`).

Fault injection for the crash-safe resume test: when ``VLENCODE_FAULT_PAUSE`` holds a shell pattern matching an
output's path, the writer of that output stops just before renaming its complete temporary sibling into place,
creates the file named by ``VLENCODE_FAULT_READY`` and waits to be killed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import zarr
from zarr.codecs import ZstdCodec

from vlencode import __version__

_HASH_BLOCK = 1 << 22
#: Where the digests of large files are cached; ``VLENCODE_CACHE_DIR`` moves it (e.g. to a shared cluster file system).
CACHE_ENV = "VLENCODE_CACHE_DIR"
#: Files at least this large (bytes) have their digest cached (:func:`cached_sha256`); smaller ones are cheaper to
#: reread than to look up.
CACHED_BYTES = 1 << 20
#: Root attribute of a store written with every chunk (:func:`atomic_zarr`), so a reader can tell a missing chunk
#: from one zarr left out for holding only the fill value (:func:`open_zarr`).  Stores written before it lack it.
EVERY_CHUNK = "every_chunk_written"
_FAULT_PAUSE = "VLENCODE_FAULT_PAUSE"
_FAULT_READY = "VLENCODE_FAULT_READY"
log = logging.getLogger(__name__)


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f"{_temporary_prefix(path)}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def remove_stale_siblings(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings of ``path`` that a killed job left behind; return what was removed.

    Snakemake runs at most one job per output, so when a job starts writing ``path`` any temporary sibling of it is
    the remains of an earlier job that died mid-write (a SIGKILL or a lost node skips every cleanup).
    """
    path = Path(path)
    stale = sorted(path.parent.glob(f"{glob.escape(_temporary_prefix(path))}*")) if path.parent.is_dir() else []
    for sibling in stale:
        _discard(sibling)
        log.info("removed %s, left by a writer of %s that was killed mid-write", sibling, path)
    return stale


def _pause_if_injected(path: Path) -> None:
    pattern = os.environ.get(_FAULT_PAUSE)
    if not pattern or not fnmatch.fnmatch(path.as_posix(), pattern):
        return
    Path(os.environ[_FAULT_READY]).write_text(path.as_posix())
    while True:  # until the test kills the job's process group
        time.sleep(1)


def _replace(tmp: Path, path: Path) -> None:
    """Move ``tmp`` onto ``path``; an existing directory is moved aside first because rename cannot overwrite one."""
    if path.is_dir():
        trash = _temporary_sibling(path)
        os.replace(path, trash)
        os.replace(tmp, path)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, path)


def _discard(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists():
        tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write into; rename it onto ``path`` only if the block succeeds.

    Temporary siblings left by an earlier, killed writer of ``path`` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = _temporary_sibling(path)
    try:
        yield tmp
    except BaseException:
        _discard(tmp)
        raise
    _pause_if_injected(path)
    _replace(tmp, path)


def provenance(params: Mapping[str, Any] | None = None, inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The provenance every output carries: version, the parameters it depends on and its inputs' content hashes.

    A zarr store holds it as its root attributes (:func:`atomic_zarr`), a table in its schema metadata under
    ``vlencode`` (:func:`write_parquet`); :func:`read_provenance` reads either.  ``inputs`` is
    :func:`input_hashes` of the step's inputs.
    """
    return {
        "vlencode_version": __version__,
        "params": json.loads(json.dumps(dict(params or {}), default=_json_default)),
        "inputs": dict(inputs or {}),
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@contextlib.contextmanager
def atomic_zarr(
    path: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> Iterator[zarr.Group]:
    """Open a new zarr v3 group at a temporary sibling of ``path``; consolidate and rename it into place on success.

    The group's attributes are set to :func:`provenance` before the caller writes anything.  Every chunk is written,
    even one holding only the fill value, which zarr leaves out by default (``array.write_empty_chunks``): a chunk
    missing from a finished store is then damage, which :func:`open_zarr` reports, not zeros.
    """
    with atomic_path(path) as tmp, zarr.config.set({"array.write_empty_chunks": True}):
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        group.attrs.update({**provenance(params, inputs), EVERY_CHUNK: True})
        yield group
        with warnings.catch_warnings():
            # Consolidation is a zarr-python extension to format 3; the design asks for it (one metadata read).
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            zarr.consolidate_metadata(tmp, zarr_format=3)


#: The codecs of every chunk vlencode writes: zstd, zarr's default, with its content checksum (xxhash64 of the
#: decoded bytes).  Without it zstd decodes most damage done in place (a flipped bit, bytes overwritten) into other
#: values, silently; with it such a chunk fails to decode, which :mod:`vlencode.runlog` reports as damage.
CHUNK_COMPRESSORS = (ZstdCodec(level=0, checksum=True),)


def create_array(group: zarr.Group, name: str, **kwargs: Any) -> zarr.Array:
    """``group.create_array(name, **kwargs)`` with :data:`CHUNK_COMPRESSORS`: the one way vlencode's stores create
    arrays (``tests/test_store.py`` holds every other call out of ``src/``)."""
    return group.create_array(name, compressors=CHUNK_COMPRESSORS, **kwargs)


def open_zarr(path: str | os.PathLike) -> zarr.Group:
    """Open a finished store read-only, with a one-line error naming the path when it is missing, not zarr, or lacks
    a chunk its arrays were written with (:data:`EVERY_CHUNK`; zarr would read a deleted chunk as the fill value)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Zarr store; rerun the rule that produces it")
    try:
        group = zarr.open_group(path, mode="r", zarr_format=3, use_consolidated=True)
    except Exception as error:  # zarr raises several unrelated types for a damaged store
        raise ValueError(f"{path}: not a readable zarr v3 store ({error}); delete it and rerun") from None
    if group.attrs.get(EVERY_CHUNK):
        for name, array in _arrays(group):
            missing = array.nchunks - array.nchunks_initialized
            if missing:
                raise ValueError(
                    f"{path}: {name} lacks {missing} of its {array.nchunks} chunks (deleted or lost in a copy); "
                    "delete the store and rerun the rule that writes it"
                )
    return group


def _arrays(group: zarr.Group) -> Iterator[tuple[str, zarr.Array]]:
    """Every array of ``group`` at any depth, with its path in the group."""
    for name, member in group.members(max_depth=None):
        if isinstance(member, zarr.Array):
            yield name, member


def zarr_array(group: zarr.Group, key: str) -> zarr.Array:
    """The array at ``key`` in a store's group.

    Raises
    ------
    KeyError
        ``key`` is not in the group.
    ValueError
        ``key`` is a group where the store's layout has an array (a store not written by its rule).
    """
    return _node(group, key, zarr.Array)


def zarr_group(group: zarr.Group, key: str) -> zarr.Group:
    """The group at ``key`` in a store's group; errors as :func:`zarr_array`'s, the other way round."""
    return _node(group, key, zarr.Group)


_Node = TypeVar("_Node", zarr.Array, zarr.Group)


def _node(group: zarr.Group, key: str, kind: type[_Node]) -> _Node:
    node = group[key]
    if not isinstance(node, kind):
        mismatch = "a group, not an array" if kind is zarr.Array else "an array, not a group"
        raise ValueError(f"{group.store_path}: {key!r} is {mismatch}; delete the store and rerun its rule")
    return node


def write_parquet(
    table: pd.DataFrame,
    path: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> None:
    """Write a tidy table atomically, provenance in the schema metadata, without a pandas index.

    Deterministic: the same frame and provenance give byte-identical files.
    """
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[b"vlencode"] = json.dumps(provenance(params, inputs), sort_keys=True).encode()
    arrow = arrow.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_parquet`, naming the file when it is missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such table; rerun the rule that produces it")
    return pq.read_table(path).to_pandas()


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The :func:`provenance` of a finished output: ``vlencode_version, params, inputs`` of a zarr store or a table.

    Raises
    ------
    FileNotFoundError
        No such output.
    """
    path = Path(path)
    if path.is_dir():
        attrs = dict(open_zarr(path).attrs)
        return {key: attrs[key] for key in ("vlencode_version", "params", "inputs") if key in attrs}
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such output; rerun the rule that produces it")
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"vlencode", b"{}"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in blocks so a multi-GB recording never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_path() -> Path:
    base = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vlencode"
    return Path(base) / "file-sha256.json"


def _identity(file: Path) -> tuple[str, str]:
    """A file's resolved path, and what changes whenever its content may have: size, times and inode."""
    stat = file.stat()
    return str(file.resolve()), f"{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"


def cached_sha256(files: Iterable[Path]) -> dict[Path, str]:
    """SHA-256 of each file, read from a cache while its resolved path, size, modification and change times and inode
    are unchanged, so a multi-GB raw recording or weights file is read once, not once per job that records it.

    A changed, touched or replaced file has another identity and is hashed again (its old entry dropped).  The cache
    (``$VLENCODE_CACHE_DIR`` or ``$XDG_CACHE_HOME/vlencode``, ``file-sha256.json``) is rewritten atomically, so jobs
    reading it at once see the old or the new cache, never a partial one; a cache that cannot be written (a read-only
    home) only costs the rereading.
    """
    path = _cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    out, missed = {}, False
    for file in files:
        resolved, identity = _identity(file)
        entry = cache.get(resolved)
        if not isinstance(entry, list) or entry[0] != identity:
            entry = cache[resolved] = [identity, file_sha256(file)]
            missed = True
        out[file] = entry[1]
    if missed:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
            tmp.write_text(json.dumps(cache, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass
    return out


def content_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a directory tree (relative names and bytes of every file, in sorted order).

    Files of at least :data:`CACHED_BYTES` go through :func:`cached_sha256`: a raw recording is read once, while its
    identity holds, whichever steps record it as an input.
    """
    path = Path(path)
    if path.is_file():
        return _sha256_of([path])[path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: cannot hash a missing input")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    digests = _sha256_of(files)
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(digests[file].encode())
    return digest.hexdigest()


def _sha256_of(files: list[Path]) -> dict[Path, str]:
    large = [f for f in files if f.stat().st_size >= CACHED_BYTES]
    return {**{f: file_sha256(f) for f in files if f not in set(large)}, **(cached_sha256(large) if large else {})}


def input_hash(path: str | os.PathLike) -> str:
    """The content key of one input: a file's SHA-256; a zarr store this package wrote, the SHA-256 of its root
    metadata; any other directory, :func:`content_sha256`.

    A store written by :func:`atomic_zarr` is a deterministic function of the provenance in its root metadata (the
    parameters with the step's version, and its own inputs' hashes), so that small file stands for the whole store
    without rereading gigabytes of arrays.
    """
    path = Path(path)
    metadata = path / "zarr.json"
    if path.is_dir() and metadata.is_file():
        try:
            attrs = json.loads(metadata.read_text()).get("attributes", {})
        except ValueError:
            attrs = {}
        if "vlencode_version" in attrs:
            return file_sha256(metadata)
    return content_sha256(path)


def input_hashes(inputs: Any) -> dict[str, str]:
    """Content hashes (:func:`input_hash`) of a step's inputs, for its output's provenance.

    Parameters
    ----------
    inputs : ``snakemake.input``, or a mapping of input name -> path or list of paths
        A named input holding one path is keyed by its name; each path of a named list, and each unnamed input, by
        the path itself.
    """
    out: dict[str, str] = {}
    named = dict(inputs.items()) if hasattr(inputs, "items") else {}
    for name, value in named.items():
        if isinstance(value, (str, os.PathLike)):
            out[str(name)] = input_hash(value)
        else:
            out.update({str(p): input_hash(p) for p in value})
    if isinstance(inputs, list):
        covered = {str(v) for v in named.values() if isinstance(v, (str, os.PathLike))} | set(out)
        out.update({str(p): input_hash(p) for p in inputs if str(p) not in covered})
    return out


def array_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 over the dtype, shape and bytes of arrays: a content key independent of how they were stored."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode())
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
