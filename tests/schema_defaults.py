"""The config schema's defaults for tests that build a settings class from a few keys: the schema owns every default
(``workflow/schemas/config.schema.yaml``), so a test never restates one."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from vlencode.config import canonical_config

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml").read_text())


def schema_defaults(section: str, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The canonical config section ``section`` of a config that sets only ``changes`` there (the schema's defaults
    fill the rest, nested sections key by key)."""
    return canonical_config({section: dict(changes or {})}, SCHEMA)[section]
