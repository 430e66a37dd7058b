"""Resuming after a crash: the stale lock is removed only when nothing of the killed run still runs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from vlencode.locks import live_runs, unlock_if_stale


def test_a_job_that_outlived_its_killed_snakemake_keeps_the_lock(tmp_path, monkeypatch):
    # SIGKILL of Snakemake alone leaves its job running; unlocking then started the same fit beside it.
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.output.lock").write_text("")
    script = tmp_path / ".snakemake" / "scripts" / "tmpabc.fit.py"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.chdir(tmp_path)
    orphan = subprocess.Popen([sys.executable, ".snakemake/scripts/tmpabc.fit.py"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while orphan.pid not in live_runs(tmp_path.resolve()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert orphan.pid in live_runs(tmp_path.resolve())
        # It stops there (exit 1): `make demo` went on to Snakemake, whose lock error advises --unlock.
        with pytest.raises(SystemExit, match="locked by running Snakemake process.es. or their jobs"):
            unlock_if_stale([], snakemake="true")
    finally:
        orphan.kill()
        orphan.wait()
    assert orphan.pid not in live_runs(tmp_path.resolve())
    assert unlock_if_stale([], snakemake="true")  # `true` stands in for `snakemake --unlock`
