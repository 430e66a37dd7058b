"""Configuration checks that run before the workflow plans anything: schema, then the files the config names."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message is one line naming the key and the fix."""


@contextlib.contextmanager
def stop_at_start_up(*errors: type[Exception]) -> Iterator[None]:
    """End the process with the message alone of any of ``errors`` raised in the block (exit status 1).

    For the checks a Snakefile runs while Snakemake reads it: Snakemake prints an exception raised there with the
    workflow file's name and line before the message and a traceback of the workflow's frames after it, while these
    errors' messages already name the config file, the key and the fix.  Other exceptions (bugs) keep their
    traceback.

    Raises
    ------
    SystemExit
        With the error's message.
    """
    try:
        yield
    except errors as error:
        raise SystemExit(str(error)) from None


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        return f"unknown key(s) {unexpected}; allowed here: {allowed}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required here")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {error.validator_value}"
    if error.validator == "type" and error.validator_value == "string" and type(error.instance) in (int, float):
        # YAML reads subject 1 or trial 0 as numbers; identifiers such as these must stay text.
        return f'{error.instance!r} is a number; quote it ("{error.instance}") to make it text'
    branches = error.validator_value if error.validator in ("anyOf", "oneOf") else []
    if branches and not any(jsonschema.Draft202012Validator(b).is_valid(error.instance) for b in branches):
        alternatives = " or ".join(_branch_text(branch) for branch in branches)
        return f"{error.instance!r} is not {alternatives}"
    text = error.instance if isinstance(error.instance, str) else None
    if error.validator == "type" and text is not None and _reads_as(text, error.validator_value):
        # Snakemake's --config hands nested values over as text ("bootstrap={'n_resamples': 100}" gives '100').
        return (
            f"{error.instance!r} is text where {error.validator_value} is expected; a nested value given with "
            "--config arrives as text: set it in a file given after the config "
            "(--configfile config/config.yaml mine.yaml)"
        )
    return error.message


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _branch_text(schema: Mapping[str, Any]) -> str:
    """One alternative of an ``anyOf``/``oneOf`` in words: ``'auto'``, ``a number > 0``."""
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " or ".join(map(repr, schema["enum"]))
    kinds = sorted(_types(schema)) or ["value"]
    text = "a " + " or ".join("whole number" if kind == "integer" else kind for kind in kinds)
    bounds = [f"{sign} {schema[name]}" for name, sign in _BOUNDS.items() if name in schema]
    return " ".join([text, *bounds[:1]]) + "".join(f" and {bound}" for bound in bounds[1:])


def _non_finite(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """The dotted keys and values of ``value`` that are NaN or an infinity (YAML's ``.nan``, ``.inf``), which every
    numeric bound of the schema lets through (NaN fails no comparison)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path or "<top level>", value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from _non_finite(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{path}[{index}]")


def _reads_as(text: str, expected: str | list[str]) -> bool:
    """Whether ``text`` is YAML for a value of the JSON-schema type(s) ``expected`` (number, integer, boolean)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    wanted = {expected} if isinstance(expected, str) else set(expected)
    if isinstance(value, bool):
        return "boolean" in wanted
    if isinstance(value, int):
        return bool(wanted & {"integer", "number"})
    return isinstance(value, float) and "number" in wanted


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every violation of ``schema`` by ``config``, one line each: ``<dotted.key>: <what is wrong>``."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    non_finite = [f"{key}: {value} is not a finite number" for key, value in _non_finite(config)]
    return non_finite + [f"{_key_path(e)}: {_describe(e)}" for e in errors]


def config_source(configfiles: Iterable[str | os.PathLike], overrides: Mapping[str, Any]) -> str:
    """Where a run's config came from, for the start-up messages: its config files and the keys set with Snakemake's
    ``--config`` (``overrides``), which a message must not blame on a file (``"config/config.yaml and --config
    seed"``)."""
    files = ", ".join(map(str, configfiles))
    given = f"--config {', '.join(map(str, overrides))}" if overrides else ""
    return " and ".join(part for part in (files, given) if part) or "config"


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike, source: str = "config") -> None:
    """Raise :class:`ConfigError` with a one-line message for the first problem of ``config``.

    Checks the JSON schema, that no recording is listed twice, then that the files the config names exist (the dataset
    root, unless the replica builds it, and the model registry).  Settings that must agree with each other are
    checked by the steps that read them (``check_*_config``, called at start-up by the workflow).
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    problems = schema_errors(config, schema)
    if problems:
        raise ConfigError(f"{source}: {problems[0]} (see config/README.md)")
    canonical = canonical_config(config, schema)
    seen: dict[tuple[str, str], int] = {}
    for index, recording in enumerate(canonical["dataset"]["recordings"]):
        key = (str(recording["subject"]), str(recording["trial"]))
        if key in seen:
            # Listed twice, its trial would be pooled twice into every fit of the subject.
            raise ConfigError(
                f"{source}: dataset.recordings[{index}]: subject {key[0]} trial {key[1]} is already "
                f"dataset.recordings[{seen[key]}]; list each recording once"
            )
        seen[key] = index
    replica = canonical["replica"]["enabled"]
    dataset_format = canonical["dataset"]["format"]
    if replica and dataset_format != "braintreebank":
        # The replica is generated in the Brain Treebank's layout; with it enabled, another reader is never used.
        raise ConfigError(
            f"{source}: replica.enabled: true generates a Brain Treebank replica, but dataset.format is "
            f"{dataset_format}; set replica.enabled: false to read your own dataset at dataset.root"
        )
    root = Path(canonical["dataset"]["root"])
    if not replica and not root.is_dir():
        problem = "is a file, not a folder" if root.exists() else "does not exist"
        raise ConfigError(
            f"{source}: dataset.root: {root} {problem}; point it at your dataset's folder (replica.enabled: true "
            "would generate a simulated replica there instead)"
        )
    registry = Path(canonical["models"]["registry"])
    if not registry.is_file():
        raise ConfigError(f"{source}: models.registry: {registry} not found; use config/models.yaml or your own copy")


# --- rerun keys ---------------------------------------------------------------------------------------------------
def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` in the one form its schema allows: ``27`` -> ``27.0`` for a number, ``60.0`` -> ``60`` for an
    integer, ``data/`` -> ``data`` for a path (``format: path``), objects with their schema defaults filled in
    (recursively)."""
    for branch in schema.get("oneOf", schema.get("anyOf", [])):
        if jsonschema.Draft202012Validator(branch).is_valid(value):
            return _coerce(value, branch)
    types = _types(schema)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and schema.get("format") == "path":
        # "data/", "./data" and "data" are one folder, and one rerun key; "~" is the user's home, as in a shell.
        return os.path.normpath(os.path.expanduser(value))
    if isinstance(value, int) and "number" in types and "integer" not in types:
        return float(value)
    if isinstance(value, float) and "integer" in types and "number" not in types and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return _fill_object(value, schema)
    if isinstance(value, (list, tuple)):
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        return [_coerce(v, prefix[i] if i < len(prefix) else items) for i, v in enumerate(value)]
    return value


def _fill_object(value: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        if key in value:
            out[key] = _coerce(value[key], sub)
        elif "default" in sub:
            out[key] = _coerce(sub["default"], sub)
        elif "object" in _types(sub):
            filled = _fill_object({}, sub)
            if filled:
                out[key] = filled
    out.update({key: v for key, v in value.items() if key not in properties})
    return out


def canonical_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every schema default filled in and every value in its schema type's one form.

    The schema is the only place defaults live: rules, scripts and the library read the canonical config instead of
    restating a default with ``.get(key, default)``.  Two configs that differ only in how a number is written
    (``27`` / ``27.0``) or in the order of their keys have equal canonical configs.
    """
    return _fill_object(config, schema)


def declared(schema: Mapping[str, Any], key: str) -> bool:
    """Whether the dotted config ``key`` names a setting ``schema`` declares (a property at every level, or a level
    whose ``additionalProperties`` admits any name)."""
    node: Any = schema
    for part in key.split("."):
        properties = node.get("properties", {}) if isinstance(node, Mapping) else {}
        if part in properties:
            node = properties[part]
            continue
        extra = node.get("additionalProperties") if isinstance(node, Mapping) else None
        if not extra:
            return False
        node = extra if isinstance(extra, Mapping) else {}
    return True


#: Schema annotations of settings that are in no rerun key, each passed to its rules as a Snakemake resource:
#: ``x-performance`` changes a step's speed or memory, never its results; ``x-log-only`` changes what a step writes
#: to its log, never its outputs.
KNOB_MARKS = ("x-performance", "x-log-only")


def knob_keys(schema: Mapping[str, Any], prefix: str = "") -> set[str]:
    """The dotted keys ``schema`` marks with one of :data:`KNOB_MARKS`: settings no output depends on, so they belong
    in no rerun key (they reach their rules as Snakemake ``resources``)."""
    found = set()
    for name, sub in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        if any(sub.get(mark) for mark in KNOB_MARKS):
            found.add(dotted)
        found |= knob_keys(sub, f"{dotted}.")
    return found


def _without(value: Any, path: str, knobs: set[str]) -> Any:
    """``value`` (the setting at ``path``) with the knobs below it left out."""
    if not isinstance(value, Mapping):
        return value
    return {k: _without(v, f"{path}.{k}", knobs) for k, v in value.items() if f"{path}.{k}" not in knobs}


def without_keys(canonical: Mapping[str, Any], dotted: set[str]) -> dict[str, Any]:
    """``canonical`` with the settings named by the dotted keys in ``dotted`` left out, at any depth."""
    return {k: _without(v, k, dotted) for k, v in canonical.items() if k not in dotted}


def rule_params(
    canonical: Mapping[str, Any],
    keys: Iterable[str],
    *,
    stage: str,
    version: int,
    schema: Mapping[str, Any],
    script: str | None = None,
) -> str:
    """The rerun key of one workflow step: the settings its outputs depend on, as one canonical JSON string.

    Parameters
    ----------
    canonical
        The output of :func:`canonical_config`.
    keys
        Dotted config keys (``"preprocess"``, ``"stimuli.scene_detection"``, ``"seed"``); a key absent from the
        canonical config (an optional key without a default, e.g. ``dataset.bids_task``) is left out.
    stage, version
        The step's name (for messages) and its algorithm version (:data:`vlencode.versions.STAGE_VERSIONS`), which
        joins the key, so a library change that alters the step's output reruns it.
    schema
        The config schema: every key must be one it declares (:func:`declared`), so a misspelt key is an error
        instead of a dependency silently dropped; its knobs (:func:`knob_keys`) are never in.
    script
        The content digest of the step's script: an edited script reruns its step, a touched one does not.

    Raises
    ------
    ValueError
        A key the schema does not declare or marks as a knob, naming the key and the step.

    Returns
    -------
    str
        JSON with sorted keys and fixed separators: Snakemake compares params by ``repr()``, so a string of
        canonical JSON makes equal settings equal keys.
    """
    knobs = knob_keys(schema)
    picked: dict[str, Any] = {}
    for key in keys:
        if not declared(schema, key):
            raise ValueError(f"step {stage}: config key {key!r} is not declared in the config schema; fix the key")
        if key in knobs:
            raise ValueError(f"step {stage}: config key {key!r} is a knob (x-performance, x-log-only); pass a resource")
        parts = key.split(".")
        node: Any = canonical
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            target = picked
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = _without(node, key, knobs)
    picked["version"] = version
    if script is not None:
        picked["script"] = script
    return json.dumps(picked, sort_keys=True, separators=(",", ":"))
