"""The screening proxy of one layer, side by side: the engine's fit of the validation rows against one
eigendecomposition of the kernel over all rows (:mod:`vlencode.ridge.shared_kernel`).

Run ``.venv/bin/python benchmarks/screening_proxy.py`` (``--help`` for the shapes).  Each shape is ``events x
features``: a synthetic layer at its peak and targets made as ``paper_scale.py`` makes them, ``--targets`` of them
(the paper config's ``encoding.screening.targets``, 1,024), 5 contiguous folds and config/paper.yaml's alphas.  The
defaults are the study extraction's widths at the words of the shortest and the largest paper trial (sub-6: 4,066
events, 7,241 columns, each fold's kernel decomposed; sub-3: 10,570 and 8,168, each fold's Gram matrix) and a pooled
768-wide layer over sub-3's words.  Printed per shape: each path's seconds on ``--threads`` torch threads, their
ratio, which one :meth:`vlencode.encoding.RidgeSettings.validation_r` takes there
(:func:`vlencode.ridge.shared_kernel_pays`), and how far the shared kernel's validation r (the layer standardised over
all rows) is from the engine's (each fold standardised over its training rows): the largest difference per fold and
target, and the difference of their means over targets and folds, which is what screening ranks layers by.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from paper_scale import PAPER, SyntheticLayers, at_least, synthetic_alignment

from vlencode import ridge
from vlencode.encoding import RidgeSettings, contiguous_splits
from vlencode.ridge.memory import torch_threads


def shape(text: str) -> tuple[int, int]:
    """An argparse type: ``EVENTSxFEATURES``."""
    events, features = (int(part) for part in text.split("x"))
    if events < 20 or features < 1:
        raise argparse.ArgumentTypeError(f"a shape is EVENTSxFEATURES with at least 20 events, got {text!r}")
    return events, features


def compare_paths(n_events: int, n_features: int, n_targets: int, settings: RidgeSettings, threads: int) -> dict:
    """Both paths' seconds and scores on one synthetic layer."""
    latent, targets = synthetic_alignment(n_events, n_targets, 32, seed=0)
    design = SyntheticLayers(latent, 1, n_features, 0, 1.5, 0)("hidden.0")
    splits = contiguous_splits(np.zeros(n_events, dtype=np.int64).astype(str), settings.n_folds)
    with torch_threads(threads):
        workers = ridge.concurrent_items(len(splits), torch.device("cpu"))
        budget = None if settings.memory_gb is None else int(settings.memory_gb * 2**30)
        chosen = ridge.shared_kernel_pays(
            n_events, n_features, splits, settings.alphas, n_targets, workers, torch.device("cpu"), budget
        )
        start = time.perf_counter()
        engine = ridge.cross_validated_ridge(
            design,
            targets,
            splits,
            settings.alphas,
            device="cpu",
            memory_gb=settings.memory_gb,
            return_predictions=False,
            score_test=False,
        ).val_r
        engine_s = time.perf_counter() - start
        start = time.perf_counter()
        shared = ridge.shared_kernel_validation_r(design, targets, splits, settings.alphas, device="cpu")
        shared_s = time.perf_counter() - start
    difference = shared.astype(np.float64) - engine
    return {
        "events": n_events,
        "features": n_features,
        "targets": n_targets,
        "threads": threads,
        "engine_s": round(engine_s, 2),
        "shared_kernel_s": round(shared_s, 2),
        "speedup": round(engine_s / shared_s, 2),
        "validation_r_takes": "shared kernel" if chosen else "engine",
        "engine_mean_val_r": round(float(engine.mean()), 6),
        "max_abs_difference": float(np.abs(difference).max()),
        "mean_difference": float(difference.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--shapes", type=shape, nargs="+", default=[(4066, 7241), (10570, 8168), (10570, 768)])
    parser.add_argument(
        "--targets",
        type=at_least(2),
        default=PAPER["encoding"]["screening"]["targets"],
        help="the proxy's targets (encoding.screening.targets, at least 2)",
    )
    parser.add_argument("--threads", type=at_least(1), default=1, help="torch threads")
    parser.add_argument(
        "--memory-gb",
        type=float,
        help="the engine's memory budget (default: auto, half of what the process may use; 10,570 x 8,168 needs 9.6)",
    )
    parser.add_argument("--out", type=Path, help="write the rows as JSON")
    args = parser.parse_args()
    settings = RidgeSettings.from_config(PAPER["encoding"], PAPER["seed"], "cpu", args.memory_gb)
    rows = []
    for n_events, n_features in args.shapes:
        rows.append(compare_paths(n_events, n_features, args.targets, settings, args.threads))
        print(json.dumps(rows[-1]), flush=True)
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
