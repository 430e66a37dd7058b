"""Configuration checks that run before the workflow plans anything: schema, then the files the config names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """An invalid configuration; the message is one line naming the key and the fix."""


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
    return error.message


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every violation of ``schema`` by ``config``, one line each: ``<dotted.key>: <what is wrong>``."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{_key_path(e)}: {_describe(e)}" for e in errors]


def validate_config(config: Mapping[str, Any], schema_path: str | os.PathLike, source: str = "config") -> None:
    """Raise :class:`ConfigError` with a one-line message for the first problem of ``config``.

    Checks the JSON schema, then that the files the config names exist (the dataset root, unless the replica builds
    it, and the model registry).
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    problems = schema_errors(config, schema)
    if problems:
        raise ConfigError(f"{source}: {problems[0]} (see config/README.md)")
    replica = config.get("replica", {}).get("enabled", False)
    root = Path(config["dataset"]["root"])
    if not replica and not root.exists():
        raise ConfigError(
            f"{source}: dataset.root: {root} does not exist; point it at your dataset or set replica.enabled: true"
        )
    registry = Path(config["models"]["registry"])
    if not registry.is_file():
        raise ConfigError(f"{source}: models.registry: {registry} not found; use config/models.yaml or your own copy")
