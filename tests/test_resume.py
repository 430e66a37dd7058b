"""Promises under faults on the small replica: a run killed at any stage resumes with `make demo` to the outputs of an
uninterrupted run; the same config gives identical outputs; a changed seed changes exactly the outputs that read it."""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
import zarr
from smallrun import ROOT, planned_jobs, small_config, snakemake

from vlencode import store
from vlencode.outputs import OUTPUTS, output_path

pytestmark = pytest.mark.slow

# Where the run is killed: the writer of the first matching output stops just before renaming its complete temporary
# sibling into place (vlencode.store's fault injection), then the whole process group gets SIGKILL.
KILL_POINTS = {
    "preprocess": output_path("neural", subject="*", trial="*"),
    "features": output_path("features", model="*", movie="*"),
    "fit": output_path("fit", subject="*", model="*"),
    "scores": OUTPUTS["scores"],
}


def output_hashes(workdir: Path) -> dict[str, str]:
    """Content hash of every table (columns and values) and every array (dtype, shape, values) under results/."""
    hashes = {}
    results = workdir / "results"
    for table in sorted(results.rglob("*.parquet")):
        frame = pq.read_table(table).to_pandas()
        for column in frame.columns:
            values = frame[column].to_numpy()
            values = values.astype(str) if values.dtype == object else values
            hashes[f"{table.relative_to(workdir)}:{column}"] = store.array_sha256(values)
    for path in sorted(p for p in results.rglob("*.zarr") if p.is_dir()):
        for name, member in zarr.open_group(path, mode="r").members(max_depth=None):
            if isinstance(member, zarr.Array):
                hashes[f"{path.relative_to(workdir)}/{name}"] = store.array_sha256(np.asarray(member[...]))
    return hashes


def write_config(workdir: Path, **changes) -> None:
    """The workflow test's small replica, cut to two subjects and one network with its random twin (4 fits)."""
    config = small_config(workdir)
    config["dataset"]["recordings"] = [{"subject": "1", "trial": "0"}, {"subject": "3", "trial": "0"}]
    config["models"]["use"] = ["minilm"]
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def make_demo(workdir: Path, env: dict | None = None, extra: str = "") -> subprocess.Popen:
    """The documented way to run and to resume, started in its own process group; ``extra`` Snakemake arguments."""
    args = f"--snakefile {ROOT / 'Snakefile'} --directory {workdir} --configfile {workdir / 'config.yaml'} {extra}"
    command = ["make", "-C", str(ROOT), "-o", ".venv/.installed", "demo", "CORES=2", f"SNAKEMAKE_ARGS={args}"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def kill_when_paused(workdir: Path, rule: str, pattern: str) -> str:
    """Run until a writer of ``pattern`` is mid-write, then SIGKILL the whole process group; return what it wrote.

    The run goes only as far as ``rule`` (``--until``): otherwise the scheduler may finish a later kill point's
    independent jobs (e.g. every ``features`` job while ``preprocess`` waits its turn) before this one pauses, and
    that kill point could never be reached."""
    ready = workdir / "paused-at"
    ready.unlink(missing_ok=True)
    env = {"VLENCODE_FAULT_PAUSE": pattern, "VLENCODE_FAULT_READY": str(ready)}
    run = make_demo(workdir, env, f"--until {rule}")
    while not ready.exists():
        if run.poll() is not None:
            pytest.fail(f"the run ended ({run.returncode}) before writing {pattern}:\n{run.stdout.read()[-3000:]}")
        time.sleep(0.5)
    # The process group, plus any job an executor may have started in a session of its own.
    family = psutil.Process(run.pid).children(recursive=True)
    os.killpg(run.pid, signal.SIGKILL)
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    run.wait()
    return ready.read_text()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reference")
    write_config(workdir)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """From an empty directory, killed once at every kill point in turn, then resumed to the end with `make demo`."""
    workdir = tmp_path_factory.mktemp("resumed")
    write_config(workdir)
    killed = {}
    for stage, pattern in KILL_POINTS.items():
        output = workdir / kill_when_paused(workdir, stage, pattern)  # the writer's path is relative to the workdir
        siblings = list(output.parent.glob(f".{output.name}.tmp-*"))
        locks = list((workdir / ".snakemake" / "locks").glob("*"))
        killed[stage] = (output, siblings, locks)
    run = make_demo(workdir)
    log = run.communicate(timeout=1800)[0]
    assert run.returncode == 0, log[-5000:]
    return workdir, killed, log


def test_a_killed_run_resumes_to_the_outputs_of_an_uninterrupted_one(resumed_run, reference_run):
    workdir, killed, log = resumed_run
    for stage, (output, siblings, locks) in killed.items():
        # The kill left what a crash leaves: a complete temporary sibling never renamed, and Snakemake's lock.
        assert siblings and locks, stage
        assert output.exists(), stage  # finished by the resumption
    assert "removed the lock of a run that was killed" in log
    assert not [p for p in (workdir / "results").rglob(".*.tmp-*")]  # stale siblings removed before the rewrite
    assert set(planned_jobs(workdir)) == set()
    reference = output_hashes(reference_run)
    assert len(reference) > 50
    assert output_hashes(workdir) == reference


def test_the_same_config_gives_identical_outputs(resumed_run, reference_run):
    """Both runs started from an empty directory with the same config (one of them was killed and resumed)."""
    hashes = output_hashes(reference_run)
    assert hashes == output_hashes(resumed_run[0])
    # The outputs are not trivially equal: different alignments and subjects hold different numbers.
    assert len(set(hashes.values())) > len(hashes) // 2


# The step that writes each output under results/, from its path.
_WRITERS = {
    "neural": "preprocess",
    "events": "events",
    "epochs": "epochs",
    "features": "features",
    "qc": "qc",
    "stats": "sites",
    "regions": "regions",
    "stimuli": "stimuli",
}
# Steps whose settings hold the seed, and the steps the seed cannot reach (upstream of every one of them).
READS_SEED = {"resamples", "fit", "regions", "calibration"}
BEFORE_SEED = {
    "replica_movie",
    "replica_subject",
    "replica_recording",
    "replica_corrupted",
    "replica_truth",
    "cuts",
    "events",
    "preprocess",
    "epochs",
    "stimuli",
    "features",
    "electrodes",
}


def writer(path: str) -> str:
    parts = Path(path).parts
    name = parts[-1]
    if parts[1] == "encoding":
        return "scores" if name == "scores.parquet" else ("resamples" if name == "resamples" else "fit")
    if parts[1] == "validation":
        return name.removesuffix(".parquet")
    if parts[1] == "stimuli" and name.endswith("_cuts.parquet"):
        return "cuts"
    if (
        parts[1] == "stats"
        and name.endswith(("_comparisons.parquet", "_selection.parquet"))
        and name.startswith("sub-")
    ):
        return "compare"
    if parts[1] == "regions" and name == "electrodes.parquet":
        return "electrodes"
    return _WRITERS[parts[1]]


def test_a_changed_seed_changes_exactly_the_outputs_that_read_it(resumed_run, reference_run):
    """Run last: it reuses the resumed run's directory (equal to the reference, checked above) with seed 1.

    A step reads the seed directly (its draws) or through an input that changed; a step upstream of every draw neither
    reruns nor changes.  Downstream of the draws a rerun may leave an output equal (e.g. the alphas of the QC table do
    not depend on the bootstrap), which is not a needless rerun of the seed but Snakemake following a changed input.
    """
    workdir = resumed_run[0]
    write_config(workdir, seed=1)
    planned = set(planned_jobs(workdir))
    assert READS_SEED <= planned
    assert not planned & BEFORE_SEED, planned & BEFORE_SEED
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    before, after = output_hashes(reference_run), output_hashes(workdir)
    assert before.keys() == after.keys()
    changed = {writer(key.split(":")[0].split(".zarr")[0]) for key in before if before[key] != after[key]}
    # Every step that draws with the seed wrote something new, and only steps that reran wrote anything new.
    assert READS_SEED <= changed, READS_SEED - changed
    assert changed <= planned, changed - planned
