"""Time the fast bootstrap at paper scale: 1000 resamples of 2500 validation + 2500 test events, 24,150 targets.

Run ``.venv/bin/python benchmarks/bootstrap_speed.py`` (``--help`` for smaller sizes).  Prints the time of the fast
protocol (validation and test r of every target under every resample, per fold, averaged over folds), the rate of its
dominant matrix products, and the time of a per-resample loop over a few resamples (the same numbers, computed one
resample at a time) extrapolated to all resamples.  Goal: <= 60 s on a CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vlencode.bootstrap import bounds, fast, resampling


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of targets, got {value}")
    return value


def looped_pearson(prediction, target, indices, groups):
    """One resample at a time: r of every target on each group's drawn events, averaged over groups."""
    out = np.zeros((len(indices), target.shape[1]), dtype=np.float64)
    for r, drawn in enumerate(indices):
        for rows in groups:
            picked = drawn[np.isin(drawn, rows)]
            p = prediction[picked] - prediction[picked].mean(0)
            y = target[picked] - target[picked].mean(0)
            out[r] += (p * y).sum(0) / np.sqrt((p * p).sum(0) * (y * y).sum(0)) / len(groups)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=24150, help="electrodes x bins (150 x 161 in the paper)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--loop-resamples", type=int, default=3, help="resamples timed with the per-resample loop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--compare-batch",
        type=positive_int,
        help="also time this many targets per product (e.g. 20000, the 1 GiB budget's batch) against the default",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    target = rng.standard_normal((args.events, args.targets), dtype=np.float32)
    prediction = (0.3 * target + rng.standard_normal((args.events, args.targets), dtype=np.float32)).astype(np.float32)
    # One trial: what vlencode.encoding.contiguous_splits gives (KFold blocks, first half validation), without
    # importing the store layer, so the script runs where only numpy and torch are installed.
    blocks = np.array_split(np.arange(args.events), args.folds)
    splits = [(None, block[: (len(block) + 1) // 2], block[(len(block) + 1) // 2 :]) for block in blocks]
    indices = resampling.draw_resamples(args.events, args.resamples, resampling.resample_seed(0, "bench", "word"))
    print(
        f"{args.events} events ({sum(len(s[1]) for s in splits)} validation + {sum(len(s[2]) for s in splits)} "
        f"test), {args.targets} targets, {args.resamples} resamples, {args.folds} folds, device {args.device}, "
        f"{args.threads} threads"
    )

    fast.fast_bootstrap(prediction[:, :2], target[:, :2], splits, indices[:2], args.device)  # device start-up
    start = time.perf_counter()
    val_r, test_r = fast.fast_bootstrap(prediction, target, splits, indices, args.device)
    lo, hi = bounds.percentile_bounds(val_r, 0.95)
    fast_s = time.perf_counter() - start
    flops = 2 * args.resamples * args.events * 5 * args.targets  # the sum products over val and test events
    print(
        f"fast bootstrap (val + test r, bounds): {fast_s:.1f} s, "
        f"{flops / fast_s / 1e9:.0f} GFLOP/s in its products (counted: 2 R n 5 t)"
    )

    if args.compare_batch is not None:
        start = time.perf_counter()
        other_val, other_test = fast.fast_bootstrap(
            prediction, target, splits, indices, args.device, targets_batch=args.compare_batch
        )
        bounds.percentile_bounds(other_val, 0.95)  # timed as the default run is
        other_s = time.perf_counter() - start
        difference = max(np.abs(other_val - val_r).max(), np.abs(other_test - test_r).max())
        print(
            f"fast bootstrap at {args.compare_batch} targets per product: {other_s:.1f} s"
            f" ({other_s / fast_s:.2f} times the default's seconds; max |difference| {difference:.1e})"
        )

    a = torch.randn(2048, 2048, device=args.device)
    torch.mm(a, a)
    synchronize = torch.cuda.synchronize if a.is_cuda else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(5):
        torch.mm(a, a)
    synchronize()
    print(f"float32 matmul rate (2048^2): {5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9:.0f} GFLOP/s")

    few = indices[: args.loop_resamples]
    start = time.perf_counter()
    looped = looped_pearson(prediction, target, few, [s[1] for s in splits])
    loop_s = (time.perf_counter() - start) / len(few) * args.resamples * 2  # validation and test
    print(f"per-resample loop: {loop_s:.0f} s extrapolated to {args.resamples} resamples (x{loop_s / fast_s:.1f})")
    print(
        f"max |fast - loop| over {len(few)} resamples: {np.abs(val_r[: len(few)] - looped).max():.2e}; "
        f"kept (val_lo > 0) {int((lo > 0).sum())} of {args.targets}"
    )


if __name__ == "__main__":
    main()
