"""Run the workflow on a variant of the shipped config, in a directory of its own (benchmarks that need whole runs)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_config(workdir: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``workdir/config.yaml``: the shipped config with this checkout's model registry, changed by ``edit``."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    edit(config)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_workflow(workdir: Path, configfile: Path, targets: Sequence[str], cores: int) -> float:
    """Run Snakemake on ``targets`` in ``workdir`` with ``configfile``; return the wall time in seconds."""
    snakemake = Path(sys.executable).with_name("snakemake")
    start = time.perf_counter()
    subprocess.run(
        [
            str(snakemake),
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(configfile),
            "--cores",
            str(cores),
            *targets,
            "--quiet",
            "progress",
        ],
        check=True,
    )
    return time.perf_counter() - start
