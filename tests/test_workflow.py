"""The whole workflow, run by Snakemake in a subprocess on a small replica: outputs, contracts, reruns, resumption."""

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlencode import store

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
pytestmark = pytest.mark.slow


def small_config(workdir: Path) -> dict:
    """The embedded default, shrunk: two minutes of each trial, 16 contacts, a few resamples."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["dataset"]["root"] = str(workdir / "resources" / "braintreebank-replica")
    config["replica"].update(minutes=2, electrodes_per_subject=16)
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    config["bootstrap"]["n_resamples"] = 20
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
        "--cores", "2",
        *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=1800)


def dry_run_jobs(workdir: Path) -> set[str]:
    """The rule names a dry run would execute."""
    result = snakemake(workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-3000:]
    names = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in {"total", "job"}:
            names.add(parts[0])
    return names


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(small_config(workdir)))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_every_stage_writes_its_contract(finished_run):
    results = finished_run / "results"
    scores = store.read_parquet(results / "encoding" / "scores.parquet")
    expected = {"subject", "alignment", "model", "family", "init", "layer", "electrode", "bin_time_s", "val_r",
                "test_r", "alpha", "val_lo", "val_hi", "kept"}  # fmt: skip
    assert expected <= set(scores.columns)
    assert set(scores["subject"]) == {"1", "3", "5"}
    assert set(scores["alignment"]) == {"word", "scene"}
    assert {"trained", "random"} <= set(scores["init"])
    assert np.isfinite(scores["test_r"]).all()
    # Subjects 1 and 5 watched the same movie: its stimuli and features are computed once.
    assert sorted(p.name for p in (results / "stimuli").glob("*.parquet")) == [
        "movie-cars-2.parquet",
        "movie-fantastic-mr-fox.parquet",
    ]
    fit = store.open_zarr(results / "encoding" / "sub-1" / "model-minilm.zarr")
    assert set(fit.attrs["params"]) >= {"encoding", "bootstrap", "seed"}
    assert fit.attrs["inputs"]


def test_a_finished_run_has_nothing_left_to_do(finished_run):
    assert dry_run_jobs(finished_run) == set()


def test_a_changed_setting_reruns_exactly_what_depends_on_it(finished_run):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["features"]["projection"]["seed"] = 1
    changed = finished_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(finished_run),
         "--configfile", str(changed), "-n", "--quiet", "rules"],
        capture_output=True, text=True, cwd=finished_run, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reruns = {line.split()[0] for line in result.stdout.splitlines() if len(line.split()) == 2}
    assert {"features", "fit", "scores"} <= reruns
    assert not reruns & {"make_replica", "events", "preprocess", "epochs", "stimuli", "resamples"}
