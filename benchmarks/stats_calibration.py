"""Calibrate the statistics on the validation harness (simulated electrodes and feature spaces; no network).

Run ``.venv/bin/python benchmarks/stats_calibration.py`` (``--help`` for sizes).  Three parts:

``--part block``
    Null data (every electrode silent): the fraction of bins each keep rule keeps, and of electrodes the calibrated
    rule calls, for several block lengths of the block bootstrap.  The fits are shared; only the resamples change.
    The default ``bootstrap.block_s`` is the shortest block whose per-bin bounds keep <= 5% of null bins in both
    alignments (config/README.md, "Measured calibration", gives the electrode calls and why longer blocks suit long
    recordings).  With ``--planted`` the subjects carry the planted mix instead: the same fits also give the recall
    of the alignment's family (vision contacts at scene cuts, language contacts at words) per block length, and the
    calls of the planted subject's silent electrodes.  With ``--inflation shifted`` each fit also gets its shifted null
    fit (:mod:`vlencode.bootstrap.inflation`) and every row comes twice, ``method`` ``none`` (the resamples as drawn)
    and ``shifted`` (the same resamples widened by the measured factor, column ``inflation``).  ``--se-span`` sets the
    span over which the calibrated band averages its standard errors (0: each bin's own, as before it averaged).
``--part calibration``
    The harness's scenarios (:func:`vlencode.validation.harness.calibration`) for each of ``--seeds``: null (simulated
    from seed + 1), planted (with its equal-skill null) and, with ``--refit-resamples``, the refit protocol and Cohen's
    kappa of the two protocols' calls.
``--part kappa``
    Fast against refit protocol on the calls that read one model (vision at scene cuts, language at words), for the
    null (seed + 1) and planted subject of each seed: the alignment's family model alone is fitted and refitted, on
    the block resamples only (``--refit-resamples``; the calibration part refits all seven models under both
    schemes), so that the agreement can be measured at longer recordings.  ``--inflation shifted`` widens the fast
    protocol's resamples by the factor its shifted null fit measures (the refit protocol's are left as drawn).
``--part band``
    Per-bin bounds against the simultaneous (sup-t) band of the calibrated rule, on the same fits: null scenarios
    for several seeds and the planted scenario; ``calibrated`` (band for kept bins, per-bin bounds select the
    compared bins) beside ``pointwise`` (per-bin bounds for both: the rule before the band), ``band-both`` (the band
    for both) and ``gated`` (per-bin bounds for both, on electrodes whose band exceeds 0 in some bin); the three
    variants studentise each bin by its own standard error, as the rule did before it averaged them over neighbours.
``--part timing``
    The statistics alone at paper scale (5000 events, 24,150 targets, 1000 block resamples): drawing the resamples
    and the fast protocol's resampled r of one subject x model, and the paired comparison of two models; beside it a
    reduced refit (a few resamples of one cross-validation at that scale) extrapolated to 1000 resamples.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from vlencode import ridge
from vlencode.bootstrap.fast import fast_bootstrap
from vlencode.bootstrap.inflation import inflate
from vlencode.bootstrap.refit import refit_bootstrap
from vlencode.bootstrap.resampling import draw_block_resamples, draw_resamples, resample_seed
from vlencode.config import canonical_config
from vlencode.encoding import contiguous_splits, null_inflation, summarize_folds
from vlencode.stats import keep
from vlencode.stats.compare import paired_comparison
from vlencode.stats.keep import KEEP_RULES, KeepRule, keep_rule, kept, selected_for_comparison
from vlencode.validation import harness
from vlencode.validation.agreement import cohen_kappa


def block_sweep(
    config: harness.HarnessConfig,
    blocks: list[float],
    seeds: list[int],
    planted: bool = False,
    calibrated: KeepRule = KEEP_RULES["calibrated"],
) -> pd.DataFrame:
    """Per block length, alignment and simulated null subject (seed): the fraction of bins each rule keeps, and the
    fraction of electrodes the calibrated rule calls (``called``: the alignment's model, vision at scene cuts and
    language at words, keeps >= ``min_bins`` bins, as rule ``recovery`` calls a contact).

    ``planted``: the subjects carry ``config.electrodes`` (the planted mix) instead of silent electrodes only; then
    ``called`` is over the silent ones and ``recall`` the fraction of the alignment's planted family called (vision
    contacts at scene cuts, language contacts at words), the harness's ``vision_recall`` / ``language_recall``, whose
    best model of the family is its one model.  ``n_silent`` / ``n_silent_called`` and ``n_planted`` /
    ``n_planted_called`` are the counts behind the two rates."""
    rows = []
    family = {"scene": "vision", "word": "language"}
    null_config = replace(config, electrodes={"none": sum(config.electrodes.values())})
    settings = config.ridge_settings()
    for seed in seeds:
        sim = harness.simulate(config if planted else null_config, seed)
        category = sim.truth["category"].to_numpy()
        silent = category == "none"
        for alignment, onset in sim.onset_s.items():
            targets = sim.response[alignment]
            trial = np.full(len(onset), "0", dtype=object)
            splits = contiguous_splits(trial, config.n_folds)
            shape = (len(sim.truth), targets.shape[1] // len(sim.truth))
            fits = {}
            for model in ("vision", "language", "fused"):
                result = settings.cross_validate(sim.features[alignment][model], targets, splits)
                fits[model] = (result.prediction, summarize_folds(result, shape))
            schemes = {"iid": draw_resamples(len(onset), config.n_resamples, resample_seed(seed, alignment))}
            for block_s in blocks:
                schemes[f"block-{block_s:g}"] = draw_block_resamples(
                    onset,
                    trial,
                    block_s,
                    config.n_resamples,
                    resample_seed(seed, alignment, "block"),
                    config.block_kind,
                )
            widen = {
                model: null_inflation(sim.features[alignment][model], targets, splits, settings, schemes, shape)
                if config.inflation == "shifted"
                else {}
                for model in fits
            }
            for scheme, indices in schemes.items():
                raw = {
                    model: fast_bootstrap(prediction, targets, splits, indices, "cpu")
                    for model, (prediction, _) in fits.items()
                }
                # The same resamples as drawn and, under --inflation shifted, widened: side by side on the same fits.
                for method in ("none", "shifted") if config.inflation == "shifted" else ("none",):
                    kept_val, kept_test = [], []
                    for model, (_, fit) in fits.items():
                        factor = widen[model] if method == "shifted" else {}
                        val = inflate(raw[model][0], fit.val_r.reshape(-1), factor.get(f"{scheme}_val_r", 1.0))
                        test = inflate(raw[model][1], fit.test_r.reshape(-1), factor.get(f"{scheme}_test_r", 1.0))
                        kept_val.append(
                            kept(keep_rule("paper"), {"iid_val_r": val.reshape(len(val), *shape)}, config.ci)[
                                silent
                            ].mean()
                        )
                        test_kept = kept(
                            calibrated,
                            {"block_test_r": test.reshape(len(test), *shape)},
                            config.ci,
                            {"test_r": fit.test_r},
                            sim.bin_time_s,
                        )
                        kept_test.append(test_kept[silent].mean())
                        if model == family[alignment]:
                            calls = test_kept.sum(axis=1) >= config.min_bins
                            # Resampled spread of the silent electrodes' test r against their spread over electrodes
                            # (independent silent electrodes: the sampling spread the bootstrap should match).
                            boot_se = float(test.reshape(len(test), *shape)[:, silent].std(axis=0).mean())
                            spread = float(fit.test_r[silent].std(axis=0).mean())
                            inflation = factor.get(f"{scheme}_test_r", 1.0)
                    hits = category == family[alignment]
                    rows.append(
                        {
                            "seed": seed,
                            "alignment": alignment,
                            "scheme": scheme,
                            "method": method,
                            "n_events": len(onset),
                            "val_bound_kept": float(np.mean(kept_val)),
                            "test_bound_kept": float(np.mean(kept_test)),
                            "called": float(calls[silent].mean()),
                            "n_silent": int(silent.sum()),
                            "n_silent_called": int(calls[silent].sum()),
                            "recall": float(calls[hits].mean()) if hits.any() else np.nan,
                            "n_planted": int(hits.sum()),
                            "n_planted_called": int(calls[hits].sum()),
                            "boot_se_over_spread": boot_se / spread,
                            "inflation": inflation,
                        }
                    )
                    print(
                        {
                            k: v
                            for k, v in rows[-1].items()
                            if k in ("seed", "alignment", "scheme", "method", "n_silent_called", "inflation")
                        },
                        flush=True,
                    )
    return pd.DataFrame(rows)


def protocol_kappa(
    config: harness.HarnessConfig,
    seeds: list[int],
    refit_resamples: int,
    calibrated: KeepRule = KEEP_RULES["calibrated"],
) -> pd.DataFrame:
    """Fast against refit protocol on the unimodal calls alone, for a null (simulated from seed + 1, as
    :func:`vlencode.validation.harness.calibration` does) and a planted subject per seed.

    Per subject and alignment only the alignment's family model is fitted (vision at scene cuts, language at words: the
    model whose kept bins call a contact); its block resamples are scored by the fast protocol (``config.n_resamples``)
    and by the refit protocol (``refit_resamples``, the first of the same draws), and each electrode is called when the
    calibrated rule keeps >= ``min_bins`` bins. Under ``config.inflation`` ``shifted`` the fast protocol's resamples are
    widened (:func:`vlencode.encoding.null_inflation`, column ``inflation``) and the ``drawn_*`` columns and
    ``kappa_drawn`` give the same resamples as drawn, against the same refit. Rows: the counts of calls of each protocol
    (silent and planted-family electrodes), the calls of one only, and Cohen's kappa over all electrodes. The harness's
    full calibration refits all seven models under both schemes; this is the part of it the vision / language kappa
    reads, at a seventh of the cost per scheme.
    """
    rows = []
    family = {"scene": "vision", "word": "language"}
    null_config = replace(config, electrodes={"none": sum(config.electrodes.values())})
    settings = config.ridge_settings()
    for seed in seeds:
        for scenario, subject, sim_seed in (("null", null_config, seed + 1), ("planted", config, seed)):
            sim = harness.simulate(subject, sim_seed)
            category = sim.truth["category"].to_numpy()
            for alignment, onset in sim.onset_s.items():
                targets = sim.response[alignment]
                trial = np.full(len(onset), "0", dtype=object)
                splits = contiguous_splits(trial, config.n_folds)
                shape = (len(sim.truth), -1)
                n_shape = (len(sim.truth), targets.shape[1] // len(sim.truth))
                design = sim.features[alignment][family[alignment]]
                result = settings.cross_validate(design, targets, splits)
                estimate = {"test_r": np.asarray(result.test_r, np.float64).mean(axis=0).reshape(shape)}
                indices = draw_block_resamples(
                    onset,
                    trial,
                    config.block_s,
                    max(config.n_resamples, refit_resamples),
                    resample_seed(sim_seed, "harness", alignment, "block"),
                    config.block_kind,
                )
                start = time.perf_counter()
                fast = indices[: config.n_resamples]
                drawn_test = fast_test = fast_bootstrap(result.prediction, targets, splits, fast, "cpu")[1]
                factor = 1.0
                if config.inflation == "shifted":
                    factor = null_inflation(design, targets, splits, settings, {"block": fast}, n_shape)["block_test_r"]
                    fast_test = inflate(fast_test, estimate["test_r"].reshape(-1), factor)
                fast_s = time.perf_counter() - start
                start = time.perf_counter()
                _, refit_test = refit_bootstrap(
                    design, targets, trial_of_event=trial, indices=indices[:refit_resamples], settings=settings
                )
                refit_s = time.perf_counter() - start
                calls = {}
                for protocol, test in (("fast", fast_test), ("refit", refit_test), ("drawn", drawn_test)):
                    boot = {"block_test_r": test.reshape(len(test), *shape)}
                    calls[protocol] = (
                        kept(calibrated, boot, config.ci, estimate, sim.bin_time_s).sum(axis=1) >= config.min_bins
                    )
                silent = category == "none"
                hits = category == family[alignment]
                rows.append(
                    {
                        "seed": seed,
                        "scenario": scenario,
                        "alignment": alignment,
                        "n_events": len(onset),
                        "n_electrodes": len(category),
                        "n_silent": int(silent.sum()),
                        "n_planted": int(hits.sum()),
                        "fast_silent_called": int(calls["fast"][silent].sum()),
                        "refit_silent_called": int(calls["refit"][silent].sum()),
                        "fast_planted_called": int(calls["fast"][hits].sum()),
                        "refit_planted_called": int(calls["refit"][hits].sum()),
                        "fast_called": int(calls["fast"].sum()),
                        "refit_called": int(calls["refit"].sum()),
                        "fast_only": int((calls["fast"] & ~calls["refit"]).sum()),
                        "refit_only": int((calls["refit"] & ~calls["fast"]).sum()),
                        "kappa": cohen_kappa(calls["fast"], calls["refit"]),
                        "inflation": factor,
                        "drawn_silent_called": int(calls["drawn"][silent].sum()),
                        "drawn_planted_called": int(calls["drawn"][hits].sum()),
                        "kappa_drawn": cohen_kappa(calls["drawn"], calls["refit"]),
                        "fast_s": fast_s,
                        "refit_s": refit_s,
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def band_comparison(config: harness.HarnessConfig, seeds: list[int]) -> pd.DataFrame:
    """Harness metrics of ``paper``, ``calibrated`` and three variants of it (see the module docstring), on null
    subjects of every seed and on the planted subject of ``config.seed``."""
    variants = {
        "pointwise": KeepRule("pointwise", scheme="block", score="test"),
        "band-both": KeepRule(
            "band-both", scheme="block", score="test", band="simultaneous", select_band="simultaneous"
        ),
        "gated": KeepRule("gated", scheme="block", score="test", band="gated"),
    }
    rules = ("paper", "calibrated", *variants)
    for name, rule in variants.items():
        keep.KEEP_RULES.setdefault(name, rule)
    frames = []
    null_config = replace(config, electrodes={"none": sum(config.electrodes.values())})
    for seed in seeds:
        sim = harness.simulate(null_config, seed)
        scores = harness.score_models(sim, null_config)
        table = harness.metrics(
            sim, scores, *harness.statistics(sim, scores, null_config, rules), null_config, "null", "fast"
        )
        frames.append(table.assign(seed=seed))
    sim = harness.simulate(config)
    scores = harness.score_models(sim, config)
    table = harness.metrics(sim, scores, *harness.statistics(sim, scores, config, rules), config, "planted", "fast")
    frames.append(table.assign(seed=config.seed))
    return pd.concat(frames, ignore_index=True)


def timing(n_events: int, n_targets: int, n_resamples: int, block_s: float, refit_resamples: int) -> dict:
    """Seconds of the statistics of one subject x model at the given scale, and of a reduced refit."""
    rng = np.random.default_rng(0)
    onset = np.cumsum(rng.gamma(2.0, 0.15, n_events))
    trial = np.full(n_events, "0", dtype=object)
    splits = contiguous_splits(trial, 5)
    target = rng.standard_normal((n_events, n_targets), dtype=np.float32)
    prediction = (0.1 * target + rng.standard_normal((n_events, n_targets), dtype=np.float32)).astype(np.float32)
    out = {"n_events": n_events, "n_targets": n_targets, "n_resamples": n_resamples, "threads": torch.get_num_threads()}
    start = time.perf_counter()
    indices = draw_block_resamples(onset, trial, block_s, n_resamples, resample_seed(0, "timing"))
    out["draw_block_resamples_s"] = time.perf_counter() - start
    start = time.perf_counter()
    val, test = fast_bootstrap(prediction, target, splits, indices, "cpu")
    out["fast_protocol_s"] = time.perf_counter() - start
    n_bins = 161
    shape = (n_resamples, n_targets // n_bins, n_bins)
    start = time.perf_counter()
    boot = {
        "block_val_r": val[:, : shape[1] * n_bins].reshape(shape),
        "block_test_r": test[:, : shape[1] * n_bins].reshape(shape),
    }
    bin_time_s = np.arange(n_bins) * 0.025 - 2.0
    kept(keep_rule("calibrated"), boot, 0.95, None, bin_time_s)
    select = selected_for_comparison(keep_rule("calibrated"), boot, 0.95, None, bin_time_s)
    other = boot["block_test_r"][::-1]
    paired_comparison(
        boot["block_test_r"].mean(0), other.mean(0), boot["block_test_r"], other, select, select[::-1], 10
    )
    out["keep_and_compare_s"] = time.perf_counter() - start
    out["statistics_per_subject_model_s"] = (
        out["draw_block_resamples_s"] + out["fast_protocol_s"] + out["keep_and_compare_s"]
    )
    design = rng.standard_normal((n_events, 256), dtype=np.float32)
    start = time.perf_counter()
    for r in range(refit_resamples):
        order = np.sort(indices[r])
        ridge.cross_validated_ridge(
            design[order],
            target[order],
            contiguous_splits(trial[order], 5),
            np.logspace(-1, 5, 7),
            device="cpu",
            return_predictions=False,
        )
    per_refit = (time.perf_counter() - start) / max(refit_resamples, 1)
    out["refit_one_resample_s"] = per_refit
    out["refit_extrapolated_s"] = per_refit * n_resamples
    out["refit_over_fast"] = out["refit_extrapolated_s"] / out["fast_protocol_s"]
    out["refit_over_statistics"] = out["refit_extrapolated_s"] / out["statistics_per_subject_model_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--part", choices=["block", "calibration", "kappa", "band", "timing"], required=True)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--electrodes", type=int, default=12, help="per planted category (and as many silent)")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--block-s", type=float, default=10.0)
    parser.add_argument("--blocks", default="2,5,10,20,40")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--tmin", type=float, default=-2.0)
    parser.add_argument("--tmax", type=float, default=2.0)
    parser.add_argument("--refit-resamples", type=int, default=0)
    parser.add_argument(
        "--planted", action="store_true", help="--part block: the planted mix (recall and silent calls), not null"
    )
    parser.add_argument(
        "--inflation", choices=["none", "shifted"], default="none", help="bootstrap.inflation of the fast protocol"
    )
    parser.add_argument(
        "--se-span",
        type=float,
        help="--part block / kappa: seconds over which the calibrated band averages its standard errors (the rule's "
        "0.15 when not given; 0 for each bin's own, the band before it averaged)",
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=24150)
    parser.add_argument("--out", help="write the table (parquet) or timings (json) here")
    args = parser.parse_args()
    per = args.electrodes
    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text()
    )
    config = replace(
        harness.HarnessConfig.from_config(canonical_config({"seed": 0}, schema)),
        minutes=args.minutes,
        tmin_s=args.tmin,
        tmax_s=args.tmax,
        step_s=0.025,
        n_resamples=args.resamples,
        block_s=args.block_s,
        inflation=args.inflation,
        electrodes={"vision": per, "language": per, "multimodal": per, "none": per},
    )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 20)
    calibrated = keep_rule("calibrated")
    if args.se_span is not None:
        calibrated = replace(calibrated, se_span_s=args.se_span)
    if args.part == "block":
        table = block_sweep(
            config,
            [float(b) for b in args.blocks.split(",")],
            [int(s) for s in args.seeds.split(",")],
            args.planted,
            calibrated,
        )
        print(
            table.groupby(["alignment", "scheme", "method"])[
                ["val_bound_kept", "test_bound_kept", "called", "recall", "boot_se_over_spread", "inflation"]
            ]
            .mean()
            .round(4)
        )
        counts = ["n_silent_called", "n_silent", "n_planted_called", "n_planted"]
        print(table.groupby(["alignment", "scheme", "method"])[counts].sum())
        print(table.pivot_table(index="seed", columns=["alignment", "scheme", "method"], values="n_silent_called"))
    elif args.part == "kappa":
        table = protocol_kappa(
            config, [int(s) for s in args.seeds.split(",")], args.refit_resamples or args.resamples, calibrated
        )
        print(table.drop(columns=["fast_s", "refit_s"]).to_string())
        print(table[["fast_s", "refit_s"]].sum().round(1).to_dict())
    elif args.part == "band":
        table = band_comparison(
            replace(config, seed=int(args.seeds.split(",")[0])), [int(s) for s in args.seeds.split(",")]
        )
        print(
            table.pivot_table(
                index=["scenario", "metric", "alignment"], columns="keep_rule", values="value", aggfunc="mean"
            ).round(3)
        )
    elif args.part == "calibration":
        table = pd.concat(
            [
                harness.calibration(replace(config, seed=seed), refit_resamples=args.refit_resamples).assign(seed=seed)
                for seed in (int(s) for s in args.seeds.split(","))
            ],
            ignore_index=True,
        )
        print(
            table.pivot_table(
                index=["scenario", "protocol", "metric", "alignment"], columns=["keep_rule", "seed"], values="value"
            ).round(3)
        )
    else:
        result = timing(args.events, args.targets, args.resamples, args.block_s, args.refit_resamples or 2)
        print(json.dumps(result, indent=1))
        if args.out:
            with open(args.out, "w") as handle:
                json.dump(result, handle, indent=1)
        return
    if args.out:
        table.to_parquet(args.out)


if __name__ == "__main__":
    main()
