"""Fast against refit protocol on the embedded replica: do the two bootstraps call the same contacts?

Runs the workflow up to the sites table twice on the embedded default (planted replica, the demo config otherwise),
once with ``bootstrap.protocol: fast`` and once with ``refit``, both with ``--resamples`` resamples (the refit
protocol reruns every cross-validation on each resample: use ``--subjects`` and ``--models`` to keep it small).  Each
run has a directory of its own under ``--workdir``; ``--seed-from`` copies an existing run's ``resources``,
``results`` and ``.snakemake`` there first, so the stages before the fits (replica, features, epochs) are reused and
only the resamples, fits and statistics run again.

Per keep rule, Cohen's kappa (:func:`vlencode.validation.agreement.cohen_kappa`) over the electrodes of all subjects of
the two protocols' calls, as rule ``recovery`` defines them: vision (the best vision model keeps >= ``min_bins`` bins,
scene alignment), language (likewise, word alignment) and multimodal (a multimodal site, word alignment); beside it
each protocol's number of calls.

With ``--trained-only`` neither run fits the random-init twins (no call compared reads them), and with ``--subjects``
only those subjects' comparisons are run, their sites computed here with Benjamini-Hochberg over their electrodes
alone: the refit run's banded concatenation baselines otherwise take hours.

Example (the demo's 200 resamples each, the unimodal models of subjects 1 and 3: about 8 minutes on 2 cores after
``make demo``, whose stages up to the features it reuses)::

    .venv/bin/python benchmarks/protocol_agreement.py --workdir /tmp/agreement --resamples 200 --seed-from . \\
        --trained-only --subjects 1,3 --models minilm,efficientnet-lite0 --out benchmarks/out/protocol-agreement.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import yaml
from workflow_runs import run_workflow, write_config

from vlencode.stats.sites import sites_from_comparisons
from vlencode.validation.agreement import cohen_kappa
from vlencode.validation.recovery import PRIMARY_ALIGNMENT, called

PROTOCOLS = ("fast", "refit")


def protocol_config(
    workdir: Path, protocol: str, n_resamples: int, trained_only: bool = False, models: list[str] | None = None
) -> Path:
    """The shipped config with ``protocol`` and ``n_resamples``; with ``trained_only``, no random-init twins (no call
    of rule ``recovery`` reads them: they enter trained vs random and equal skill only); with ``models``, only those
    registry entries (``models.use``)."""

    def edit(config: dict) -> None:
        config["bootstrap"].update(protocol=protocol, n_resamples=n_resamples)
        if trained_only:
            config["models"]["random_seeds"] = []
        if models:
            config["models"]["use"] = list(models)

    return write_config(workdir, edit)


def agreement(sites: dict[str, pd.DataFrame], min_bins: int) -> pd.DataFrame:
    """One row per keep rule x call (:func:`vlencode.validation.recovery.called` in the category's primary alignment):
    Cohen's kappa of the two protocols' calls and each protocol's count."""
    keys = ["keep_rule", "alignment", "subject", "electrode"]
    fast, refit = (sites[p].sort_values(keys).reset_index(drop=True) for p in PROTOCOLS)
    if not fast[keys].equals(refit[keys]):
        raise ValueError("the fast and refit sites tables cover different electrodes; rerun both")
    rows = []
    for rule in fast["keep_rule"].unique():
        for category, alignment in PRIMARY_ALIGNMENT.items():
            here = (fast["keep_rule"] == rule) & (fast["alignment"] == alignment)
            a, b = (called(table[here], category, min_bins).to_numpy(bool) for table in (fast, refit))
            rows.append(
                {
                    "keep_rule": rule,
                    "call": category,
                    "alignment": alignment,
                    "electrodes": int(here.sum()),
                    "calls_fast": int(a.sum()),
                    "calls_refit": int(b.sum()),
                    "kappa": cohen_kappa(a, b),
                }
            )
    return pd.DataFrame(rows)


def subset_sites(paths: list[Path], configfile: Path) -> pd.DataFrame:
    """The sites table (:func:`vlencode.stats.sites.sites_from_comparisons`) of some subjects' comparisons, with the
    config's ``fdr_q``, ``multimodal_tests``, ``min_bins`` and ``n_resamples``."""
    config = yaml.safe_load(configfile.read_text())
    statistics = config["statistics"]
    return sites_from_comparisons(
        [str(p) for p in paths],
        [str(p).replace("_comparisons.parquet", "_selection.parquet") for p in paths],
        q=statistics["fdr_q"],
        tests=statistics["multimodal_tests"],
        min_bins=statistics["min_bins"],
        n_resamples=config["bootstrap"]["n_resamples"],
    )[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--seed-from", type=Path, help="a finished run whose resources and results to start from")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--trained-only",
        action="store_true",
        help="fit no random-init twins (halves the refit run; the calls compared do not use them)",
    )
    parser.add_argument(
        "--subjects",
        help="comma-separated: run only these subjects' comparisons, with the false "
        "discovery control over their electrodes alone (a smaller refit run)",
    )
    parser.add_argument(
        "--models",
        help="comma-separated registry names: fit only these (e.g. the unimodal models, "
        "whose calls the multimodal networks and baselines do not change)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    subjects = args.subjects.split(",") if args.subjects else None
    models = args.models.split(",") if args.models else None
    sites, seconds = {}, {}
    for protocol in PROTOCOLS:
        workdir = args.workdir / protocol
        workdir.mkdir(parents=True, exist_ok=True)
        if args.seed_from and not (workdir / "results").exists():
            for name in ("resources", "results", ".snakemake"):
                if (args.seed_from / name).exists():
                    shutil.copytree(
                        args.seed_from / name,
                        workdir / name,
                        symlinks=True,
                        ignore=shutil.ignore_patterns("locks", "incomplete"),
                    )
        configfile = protocol_config(workdir, protocol, args.resamples, args.trained_only, models)
        stats = workdir / "results" / "stats"
        if subjects is None:
            seconds[protocol] = run_workflow(workdir, configfile, ["results/stats/sites.parquet"], args.cores)
            sites[protocol] = pd.read_parquet(stats / "sites.parquet")
        else:
            paths = [f"results/stats/sub-{s}_comparisons.parquet" for s in subjects]
            seconds[protocol] = run_workflow(workdir, configfile, paths, args.cores)
            sites[protocol] = subset_sites([workdir / p for p in paths], configfile)
    min_bins = yaml.safe_load(configfile.read_text())["statistics"]["min_bins"]
    table = agreement(sites, min_bins)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print({p: round(s) for p, s in seconds.items()}, "seconds")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "n_resamples": args.resamples,
                    "trained_only": args.trained_only,
                    "subjects": subjects,
                    "models": models,
                    "seconds": seconds,
                    "rows": table.to_dict("records"),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
