"""The model registry, where each model's files come from, and the networks that turn stimuli into layer features.

:mod:`~vlencode.models.registry` is cheap (read at DAG-build time); :mod:`~vlencode.models.networks` loads torch
models and is imported only by the stages that run them.
"""

from vlencode.models.registry import ModelInstance, RegistryError, load_registry, model_instances
from vlencode.models.sources import SourceError

__all__ = ["ModelInstance", "RegistryError", "SourceError", "load_registry", "model_instances"]
