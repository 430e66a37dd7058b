"""False keeps and false calls of both keep rules on a null replica (nothing planted: every electrode silent).

Runs the workflow up to the sites table on the embedded default with ``replica.plant_null: true`` (the demo config
otherwise, or other subjects and seeds), in a directory of its own, then summarises, per alignment and keep rule:

- the fraction of (model, electrode, bin) kept, over every model of every subject (nominal rate of a 95% lower
  bound: 2.5%);
- the fraction of electrodes "called": the best vision (scene) or language (word) model keeps >= ``min_bins`` bins,
  as rule ``recovery`` calls a planted contact;
- the fraction of electrodes given any category by rule ``sites`` (vision, language or multimodal: at scene
  cuts the language networks' calls too, and at words the vision networks'), every one of them false;
- multimodal sites (any is false);
- the equal-skill comparison (two random inits of one architecture): eligible electrodes and "a beats b" calls after
  Benjamini-Hochberg; likewise "trained beats random" (on null data both have no skill).

Example (the two null replicas of config/README.md)::

    .venv/bin/python benchmarks/null_replica.py --workdir /tmp/null-a --out benchmarks/out/null-a.json
    .venv/bin/python benchmarks/null_replica.py --workdir /tmp/null-b --subjects 4,6,7 --seed 1 \\
        --out benchmarks/out/null-b.json

At a paper trial's length, under the paper config's inflation, with fewer models (config/README.md, "Calibration at
the paper's length")::

    .venv/bin/python benchmarks/null_replica.py --workdir /tmp/null-40a --subjects 6,1 --minutes 40 \\
        --inflation shifted --cores 2 --models minilm,efficientnet-lite0,tiny-clip --out benchmarks/out/null-40a.json

At 2 hours (trials other than 0 hold the window) and at the paper config's 1,000 resamples ("The band's standard
error")::

    .venv/bin/python benchmarks/null_replica.py --workdir /tmp/null-120a --subjects 3/2,2/4 --minutes 120 --seed 5 \\
        --inflation shifted --cores 2 --models minilm,efficientnet-lite0,tiny-clip --out benchmarks/out/null-120a.json
    .venv/bin/python benchmarks/null_replica.py --workdir /tmp/null-40k --subjects 6,1 --minutes 40 --resamples 1000 \\
        --inflation shifted --cores 2 --models minilm,efficientnet-lite0,tiny-clip --out benchmarks/out/null-40k.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import yaml
from workflow_runs import run_workflow, write_config


def null_config(
    workdir: Path,
    subjects: list[str],
    seed: int,
    minutes: float | None = None,
    models: list[str] | None = None,
    inflation: str | None = None,
    resamples: int | None = None,
) -> Path:
    """The shipped config with nothing planted, the given recordings (``subject`` for its trial 0, or
    ``subject/trial``) and ``seed`` for replica and analysis;
    optionally another recording length, another model list (``models.use``; without a concatenation baseline the
    multimodal tests against it are dropped), ``bootstrap.inflation`` or ``bootstrap.n_resamples``."""

    def edit(config: dict) -> None:
        config["dataset"]["root"] = str(workdir / "resources" / "braintreebank-replica")
        config["dataset"]["recordings"] = [
            {"subject": subject, "trial": trial or "0"} for subject, _, trial in (s.partition("/") for s in subjects)
        ]
        config["replica"].update(plant_null=True, seed=seed)
        config["seed"] = seed
        if minutes is not None:
            config["replica"]["minutes"] = minutes
        if models:
            config["models"]["use"] = models
            if not any(model.startswith("concat") for model in models):
                # The concatenation tests need a concatenation baseline: rule sites refuses them without one.
                tests = config["statistics"]["multimodal_tests"]
                config["statistics"]["multimodal_tests"] = [test for test in tests if not test.startswith("concat")]
        if inflation is not None:
            config["bootstrap"]["inflation"] = inflation
        if resamples is not None:
            config["bootstrap"]["n_resamples"] = resamples

    return write_config(workdir, edit)


def summarise(results: Path, min_bins: int) -> pd.DataFrame:
    """One row per alignment x keep rule (see the module docstring)."""
    comparisons = pd.read_parquet(results / "stats" / "comparisons.parquet")
    selection = pd.concat(
        [pd.read_parquet(p) for p in sorted((results / "stats").glob("sub-*_selection.parquet"))], ignore_index=True
    )
    sites = pd.read_parquet(results / "stats" / "sites.parquet")
    scores = pd.read_parquet(results / "encoding" / "scores.parquet")
    n_bins = scores.groupby("alignment")["bin_time_s"].nunique()
    rows = []
    for (alignment, rule), group in comparisons.groupby(["alignment", "keep_rule"]):
        chosen = selection[(selection["alignment"] == alignment) & (selection["keep_rule"] == rule)]
        kept = chosen[chosen["selection"] == "kept"]
        best = chosen[chosen["selection"] == f"best_{'vision' if alignment == 'scene' else 'language'}"]
        equal = group[(group["comparison"] == "equal_skill") & group["eligible"].astype(bool)]
        all_equal = group[group["comparison"] == "equal_skill"]
        twins = group[(group["comparison"] == "trained_vs_random") & group["eligible"].astype(bool)]
        site = sites[(sites["alignment"] == alignment) & (sites["keep_rule"] == rule)]
        rows.append(
            {
                "alignment": alignment,
                "keep_rule": rule,
                "bins_kept": float(kept["n_kept"].sum() / (len(kept) * n_bins[alignment])),
                "electrodes": int(len(best)),
                "electrodes_called": float((best["n_kept"] >= min_bins).mean()),
                "electrodes_categorised": float((site["category"] != "none").mean()),
                "multimodal_sites": int((site["category"] == "multimodal").sum()),
                "equal_skill_eligible": float(len(equal) / max(len(all_equal), 1)),
                "equal_skill_called": float(equal["significant"].mean()) if len(equal) else float("nan"),
                "trained_vs_random_called": float(twins["significant"].mean()) if len(twins) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--subjects",
        default="1,5,3",
        help="recordings, comma-separated: a subject (its trial 0) or subject/trial, e.g. 3/2 (subject 3's trial 2, "
        "long enough for --minutes 120)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--minutes", type=float, help="replica.minutes (the shipped config's 8 when not given)")
    parser.add_argument("--models", help="models.use, comma-separated (the shipped config's when not given)")
    parser.add_argument("--inflation", choices=["none", "shifted"], help="bootstrap.inflation")
    parser.add_argument("--resamples", type=int, help="bootstrap.n_resamples (the shipped config's 200 when not given)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    configfile = null_config(
        args.workdir,
        args.subjects.split(","),
        args.seed,
        args.minutes,
        args.models.split(",") if args.models else None,
        args.inflation,
        args.resamples,
    )
    seconds = run_workflow(
        args.workdir, configfile, ["results/stats/sites.parquet", "results/encoding/scores.parquet"], args.cores
    )
    min_bins = yaml.safe_load(configfile.read_text())["statistics"]["min_bins"]
    table = summarise(args.workdir / "results", min_bins)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "subjects": args.subjects,
                    "seed": args.seed,
                    "minutes": args.minutes,
                    "models": args.models,
                    "inflation": args.inflation,
                    "resamples": args.resamples,
                    "seconds": seconds,
                    "rows": table.to_dict("records"),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
