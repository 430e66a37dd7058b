"""Where the workflow writes its outputs: each path pattern typed once, read by the rules (as outputs, as inputs of
the steps downstream, as targets) and by the tests.

Patterns are relative to the working directory and name their wildcards in braces (``{subject}``, ``{trial}``,
``{movie}``, ``{model}``, ``{table}``, ``{name}``); a rule's output is the pattern itself, a consumer's input
:func:`output_path` with the wildcards filled in.
"""

from __future__ import annotations

#: Output name -> path pattern.
OUTPUTS: dict[str, str] = {
    "cuts": "results/stimuli/movie-{movie}_cuts.parquet",
    "events": "results/events/sub-{subject}_trial-{trial}.parquet",
    "neural": "results/neural/sub-{subject}_trial-{trial}.zarr",
    "epochs": "results/epochs/sub-{subject}_trial-{trial}.zarr",
    "stimuli": "results/stimuli/movie-{movie}.parquet",
    "frames": "results/stimuli/movie-{movie}_frames.zarr",
    "features": "results/features/model-{model}/movie-{movie}.zarr",
    "resamples": "results/encoding/sub-{subject}/resamples.zarr",
    "fit": "results/encoding/sub-{subject}/model-{model}.zarr",
    "scores": "results/encoding/scores.parquet",
    "subject_comparisons": "results/stats/sub-{subject}_comparisons.parquet",
    "subject_selection": "results/stats/sub-{subject}_selection.parquet",
    "comparisons": "results/stats/comparisons.parquet",
    "sites": "results/stats/sites.parquet",
    "recovery": "results/validation/recovery.parquet",
    "calibration": "results/validation/calibration.parquet",
    "electrodes": "results/regions/electrodes.parquet",
    "summary": "results/regions/summary.parquet",
    "family_scores": "results/regions/family_scores.parquet",
    "subject_sites": "results/regions/subject_sites.parquet",
    "qc": "results/qc/{name}.parquet",
    "figure": "results/figures/{name}.{ext}",
    "table_page": "results/tables/{table}.html",
    "protocol": "results/report/protocol.html",
}


def output_path(output: str, /, **wildcards: str) -> str:
    """The path of one output: its pattern with ``wildcards`` filled in.

    Raises
    ------
    KeyError
        No output of that name, or a wildcard of its pattern is not given.
    """
    return OUTPUTS[output].format(**wildcards)
