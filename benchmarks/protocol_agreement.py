"""Fast against refit protocol on the embedded replica: do the two bootstraps call the same contacts?

Runs the workflow up to the sites table twice on the embedded default (planted replica, the demo config otherwise),
once with ``bootstrap.protocol: fast`` and once with ``refit``, both with ``--resamples`` resamples (the refit
protocol reruns every cross-validation on each resample, so it is run with fewer resamples than the demo's).  Each
run has a directory of its own under ``--workdir``; ``--seed-from`` copies an existing run's ``resources``,
``results`` and ``.snakemake`` there first, so the stages before the fits (replica, features, epochs) are reused and
only the resamples, fits and statistics run again.

Per keep rule, Cohen's kappa (:func:`vlencode.stats.agreement.cohen_kappa`) over the electrodes of all subjects of
the two protocols' calls, as rule ``recovery`` defines them: vision (the best vision model keeps >= ``min_bins`` bins,
scene alignment), language (likewise, word alignment) and multimodal (a multimodal site, word alignment); beside it
each protocol's number of calls.

Example (the figures of config/README.md)::

    .venv/bin/python benchmarks/protocol_agreement.py --workdir /tmp/agreement --resamples 20 --seed-from . \\
        --out benchmarks/out/protocol-agreement.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from vlencode.stats.agreement import cohen_kappa

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("fast", "refit")
#: Call -> (alignment, how a row of the sites table is called).
CALLS = {
    "vision": ("scene", lambda s, m: s["n_kept_best_vision"] >= m),
    "language": ("word", lambda s, m: s["n_kept_best_language"] >= m),
    "multimodal": ("word", lambda s, m: s["category"] == "multimodal"),
}


def protocol_config(workdir: Path, protocol: str, n_resamples: int) -> Path:
    """The shipped config with ``protocol`` and ``n_resamples``, the model registry of this checkout."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    config["bootstrap"].update(protocol=protocol, n_resamples=n_resamples)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def agreement(sites: dict[str, pd.DataFrame], min_bins: int) -> pd.DataFrame:
    """One row per keep rule x call: kappa of the two protocols' calls and each protocol's count."""
    keys = ["subject", "electrode", "alignment", "keep_rule"]
    both = sites["fast"].merge(sites["refit"], on=keys, suffixes=("_fast", "_refit"))
    rows = []
    for rule, group in both.groupby("keep_rule"):
        for call, (alignment, decide) in CALLS.items():
            here = group[group["alignment"] == alignment]
            decisions = {}
            for protocol in PROTOCOLS:
                columns = {c[: -len(protocol) - 1]: here[c] for c in here if c.endswith(f"_{protocol}")}
                decisions[protocol] = decide(columns, min_bins).to_numpy(bool)
            rows.append({"keep_rule": rule, "call": call, "alignment": alignment, "electrodes": len(here),
                         "calls_fast": int(decisions["fast"].sum()), "calls_refit": int(decisions["refit"].sum()),
                         "kappa": cohen_kappa(decisions["fast"], decisions["refit"])})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--seed-from", type=Path, help="a finished run whose resources and results to start from")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    snakemake = Path(sys.executable).with_name("snakemake")
    sites, seconds = {}, {}
    for protocol in PROTOCOLS:
        workdir = args.workdir / protocol
        workdir.mkdir(parents=True, exist_ok=True)
        if args.seed_from and not (workdir / "results").exists():
            for name in ("resources", "results", ".snakemake"):
                if (args.seed_from / name).exists():
                    shutil.copytree(args.seed_from / name, workdir / name, symlinks=True,
                                    ignore=shutil.ignore_patterns("locks", "incomplete"))  # fmt: skip
        configfile = protocol_config(workdir, protocol, args.resamples)
        start = time.perf_counter()
        subprocess.run([str(snakemake), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
                        "--configfile", str(configfile), "--cores", str(args.cores), "results/stats/sites.parquet",
                        "--quiet", "progress"], check=True)  # fmt: skip
        seconds[protocol] = time.perf_counter() - start
        sites[protocol] = pd.read_parquet(workdir / "results" / "stats" / "sites.parquet")
    min_bins = yaml.safe_load(configfile.read_text())["statistics"]["min_bins"]
    table = agreement(sites, min_bins)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print({p: round(s) for p, s in seconds.items()}, "seconds")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"n_resamples": args.resamples, "seconds": seconds,
                                        "rows": table.to_dict("records")}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
