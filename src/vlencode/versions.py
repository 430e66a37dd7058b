"""The algorithm version of every workflow step, part of each step's rerun key.

Snakemake reruns a job when its params, inputs or its own script change, but not when library code it calls changes:
a fix in ``src/vlencode`` that alters a step's output would otherwise leave stale results in place.  Each step
therefore carries an explicit integer version here, joined to its params by :func:`vlencode.config.rule_params`;
bumping it reruns that step and, through its changed outputs, everything downstream.

Why an explicit version rather than a hash of the code: a hash of the modules a step imports changes with every
comment, rename or refactor (rerunning hours of work for nothing), misses behaviour that lives in third-party
libraries, and cannot tell which of a shared module's functions a step actually uses.  An explicit version changes
exactly when someone decides the output changed.  So that the decision is not forgotten, ``tests/test_versions.py``
holds small golden outputs (hashes of tiny deterministic inputs run through each step's library function) recorded
with the version they belong to: an output that changes while its version stays fails the test, whose message says to
bump the version here and record the new golden hash.
"""

from __future__ import annotations

#: Step name (the workflow rule) -> version of the algorithms it runs.
STAGE_VERSIONS: dict[str, int] = {
    "replica": 1,
    "cuts": 1,
    "events": 2,
    "preprocess": 3,
    "epochs": 1,
    "stimuli": 2,
    "features": 2,
    "resamples": 2,
    "fit": 2,
    "scores": 1,
    "compare": 6,
    "sites": 3,
    "recovery": 1,
    "calibration": 4,
    "electrodes": 2,
    "regions": 1,
    "qc": 1,
    "figures": 2,
    "tables": 1,
    "protocol": 1,
}
