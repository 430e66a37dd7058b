"""Resuming after a crash: remove the Snakemake lock a killed run left behind, but never a live run's lock.

A run killed by SIGKILL, an out-of-memory kill or a lost node keeps its lock in ``<workdir>/.snakemake/locks``, and
the next ``snakemake`` stops with "Directory cannot be locked".  ``python -m vlencode.locks [snakemake arguments]``
(run by ``make demo`` before Snakemake) calls ``snakemake --unlock`` when such a lock exists and no Snakemake process
runs in the same working directory, nor a job of one: a SIGKILL of Snakemake alone leaves its running jobs alive
(re-parented to init), and a second run would start the same job beside them on the same output.  Incomplete outputs
are then rerun (``rerun-incomplete`` in the default profile).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psutil


def workdir_of(args: list[str], cwd: str | os.PathLike) -> Path:
    """The working directory a Snakemake command line runs in (``--directory``/``-d``, else ``cwd``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--directory", "-d")
    known, _ = parser.parse_known_args(args)
    return (Path(cwd) / known.directory).resolve() if known.directory else Path(cwd).resolve()


def live_runs(workdir: Path) -> list[int]:
    """Process ids of Snakemake runs, other than this process, working in ``workdir``, and of the jobs of a run:
    processes running one of its scripts (``<workdir>/.snakemake/scripts/``), whatever became of the run."""
    pids = []
    scripts = workdir / ".snakemake" / "scripts"
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline, cwd = process.info["cmdline"] or [], process.info["cwd"]
        if process.info["pid"] == os.getpid():
            continue
        # Snakemake runs a job's script by its absolute path, so a process whose cwd is unreadable still counts.
        if any(scripts in (Path(cwd or "/") / part).parents for part in cmdline if ".snakemake" in part):
            pids.append(process.info["pid"])
            continue
        if cwd is None:
            continue
        if not any(Path(part).name == "snakemake" or part.endswith("snakemake/__main__.py") for part in cmdline[:3]):
            continue
        if workdir_of(cmdline[1:], cwd) == workdir:
            pids.append(process.info["pid"])
    return pids


def unlock_if_stale(args: list[str], snakemake: str | None = None) -> bool:
    """Run ``snakemake --unlock`` with ``args`` when a lock exists and no run uses the directory; True if it did.

    Raises
    ------
    SystemExit
        With a one-line message when a live run holds the lock: ``make demo`` stops there, instead of starting
        Snakemake, whose lock error advises ``--unlock``, the one thing not to do while that run's jobs live.
    """
    workdir = workdir_of(args, os.getcwd())
    locks = workdir / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    if pids := live_runs(workdir):
        raise SystemExit(
            f"{workdir}: locked by running Snakemake process(es) or their jobs {pids}; leaving the lock (wait for "
            "them, or stop them, before resuming)"
        )
    snakemake = snakemake or str(Path(sys.executable).with_name("snakemake"))
    unlock = subprocess.run([snakemake, *args, "--unlock"], capture_output=True, text=True)
    if unlock.returncode:
        raise SystemExit(f"{workdir}: `snakemake --unlock` failed:\n{unlock.stderr[-2000:]}")
    print(f"{workdir}: removed the lock of a run that was killed; incomplete outputs will be rerun", file=sys.stderr)
    return True


if __name__ == "__main__":
    unlock_if_stale(sys.argv[1:])
