"""config/paper.yaml stands alone: a run given it reads no key of config/config.yaml (the demo's), so editing the demo
config changes neither the paper run's plan nor its rerun keys, while it does change the demo run's."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_cluster import SNAKEMAKE, write_stand_in, write_stand_in_weights

ROOT = Path(__file__).resolve().parents[1]
#: Every setting the paper run could pick up from the demo config, changed.
DEMO_EDITS = {
    "preprocess": {"notch_max_hz": 120, "zscore": False},
    "epochs": {"window_s": 0.1},
    "bootstrap": {"block_s": 20.0, "n_resamples": 7},
    "statistics": {"min_bins": 3, "fdr_q": 0.1},
    "features": {"projection": {"eps": 0.2}},
    "encoding": {"n_folds": 3},
    "seed": 5,
}


def workflow_copy(tmp: Path) -> Path:
    """The workflow's files in a directory of their own, so a test can edit its config/config.yaml."""
    copy = tmp / "workflow-copy"
    copy.mkdir()
    for name in ("Snakefile", "rules", "workflow", "config", "profiles", "envs"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    return copy


def edit_demo_config(copy: Path) -> None:
    path = copy / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for section, values in DEMO_EDITS.items():
        if isinstance(values, dict):
            for key, value in values.items():
                if isinstance(value, dict):
                    config[section].setdefault(key, {}).update(value)
                else:
                    config[section][key] = value
        else:
            config[section] = values
    path.write_text(yaml.safe_dump(config))


def plan_and_keys(copy: Path, workdir: Path, configfile: Path | None) -> tuple[str, str]:
    """The dry run's jobs (rules, outputs, wildcards) and the protocol page, which states every setting the run's
    rerun keys hold (rule ``protocol``, run here: it reads no input)."""
    base = [str(SNAKEMAKE), "--snakefile", str(copy / "Snakefile"), "--directory", str(workdir), "--cores", "1"]
    if configfile is not None:
        base += ["--configfile", str(configfile)]
    shutil.rmtree(workdir / "results", ignore_errors=True)
    shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
    run = subprocess.run(
        [base[0], "results/report/protocol.html", *base[1:]], capture_output=True, text=True, timeout=600
    )  # the target first: --configfile takes every argument after it
    assert run.returncode == 0, run.stderr[-3000:]
    plan = subprocess.run([*base, "-n"], capture_output=True, text=True, timeout=600)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs, job = [], []
    for line in plan.stdout.splitlines():  # the dry run lists jobs in no fixed order
        if line.strip().startswith(("rule ", "localrule ")):
            jobs.append("\n".join(job))
            job = [line.strip()]
        elif line.strip().startswith(("output:", "wildcards:")):
            job.append(line.strip())
    jobs.append("\n".join(job))
    return "\n".join(sorted(jobs)), (workdir / "results" / "report" / "protocol.html").read_text()


@pytest.mark.slow
def test_editing_the_demo_config_changes_nothing_of_the_paper_run(tmp_path):
    # Both runs from the repository root, as a user runs them (config/config.yaml is there to be read).
    copy = workflow_copy(tmp_path)
    write_stand_in(tmp_path / "braintreebank")
    config = yaml.safe_load((copy / "config" / "paper.yaml").read_text())
    config["dataset"]["root"] = str(tmp_path / "braintreebank")
    write_stand_in_weights(copy, config)
    paper = tmp_path / "paper.yaml"
    paper.write_text(yaml.safe_dump(config))

    paper_before = plan_and_keys(copy, copy, paper)
    demo_before = plan_and_keys(copy, copy, None)
    edit_demo_config(copy)
    assert plan_and_keys(copy, copy, paper) == paper_before
    # The same edit does reach the run it belongs to: the test can tell.
    demo_after = plan_and_keys(copy, copy, None)
    assert demo_after[1] != demo_before[1]
    block = re.compile(r"<td>block_s</td>\s*<td>([^<]+)</td>")
    assert block.search(demo_after[1]).group(1) == "20.0" != block.search(paper_before[1]).group(1)
