"""Named inputs keyed by trial, movie, recording or model: how a rule names each file of a collection, and how its
script gets the mapping back, so that no script zips a list of keys with a parallel list of paths.

A rule's input function returns :func:`keyed_inputs` (passed through Snakemake's ``unpack``): one named input
``"<role>/<key>"`` per file, a pair key written ``"<subject>/<trial>"`` (a recording) or ``"<subject>/<model>"`` (a
fit).  The script reads :func:`keyed` (or :func:`keyed_pairs`) of its ``snakemake.input``; the same names are the
keys of the inputs' content hashes in the output's provenance (:func:`vlencode.store.input_hashes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Joins a role and the parts of a key in an input's name.
SEPARATOR = "/"


def keyed_inputs(role: str, paths: Mapping[str | tuple[str, ...], Any]) -> dict[str, Any]:
    """Named inputs ``"<role>/<key>"`` -> path for a rule, in the mapping's order.

    Raises
    ------
    ValueError
        A key part contains the separator ``/`` (it could not be read back).
    """
    named = {}
    for key, path in paths.items():
        parts = (key,) if isinstance(key, str) else tuple(key)
        if any(SEPARATOR in str(part) for part in parts):
            raise ValueError(f"{role}: input key {key!r} contains {SEPARATOR!r}; it cannot name an input")
        named[SEPARATOR.join((role, *map(str, parts)))] = path
    return named


def _of_role(inputs: Any, role: str) -> Iterable[tuple[list[str], str]]:
    prefix = role + SEPARATOR
    for name, path in inputs.items():
        if isinstance(name, str) and name.startswith(prefix):
            yield name[len(prefix) :].split(SEPARATOR), str(path)


def keyed(inputs: Any, role: str) -> dict[str, str]:
    """The paths of one role keyed as the rule keyed them (trial, movie or model), in the rule's order.

    Parameters
    ----------
    inputs : ``snakemake.input`` or a mapping of input name -> path
    role : str
    """
    return {SEPARATOR.join(parts): path for parts, path in _of_role(inputs, role)}


def keyed_pairs(inputs: Any, role: str) -> dict[tuple[str, str], str]:
    """The paths of one role keyed by a pair, ``(subject, trial)`` of a recording or ``(subject, model)`` of a fit,
    in the rule's order.

    Raises
    ------
    ValueError
        An input of the role is not keyed by a pair.
    """
    out = {}
    for parts, path in _of_role(inputs, role):
        if len(parts) != 2:
            raise ValueError(f"{role}: input {path} is not keyed by a pair ({'/'.join(parts)})")
        out[(parts[0], parts[1])] = path
    return out
