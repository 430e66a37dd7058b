"""The study's extraction against the pooled default on the embedded replica: how much the choice changes scores and
site calls.

Runs the workflow up to the sites and the recovery table on the embedded default with ``features.extraction: study``
in a directory of its own (``--seed-from`` copies a finished pooled run's ``resources``, ``results`` and
``.snakemake`` there first, so the replica, events, epochs and stimuli are reused and only the features, fits and
statistics run again), then compares it with that pooled run:

- per subject, model and alignment: the chosen layer of each extraction, and the median over electrodes of the chosen
  layer's test r averaged over 50-500 ms after the event (the window config/README.md reports effect sizes in);
- per keep rule and call (vision at scenes, language and multimodal at words, as rule ``recovery`` calls them):
  Cohen's kappa of the two extractions' calls over every electrode, and each extraction's number of calls;
- the recovery of the planted truth (precision, recall) per category under each extraction.

Example (after ``make demo``, from the repository root; about an hour on 2 cores)::

    .venv/bin/python benchmarks/extraction_agreement.py --workdir /tmp/study-extraction --seed-from . \\
        --out benchmarks/out/extraction-agreement.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml
from workflow_runs import run_workflow, write_config

from vlencode.validation.agreement import cohen_kappa
from vlencode.validation.recovery import PRIMARY_ALIGNMENT, called

#: The window of the effect sizes reported (seconds after the event), as config/README.md.
WINDOW_S = (0.05, 0.5)


def study_config(workdir: Path) -> Path:
    """The shipped config with the study's extraction (its relative replica root resolves inside ``workdir``, so a
    seeded run's stages before the features are reused)."""

    def edit(config: dict) -> None:
        config["features"]["extraction"] = "study"

    return write_config(workdir, edit)


def layer_scores(results: Path) -> pd.DataFrame:
    """Per subject, model and alignment: the chosen layer and the median over electrodes of its mean test r in
    :data:`WINDOW_S`."""
    scores = pd.read_parquet(results / "encoding" / "scores.parquet")
    window = scores[scores["bin_time_s"].between(*WINDOW_S)]
    per_electrode = window.groupby(["subject", "model", "alignment", "layer", "electrode"])["test_r"].mean()
    return (
        per_electrode.groupby(["subject", "model", "alignment", "layer"]).median().rename("median_test_r").reset_index()
    )


def call_agreement(pooled: pd.DataFrame, study: pd.DataFrame, min_bins: int) -> pd.DataFrame:
    """One row per keep rule x call: kappa of the two extractions' calls and each one's count."""
    keys = ["keep_rule", "alignment", "subject", "electrode"]
    a_sites, b_sites = (s.sort_values(keys).reset_index(drop=True) for s in (pooled, study))
    if not a_sites[keys].equals(b_sites[keys]):
        raise ValueError("the two runs' sites tables cover different electrodes; rerun both on the same replica")
    rows = []
    for rule in a_sites["keep_rule"].unique():
        for category, alignment in PRIMARY_ALIGNMENT.items():
            here = (a_sites["keep_rule"] == rule) & (a_sites["alignment"] == alignment)
            a, b = (called(table[here], category, min_bins).to_numpy(bool) for table in (a_sites, b_sites))
            rows.append(
                {
                    "keep_rule": rule,
                    "call": category,
                    "alignment": alignment,
                    "electrodes": int(here.sum()),
                    "calls_pooled": int(a.sum()),
                    "calls_study": int(b.sum()),
                    "kappa": cohen_kappa(a, b),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--pooled", type=Path, default=Path("."), help="the finished pooled run (default: here)")
    parser.add_argument("--seed-from", type=Path, help="a finished run whose resources and results to start from")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.seed_from and not (args.workdir / "results").exists():
        for name in ("resources", "results", ".snakemake"):
            if (args.seed_from / name).exists():
                shutil.copytree(
                    args.seed_from / name,
                    args.workdir / name,
                    symlinks=True,
                    ignore=shutil.ignore_patterns("locks", "incomplete"),
                )
    configfile = study_config(args.workdir)
    seconds = run_workflow(
        args.workdir,
        configfile,
        ["results/stats/sites.parquet", "results/validation/recovery.parquet", "results/encoding/scores.parquet"],
        args.cores,
    )
    min_bins = yaml.safe_load(configfile.read_text())["statistics"]["min_bins"]
    runs = {"pooled": args.pooled / "results", "study": args.workdir / "results"}
    layers = pd.merge(
        *(
            layer_scores(path).rename(columns={"layer": f"layer_{name}", "median_test_r": f"median_test_r_{name}"})
            for name, path in runs.items()
        ),
        on=["subject", "model", "alignment"],
    )
    layers["difference"] = layers["median_test_r_study"] - layers["median_test_r_pooled"]
    calls = call_agreement(*(pd.read_parquet(path / "stats" / "sites.parquet") for path in runs.values()), min_bins)
    recovery = pd.concat(
        [
            pd.read_parquet(path / "validation" / "recovery.parquet").assign(extraction=name)
            for name, path in runs.items()
        ]
    )
    recovery = recovery[recovery["primary"]][
        ["extraction", "keep_rule", "category", "n_planted", "n_true_called", "n_called", "precision", "recall"]
    ]
    with pd.option_context("display.width", 160):
        print(layers.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print(calls.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        print(recovery.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"study run: {seconds:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "layers": layers.to_dict("records"),
                    "calls": calls.to_dict("records"),
                    "recovery": recovery.to_dict("records"),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
