"""How often the calibrated rule's band passes, by the span over which it averages its standard errors.

Reads the fit stores of finished workflow runs (``<workdir>/results/encoding/sub-*/model-*.zarr``) and scores each
(network, contact)'s block-bootstrapped test r with :func:`vlencode.bootstrap.bounds.sup_t_lower_band` at several
spans (odd numbers of bins): the fraction of pairs whose band exceeds 0 in some bin (the calibrated rule's gate).  On
a null replica (``null_replica.py``) every pass is false (nominal rate 2.5%); on a planted replica (the demo)
``--planted`` counts instead, per network and alignment, the planted contacts of the alignment's family (vision at
scene cuts, language at words, from the replica's ``ground_truth.parquet``) whose band passes: the power a wider span
may cost.  The numbers of config/README.md, "The band's standard error"::

    .venv/bin/python benchmarks/band_span.py /tmp/null-40a /tmp/null-40b ...   # the null replicas
    .venv/bin/python benchmarks/band_span.py --planted .                          # the demo, after ``make demo``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from vlencode.bootstrap.bounds import sup_t_lower_band
from vlencode.stores.fit import FitStore

FAMILY = {"scene": "vision", "word": "language"}


def band_passes(workdirs: list[Path], spans: list[int], planted: bool, ci: float = 0.95) -> pd.DataFrame:
    """One row per fit store, alignment and span: ``pairs`` scored and ``passes`` (contacts whose band exceeds 0 in
    some bin); with ``planted`` only the planted contacts of the alignment's family are scored.

    Raises
    ------
    SystemExit
        With a one-line message when a workdir holds no fit store, or, with ``planted``, no replica ground truth.
    """
    rows = []
    for workdir in workdirs:
        stores = sorted((workdir / "results" / "encoding").glob("sub-*/model-*.zarr"))
        if not stores:
            raise SystemExit(f"{workdir}: no fit store under results/encoding/sub-*/; give a finished workflow run")
        truth = None
        if planted:
            table = workdir / "resources" / "braintreebank-replica" / "ground_truth.parquet"
            if not table.exists():
                raise SystemExit(f"{table}: not found; --planted needs a planted replica's workdir (the demo's)")
            truth = pd.read_parquet(table)
            truth = truth.assign(subject=truth["subject"].astype(str)).set_index(["subject", "electrode"])["category"]
        for path in stores:
            store = FitStore(path)
            for alignment in store.alignments:
                contacts = np.ones(len(store.electrode), dtype=bool)
                if truth is not None:
                    category = [truth.get((str(store.subject), str(e)), "none") for e in store.electrode]
                    contacts = np.asarray(category) == FAMILY.get(alignment, "")
                estimate = store.scores(alignment)["test_r"]
                boot = store.boot(alignment)["block_test_r"]
                for span in spans:
                    passes = (sup_t_lower_band(boot, ci, estimate, span) > 0).any(axis=-1)[contacts]
                    rows.append(
                        {
                            "workdir": str(workdir),
                            "subject": store.subject,
                            "model": store.model["model"],
                            "alignment": alignment,
                            "span_bins": span,
                            "pairs": int(contacts.sum()),
                            "passes": int(passes.sum()),
                        }
                    )
    return pd.DataFrame(rows)


def odd_spans(text: str) -> list[int]:
    """``--spans``: comma-separated positive odd integers."""
    try:
        spans = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give odd numbers of bins, e.g. 1,7") from None
    if any(span < 1 or span % 2 == 0 for span in spans):
        raise argparse.ArgumentTypeError(f"{text!r}: every span must be a positive odd number of bins")
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("workdirs", type=Path, nargs="+", help="directories of finished workflow runs")
    parser.add_argument(
        "--spans",
        type=odd_spans,
        default="1,5,7,9,11",
        help="odd numbers of bins, comma-separated (default 1,5,7,9,11; the calibrated rule's 0.15 s is 7 at 25 ms)",
    )
    parser.add_argument("--planted", action="store_true", help="score the planted contacts of the family only")
    parser.add_argument("--ci", type=float, default=0.95, help="bootstrap.ci of the runs (default 0.95)")
    parser.add_argument("--out", type=Path, help="write the per-store table (parquet) here")
    args = parser.parse_args()
    if args.out and not args.out.parent.is_dir():
        parser.error(f"--out: {args.out.parent} does not exist")
    table = band_passes(args.workdirs, args.spans, args.planted, args.ci)
    keys = ["alignment", "model", "span_bins"] if args.planted else ["alignment", "span_bins"]
    summary = table.groupby(keys)[["passes", "pairs"]].sum()
    summary["rate"] = (summary["passes"] / summary["pairs"]).round(4)
    print(summary.to_string())
    if not args.planted:
        print(f"(on a null replica every pass is false; nominal rate {(1 - args.ci) / 2:g})")
    if args.out:
        table.to_parquet(args.out)


if __name__ == "__main__":
    main()
