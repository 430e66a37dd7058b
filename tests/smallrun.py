"""The small workflow run the workflow tests share: its config, and Snakemake in a subprocess on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SITECUSTOM = Path(__file__).resolve().parent / "sitecustom"


def small_config(workdir: Path) -> dict:
    """The embedded default, shrunk: two minutes of each trial, 16 contacts, a few resamples."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    # Relative to the run's directory: a copy of the finished run (tests/test_report.py) has the same rerun keys.
    config["dataset"]["root"] = "resources/braintreebank-replica"
    config["replica"].update(minutes=2, electrodes_per_subject=16)
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    config["bootstrap"]["n_resamples"] = 20
    config["statistics"]["calibration"].update(minutes=2, electrodes_per_category=2, n_resamples=20, refit_resamples=4)
    return config


def snakemake(
    workdir: Path, *args: str, configfile: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run Snakemake on ``workdir`` (its ``config.yaml`` unless ``configfile``); ``env`` adds variables read by
    tests/sitecustom/sitecustomize.py."""
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile or workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITECUSTOM), environment.get("PYTHONPATH")]))
    return subprocess.run(
        command, capture_output=True, text=True, cwd=workdir, timeout=1800, env=environment, check=False
    )


def planned_jobs(workdir: Path, configfile: Path | None = None, env: dict[str, str] | None = None) -> dict[str, int]:
    """``{rule: number of jobs}`` a dry run would execute (the ``all`` target left out)."""
    result = snakemake(workdir, "-n", "--quiet", "rules", configfile=configfile, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in {"total", "job", "all"}:
            jobs[parts[0]] = int(parts[1])
    return jobs
