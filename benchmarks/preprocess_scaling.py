"""Peak memory and throughput of neural preprocessing at two recording lengths (not part of the test suite).

Writes synthetic trials in the Brain Treebank layout (``all_subject_data/sub_1_trial000.h5`` with one float32 dataset
per channel, ``electrode_labels``, ``corrupted_elec.json``), then preprocesses each in a fresh subprocess with the
``preprocess`` section of ``config/config.yaml`` through :class:`vlencode.datasets.braintreebank.BrainTreebank` and
:func:`vlencode.neural.write_neural_store`, and reports the child's peak RSS (``os.wait4``) and the throughput in
multiples of real time.  Targets: peak RSS <= 1.5 GB and independent of length; >= 50x real time on 2 cores.
The content hashing of inputs that the workflow script adds is not included.

    python benchmarks/preprocess_scaling.py --hours 2 --electrodes 150          # 8.8 GB + 2.2 GB on disk
    python benchmarks/preprocess_scaling.py --hours 0.25 --electrodes 150       # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

RATE_HZ = 2048
ROOT = Path(__file__).resolve().parents[1]
_WRITE_BLOCK_S = 60


def electrode_labels(n: int) -> list[str]:
    """``n`` depth contacts on shafts of 15 (``S0A1`` ...), plus a DC and a trigger channel (dropped by the reader)."""
    return [f"S{i // 15}A{i % 15 + 1}" for i in range(n)] + ["DC1", "TRIG1"]


def write_trial(root: Path, seconds: float, n_electrodes: int, seed: int = 0) -> Path:
    """A Brain Treebank trial of white noise with 60 Hz line noise, written block by block (bounded memory)."""
    labels = electrode_labels(n_electrodes)
    (root / "electrode_labels" / "sub_1").mkdir(parents=True, exist_ok=True)
    (root / "electrode_labels" / "sub_1" / "electrode_labels.json").write_text(json.dumps(labels))
    (root / "corrupted_elec.json").write_text(json.dumps({"sub_1": []}))
    path = root / "all_subject_data" / "sub_1_trial000.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * RATE_HZ)
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        columns = [data.create_dataset(f"electrode_{i}", shape=(n,), dtype="float32") for i in range(len(labels))]
        block = _WRITE_BLOCK_S * RATE_HZ
        for start in range(0, n, block):
            stop = min(start + block, n)
            t = np.arange(start, stop, dtype=np.float64) / RATE_HZ
            line = (30 * np.sin(2 * np.pi * 60 * t)).astype(np.float32)
            values = rng.standard_normal((len(labels), stop - start), dtype=np.float32) * 20 + line
            for column, dataset in enumerate(columns):
                dataset[start:stop] = values[column]
    return path


def run_child(root: Path, out: Path, workers: int) -> None:
    """In the child: preprocess the trial under ``root`` into ``out`` with the default config."""
    from vlencode.datasets.braintreebank import BrainTreebank
    from vlencode.neural import write_neural_store

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["preprocess"]
    recording = BrainTreebank(root).recording("1", "0")
    write_neural_store(recording, cfg, out, params={"preprocess": cfg}, workers=workers)


def measure(root: Path, out: Path, workers: int) -> tuple[float, float, float]:
    """``(wall seconds, CPU seconds, peak RSS in GB)`` of one preprocessing subprocess.

    CPU seconds (user + system, all threads) tell what the run costs when other jobs share the cores.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(root), str(out), "--workers", str(workers)],
        env={**os.environ, "OMP_NUM_THREADS": str(workers), "OPENBLAS_NUM_THREADS": str(workers)},
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"preprocessing {root} failed (exit {os.waitstatus_to_exitcode(status)})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0, help="length of the long trial")
    parser.add_argument("--short-fraction", type=float, default=0.25, help="length of the short trial, relative")
    parser.add_argument("--electrodes", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2, help="FFT threads (the rule's threads)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "preprocess_scaling")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic trials and outputs")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child, args.workers)
        return
    lengths = [args.hours * args.short_fraction * 3600, args.hours * 3600]
    need_gb = sum(lengths) * RATE_HZ * (args.electrodes + 2) * 4 / 1e9
    free_gb = shutil.disk_usage(args.out.parent if args.out.parent.exists() else ROOT).free / 1e9
    if need_gb > 0.8 * free_gb:
        raise SystemExit(f"{args.out}: needs {need_gb:.1f} GB of disk, {free_gb:.1f} GB free; lower --hours")
    rows = []
    for seconds in lengths:
        root = args.out / f"trial-{seconds / 60:g}min"
        shutil.rmtree(root, ignore_errors=True)
        began = time.perf_counter()
        path = write_trial(root, seconds, args.electrodes)
        size_gb = path.stat().st_size / 1e9
        print(f"wrote {path} ({size_gb:.2f} GB) in {time.perf_counter() - began:.0f} s", flush=True)
        load = os.getloadavg()[0]
        wall, cpu, rss = measure(root, root / "neural.zarr", args.workers)
        rows.append((seconds, size_gb, wall, cpu, rss, load))
        print(
            f"  {seconds / 60:7.1f} min: {wall:7.1f} s wall, {cpu:7.1f} s CPU, {seconds / wall:6.1f}x real time, "
            f"peak RSS {rss:.2f} GB",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(root)
    print(
        f"\npreprocess scaling ({args.electrodes} electrodes, 2048 Hz -> config rate, {args.workers} workers, "
        f"{os.cpu_count()} CPUs)"
    )
    print(
        f"{'length':>10} {'input GB':>9} {'wall s':>8} {'CPU s':>8} {'x real time':>12} {'x per CPU s':>12} "
        f"{'peak RSS GB':>12} {'load avg':>9}"
    )
    for seconds, size_gb, wall, cpu, rss, load in rows:
        print(
            f"{seconds / 60:8.1f} m {size_gb:9.2f} {wall:8.1f} {cpu:8.1f} {seconds / wall:12.1f} "
            f"{seconds / cpu:12.1f} {rss:12.2f} {load:9.2f}"
        )
    ratio = rows[1][4] / rows[0][4]
    print(
        f"peak RSS long/short: {ratio:.2f} (length ratio {lengths[1] / lengths[0]:.1f}); "
        f"targets: RSS <= 1.5 GB {'met' if max(r[4] for r in rows) <= 1.5 else 'MISSED'}, "
        f">= 50x real time {'met' if min(r[0] / r[2] for r in rows) >= 50 else 'MISSED'} "
        f"(wall clock; the load average shows how many cores other jobs took)"
    )


if __name__ == "__main__":
    main()
