"""The whole workflow, run by Snakemake in a subprocess on a small replica: outputs, contracts, exact reruns."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from smallrun import ROOT, SNAKEMAKE, planned_jobs

from vlencode import steps, store

pytestmark = pytest.mark.slow


def test_every_stage_writes_its_contract(small_workflow):
    results = small_workflow / "results"
    scores = store.read_parquet(results / "encoding" / "scores.parquet")
    expected = {
        "subject",
        "alignment",
        "model",
        "family",
        "init",
        "layer",
        "electrode",
        "bin_time_s",
        "val_r",
        "test_r",
        "alpha",
        "val_lo",
        "val_hi",
        "kept",
    }
    assert expected <= set(scores.columns)
    assert set(scores["subject"]) == {"1", "3", "5"}
    assert set(scores["alignment"]) == {"word", "scene"}
    assert {"trained", "random"} <= set(scores["init"])
    assert np.isfinite(scores["test_r"]).all()
    # Subjects 1 and 5 watched the same movie: its stimuli and features are computed once.
    tables = (p.name for p in (results / "stimuli").glob("movie-*.parquet") if not p.name.endswith("_cuts.parquet"))
    assert sorted(tables) == [
        "movie-cars-2.parquet",
        "movie-fantastic-mr-fox.parquet",
    ]
    fit = store.open_zarr(results / "encoding" / "sub-1" / "model-minilm.zarr")
    assert set(fit.attrs["params"]) >= {"encoding", "bootstrap", "seed", "version"}
    assert "memory_gb" not in fit.attrs["params"]["encoding"]
    assert fit.attrs["inputs"]


def test_a_finished_run_has_nothing_left_to_do(small_workflow):
    assert planned_jobs(small_workflow) == {}


def _edited(workdir: Path, edit) -> Path:
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    edit(config)
    path = workdir / "edited.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _reorder(section: dict) -> dict:
    return dict(reversed(list(section.items())))


def _n_models(workdir: Path) -> int:
    return len(list((workdir / "results" / "features").glob("model-*")))


def _fit_all(n: int) -> dict[str, int]:
    return {"resamples": 3, "fit": 3 * n, "scores": 1, "compare": 3, **_REPORT}


#: What follows new fits: the sites, recovery and region summaries, the QC tables (alpha on the grid edge), the
#: figures and the table pages of summary, family scores, subject sites and recovery.
_REPORT = {"sites": 1, "recovery": 1, "regions": 1, "qc": 1, "figures": 1, "tables": 4}
#: What follows new neural stores as well: the electrodes table (derived channels) and its page.
_ELECTRODES = {"electrodes": 1, "tables": 5}


def _reorder_all(config: dict) -> None:
    for section in ("stimuli", "preprocess", "epochs"):
        config[section] = _reorder(config[section])
    config["stimuli"]["scene_detection"] = _reorder(config["stimuli"]["scene_detection"])


#: config edit -> (the edit, the jobs `snakemake -n` plans afterwards given the number of models; {} = nothing).
CONFIG_EDITS = {
    "seed": (lambda c: c.update(seed=1), lambda n: {**_fit_all(n), "calibration": 1, "tables": 5, "protocol": 1}),
    "new subject's recording": (
        lambda c: c["dataset"]["recordings"].append({"subject": "7", "trial": "0"}),  # cars-2, as subject 3
        lambda n: {
            "replica_recording": 1,
            "replica_subject": 1,
            "replica_truth": 1,
            "preprocess": 1,
            "events": 1,
            "epochs": 1,
            "stimuli": 1,
            "features": n,
            "resamples": 1,
            "fit": 2 * n,
            "scores": 1,
            "compare": 2,
            **_REPORT,
            **_ELECTRODES,
            "protocol": 1,
        },
    ),
    "retyped numbers": (
        lambda c: (
            c["stimuli"]["scene_detection"].update(threshold=27),
            c["preprocess"].update(notch_max_hz=360.0),
            c["epochs"].update(tmin_s=-2),
        ),
        lambda n: {},
    ),
    "reordered keys": (_reorder_all, lambda n: {}),
    # The protocol page states every setting; no fit reads the screening's under layer_selection: validation.
    "screening settings where no layer is screened": (
        lambda c: c["encoding"].update(screening={"z": 1.0, "targets": 512}),
        lambda n: {"protocol": 1},
    ),
    "performance and log-only knobs": (
        lambda c: (
            c["encoding"].update(memory_gb=2),
            c["models"].update(batch_size=8),
            c.update(device="cpu"),
            c["preprocess"].update(chunk_s=7.5),
            c.setdefault("statistics", {}).update(alpha_edge_fraction=0.9),
        ),
        lambda n: {},
    ),
    "line frequency": (
        lambda c: c["preprocess"].update(line_freq_hz=50),
        lambda n: {"preprocess": 3, "epochs": 3, **_fit_all(n), **_ELECTRODES, "protocol": 1},
    ),
}


@pytest.mark.parametrize("name", list(CONFIG_EDITS))
def test_a_config_edit_reruns_exactly_what_depends_on_it(small_workflow, name):
    edit, expected = CONFIG_EDITS[name]
    planned = planned_jobs(small_workflow, _edited(small_workflow, edit))
    assert planned == expected(_n_models(small_workflow))


def _n_baselines(workdir: Path) -> int:
    return len(list((workdir / "results" / "features").glob("model-concat-*")))


@pytest.mark.parametrize(
    "edit, refitted",
    [
        # Only the concatenation baseline runs banded ridge.
        (lambda c: c["encoding"]["banded"].update(n_iter=5), lambda n, baselines: baselines),
        # The baseline is never screened (under screen it runs validation): screening reruns the networks' fits.
        (lambda c: c["encoding"].update(layer_selection="screen"), lambda n, baselines: n - baselines),
    ],
    ids=["banded draws", "screening"],
)
def test_a_fit_setting_reruns_only_the_fits_that_read_it(small_workflow, edit, refitted):
    n, baselines = _n_models(small_workflow), _n_baselines(small_workflow)
    assert baselines
    planned = planned_jobs(small_workflow, _edited(small_workflow, edit))
    assert planned == {"fit": 3 * refitted(n, baselines), "scores": 1, "compare": 3, **_REPORT, "protocol": 1}


#: replica file replaced by other content -> the jobs planned afterwards given the number of models.
FILE_EDITS = {
    "movies/fantastic-mr-fox.mp4": lambda n: {
        "stimuli": 1,
        "features": n,
        "fit": 2 * n,
        "scores": 1,
        "compare": 2,
        **_REPORT,
    },
    "scene_annotations/fantastic-mr-fox.csv": lambda n: {
        "cuts": 1,
        "events": 2,
        "epochs": 2,
        "stimuli": 1,
        "features": n,
        "resamples": 2,
        "fit": 2 * n,
        "scores": 1,
        "compare": 2,
        **_REPORT,
    },
}


@pytest.mark.parametrize("name", list(FILE_EDITS))
def test_a_replaced_input_file_reruns_exactly_what_reads_it(small_workflow, name):
    path = small_workflow / "resources" / "braintreebank-replica" / name
    stat, data = path.stat(), path.read_bytes()
    try:
        # Other bytes and a later mtime, as a replaced file has (Snakemake compares checksums of same-size files).
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        later = time.time() + 10
        os.utime(path, (later, later))
        assert planned_jobs(small_workflow) == FILE_EDITS[name](_n_models(small_workflow))
    finally:
        path.write_bytes(data)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_bumped_algorithm_version_reruns_that_stage_and_what_follows(small_workflow):
    planned = planned_jobs(small_workflow, env={"VLENCODE_BUMP_STAGE": "epochs"})
    assert planned == {"epochs": 3, **_fit_all(_n_models(small_workflow))}


def _planned_with(snakefile: Path, workdir: Path) -> dict[str, int]:
    """``planned_jobs`` with another copy of the workflow."""
    result = subprocess.run(
        [
            str(SNAKEMAKE),
            "--snakefile",
            str(snakefile),
            "--directory",
            str(workdir),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            "2",
            "-n",
            "--quiet",
            "rules",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split() for line in result.stdout.splitlines()]
    return {p[0]: int(p[1]) for p in lines if len(p) == 2 and p[1].isdigit() and p[0] not in {"total", "job", "all"}}


@pytest.mark.parametrize("script", ["epochs", "stimuli"])
def test_a_touched_script_reruns_nothing_and_an_edited_one_its_rule_and_what_follows(small_workflow, tmp_path, script):
    copy = tmp_path / "workflow-copy"
    copy.mkdir()
    for name in ("Snakefile", "rules", "workflow", "profiles", "envs", "config"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(ROOT / name, copy / name)
    path = copy / "workflow" / "scripts" / f"{script}.py"
    # Copied with fresh times, as a clone, `cp` or rsync without -t gives them: the same bytes, a later mtime.
    later = time.time() + 10
    os.utime(path, (later, later))
    assert _planned_with(copy / "Snakefile", small_workflow) == {}
    path.write_text(path.read_text() + "\n# an edit\n")
    n = _n_models(small_workflow)
    expected = {
        "epochs": {"epochs": 3, **_fit_all(n)},
        "stimuli": {"stimuli": 2, "features": 2 * n, "fit": 3 * n, "scores": 1, "compare": 3, **_REPORT},
    }
    assert _planned_with(copy / "Snakefile", small_workflow) == expected[script]


def test_every_rule_runs_a_script_whose_digest_is_in_its_key():
    """The profiles leave the `code` trigger out, so a `run:` or `shell:` block would not rerun its rule when edited."""
    sources = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    inline = [
        f"{path.name}:{n}"
        for path in sources
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(r"\s+(run|shell):", line)
    ]
    assert inline == []
    scripts = sorted(p.stem for p in (ROOT / "workflow" / "scripts").glob("*.py"))
    # settings("<rule>") keys on the script of its spec's stage (the replica_* rules share replica.py).
    called = re.findall(r'(?:settings|script_digest)\(\s*"(\w+)"', "".join(p.read_text() for p in sources))
    keyed = {steps.STEPS[name].STAGE if name in steps.STEPS else name for name in called}
    assert set(scripts) <= keyed


def _written_by(path: str, outputs: list[str]) -> bool:
    """A job's own output (or log), or inside the temporary sibling it is written to."""
    for out in outputs:
        if path == out or path.startswith(out + os.sep):
            return True
        sibling = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.tmp-")
        if path.startswith(sibling):
            return True
    return False


def test_every_file_a_script_opens_is_a_declared_input(small_workflow):
    """Files of the run directory (dataset and results) only: the environment's files are the software's."""
    records = [json.loads(p.read_text()) for p in (small_workflow / ".audit").glob("*.json")]
    assert {r["rule"] for r in records} >= {
        "replica_movie",
        "cuts",
        "events",
        "preprocess",
        "epochs",
        "stimuli",
        "features",
        "resamples",
        "fit",
        "scores",
    }
    workdir = os.path.realpath(small_workflow)
    undeclared = set()
    for record in records:
        declared = [os.path.realpath(p) for p in record["input"]]
        outputs = [os.path.realpath(p) for p in record["output"]]
        for path in map(os.path.realpath, record["opened"]):
            if not path.startswith(workdir + os.sep) or path.startswith(os.path.join(workdir, ".snakemake")):
                continue
            if _written_by(path, outputs) or any(path == d or path.startswith(d + os.sep) for d in declared):
                continue
            undeclared.add((record["rule"], os.path.relpath(path, workdir)))
    assert not undeclared
