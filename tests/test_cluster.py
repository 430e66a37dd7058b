"""The cluster path: the paper DAG dry-run with the SLURM profile, and model-weight digests cached across DAG builds."""

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from vlencode import store
from vlencode.datasets import trial_movies
from vlencode.datasets.braintreebank import write_stand_in
from vlencode.models import sources
from vlencode.models.registry import model_instances
from vlencode.models.weights import entry_units, merge_units, write_stand_in_locks

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
GPU_RULES = {"features", "fit"}


def paper_units(config: dict) -> dict:
    """The weights units of the paper's zoo (what its weights step fetches)."""
    instances = model_instances(config)
    weights_dir = config["models"].get("weights_dir", "resources/models")
    return merge_units(
        [u for i in instances.values() if not i.components for u in entry_units(i.entry, weights_dir).values()]
    )


def write_stand_in_weights(workdir: Path, config: dict) -> None:
    """A lock for every weights unit of the paper's zoo: the weights step's outputs, as after a complete fetch."""
    write_stand_in_locks(workdir, paper_units(config))


def paper_workdir(tmp_path_factory, name: str) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp(name)
    write_stand_in(workdir / "braintreebank")
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["dataset"]["root"] = str(workdir / "braintreebank")
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    (workdir / "paper.yaml").write_text(yaml.safe_dump(config))
    return workdir, config


def dry_run(workdir: Path, offline: bool) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "paper.yaml"),
        "--workflow-profile",
        str(ROOT / "profiles" / "slurm"),
        "-n",
    ]
    # No --cores: a rule asking for workflow.cores would stop the DAG here, as it would on every cluster node.
    env = dict(os.environ, HF_HUB_OFFLINE="1" if offline else "0")
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=600, env=env)


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory):
    """The paper's DAG offline, on stand-in weights (their locks in place) and a stand-in dataset."""
    workdir, config = paper_workdir(tmp_path_factory, "paper")
    write_stand_in_weights(workdir, config)
    result = dry_run(workdir, offline=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return config, result.stdout


def test_offline_without_the_weights_planning_stops_with_one_line_per_missing_model(tmp_path_factory):
    workdir, config = paper_workdir(tmp_path_factory, "offline")
    result = dry_run(workdir, offline=True)
    assert result.returncode != 0
    output = result.stdout + result.stderr  # Snakemake prints a Snakefile's error on stdout
    lines = [line for line in output.splitlines() if "is missing; download" in line or "is not downloaded" in line]
    assert len(lines) == len(paper_units(config)) == 12
    assert (
        "simclr: simclr_base_25ep.pt is missing; download https://dl.fbaipublicfiles.com/slip/simclr_base_25ep.pt "
        "to resources/models/downloads/simclr_base_25ep.pt"
    ) in lines
    simcse = [line for line in lines if line.startswith("simcse: ")]
    assert simcse[0].startswith(
        "simcse: princeton-nlp/sup-simcse-bert-base-uncased is not downloaded; fetch it with `hf download "
        "princeton-nlp/sup-simcse-bert-base-uncased --exclude '*.h5'"
    ) and simcse[0].endswith(" --cache-dir resources/models/hub`")
    assert "huggingface-cli" not in output
    assert not (workdir / "results").exists() and not (workdir / "resources" / "models" / "locks").exists()


def test_online_the_paper_plans_one_fetch_per_release_file_and_hub_repository(tmp_path_factory):
    workdir, config = paper_workdir(tmp_path_factory, "online")
    result = dry_run(workdir, offline=False)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = [
        re.search(r"output: (\S+)", block).group(1) for rule, block in job_blocks(result.stdout) if rule == "weights"
    ]
    assert sorted(Path(w).stem for w in weights) == sorted(paper_units(config))
    assert {"release--slip-vit-b16", "hub--google-bert--bert-base-uncased--tokenizer"} <= set(paper_units(config))
    features = [block for rule, block in job_blocks(result.stdout) if rule == "features"]
    assert all("resources/models/locks/" in block for block in features if "concat" not in block)


def job_blocks(stdout: str) -> list[tuple[str, str]]:
    """(rule, the job's printed block) for every job of a dry run."""
    starts = list(re.finditer(r"^\s*rule (\w+):$", stdout, flags=re.MULTILINE))
    ends = [m.start() for m in starts[1:]] + [len(stdout)]
    return [(m.group(1), stdout[m.start() : end]) for m, end in zip(starts, ends)]


def test_the_paper_dag_has_one_job_per_unit_of_work(paper_dry_run):
    config, stdout = paper_dry_run
    counts = Counter(rule for rule, _ in job_blocks(stdout))
    recordings = [(r["subject"], r["trial"]) for r in config["dataset"]["recordings"]]
    movies = set(trial_movies(config).values())
    subjects = {subject for subject, _ in recordings}
    instances = model_instances(config)
    assert (len(recordings), len(movies), len(subjects), len(instances)) == (7, 5, 7, 26)
    assert counts == {
        "events": len(recordings),
        "preprocess": len(recordings),
        "epochs": len(recordings),
        "cuts": len(movies),
        "stimuli": len(movies),
        "features": len(movies) * len(instances),
        "resamples": len(subjects),
        "fit": len(subjects) * len(instances),
        "scores": 1,
        "compare": len(subjects),
        "sites": 1,
        "calibration": 1,
        "electrodes": 1,
        "regions": 1,
        "qc": 1,
        "figures": 1,
        "tables": 5,  # one page per table: electrodes, summary, family scores, subject sites, calibration
        "protocol": 1,
        "all": 1,
    }


def test_the_profile_requests_gpus_for_features_and_fit_whatever_device_says(paper_dry_run):
    config, stdout = paper_dry_run
    assert config["device"] == "auto"
    for rule, block in job_blocks(stdout):
        resources = re.search(r"resources: (.*)", block).group(1)
        assert ("gpu=1" in resources.split(", ")) == (rule in GPU_RULES), (rule, resources)
        if rule == "fit":
            assert "mem_mb=64000" in resources and "runtime=480" in resources


def test_small_per_trial_jobs_are_grouped_into_one_cluster_job(paper_dry_run):
    _, stdout = paper_dry_run
    groups = Counter(re.findall(r"Group job (\w+)", stdout))
    assert groups == {"events": 1, "epochs": 1, "resamples": 1}


def test_local_weights_are_hashed_once_and_again_only_when_changed(tmp_path, monkeypatch):
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path / "cache"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 4096)
    (model / "config.json").write_text("{}")
    hashed = []
    real = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda path: hashed.append(Path(path).name) or real(path))
    first = sources._files_digest("hf", str(model), None)
    assert sorted(hashed) == ["config.json", "model.safetensors"]
    hashed.clear()
    assert sources._files_digest("hf", str(model), None) == first  # a second Snakefile read: no hashing
    assert hashed == []
    (model / "model.safetensors").write_bytes(b"\1" * 4096)
    changed = sources._files_digest("hf", str(model), None)
    assert hashed == ["model.safetensors"]
    assert changed[0] != first[0] and changed[1] == first[1]


def test_the_slurm_profile_sets_resources_of_existing_rules_only():
    """A misspelt or removed rule in set-resources is ignored by Snakemake without a word."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    sources = [ROOT / "Snakefile", *(ROOT / "rules").glob("*.smk")]
    rules = {name for path in sources for name in re.findall(r"^\s*(?:local)?rule (\w+):", path.read_text(), re.M)}
    assert set(profile["set-resources"]) <= rules, set(profile["set-resources"]) - rules
