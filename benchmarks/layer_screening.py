"""Layer screening against the full layer search: the chosen layer, the layers fitted in full, and the time.

Run ``.venv/bin/python benchmarks/layer_screening.py --part replica --results results`` (a finished run's
``results/``: its epochs, events and features stores) or ``--part harness`` (the validation harness's multi-layer
models, :func:`vlencode.validation.layers.harness_agreement`: planted signal in a known layer that is not the last,
and the site calls of the harness's statistics under each method).  For every (subject, model, alignment) the layer
search (:func:`vlencode.encoding.search_layers`) runs with ``layer_selection`` ``validation`` (every layer fitted to
every target), ``screen`` (the config's ``encoding.screening``) and ``last``; the table gives each one's chosen layer,
how many layers it fitted to all targets and its seconds.  Printed: the fraction of (subject, model, alignment) where
screening and ``last`` choose the full search's layer, and the seconds of each search summed.  ``--out`` writes the
table as JSON.  ``--proxy shared`` computes every proxy from one eigendecomposition of the kernel over all rows
(:mod:`vlencode.ridge.shared_kernel`) where its scaling stands in for the folds'
(:func:`vlencode.ridge.scaling_agrees`), whatever its cost; the search otherwise takes it only where it is also faster
than the engine (layers wider than the replica's), so that its agreement is measured on this data too.  Site-call
agreement needs the statistics of whole runs: the harness part computes it from its own statistics; on the replica
run the workflow twice (``config/README.md``, "Layer screening").
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml
from paper_scale import at_least

from vlencode import encoding, ridge
from vlencode.config import canonical_config
from vlencode.encoding import RidgeSettings, Screening, contiguous_splits
from vlencode.encoding.fitting import design_of
from vlencode.validation import harness
from vlencode.validation.layers import harness_agreement, same_layer, timed_searches

ROOT = Path(__file__).resolve().parents[1]


def config(path: Path) -> dict:
    """The canonical config of ``path`` (the schema's defaults filled in)."""
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return canonical_config(yaml.safe_load(path.read_text()), schema)


def replica(results: Path, cfg: dict, screening: Screening, models: list[str] | None) -> pd.DataFrame:
    """The layer search of every (subject, model, alignment) of a finished run's stores, by every method."""
    settings = RidgeSettings.from_config(cfg["encoding"], cfg["seed"], "cpu", None)
    rows = []
    for epochs_path in sorted((results / "epochs").glob("sub-*_trial-*.zarr")):
        subject, trial = epochs_path.stem.split("_")
        events_path = results / "events" / f"{epochs_path.stem}.parquet"
        for features_dir in sorted((results / "features").glob("model-*")):
            model = features_dir.name.removeprefix("model-")
            if models and model not in models:
                continue
            features = encoding.open_features({p.stem.removeprefix("movie-"): p for p in features_dir.glob("*.zarr")})
            if features.bands:
                continue  # the concatenation baseline is never screened
            for alignment in cfg["encoding"]["alignments"]:
                responses = encoding.load_responses([epochs_path], [events_path], [trial], alignment)
                splits = contiguous_splits(responses.trial, settings.n_folds)
                for row in timed_searches(
                    design_of(features, responses),
                    features.candidate_layers,
                    responses.targets,
                    splits,
                    settings,
                    screening,
                    responses.response.shape[1:],
                    f"{subject} {alignment} events",
                ):
                    rows.append({"subject": subject, "model": model, "alignment": alignment, **row})
                    print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--part", choices=["replica", "harness"], required=True)
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="replica: a finished run's results/")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--models", default="", help="replica: comma-separated instances (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="harness: simulated subjects")
    parser.add_argument("--minutes", type=float, default=8.0, help="harness: simulated minutes")
    parser.add_argument("--electrodes", type=int, default=6, help="harness: electrodes per category")
    parser.add_argument("--layers", type=int, default=6, help="harness: layers per network")
    parser.add_argument("--planted-layer", type=int, default=2, help="harness: the planted layer (not the last)")
    parser.add_argument(
        "--targets",
        type=at_least(2),
        help="screening.targets of the proxy (default: the config's); keep it well below the "
        "targets of the problem, as at paper scale (1024 of 24,150)",
    )
    parser.add_argument(
        "--growth",
        type=at_least(1),
        help="screening.growth: 1 fits every leading layer of the first round (default: the config's)",
    )
    parser.add_argument(
        "--proxy",
        choices=["auto", "shared"],
        default="auto",
        help="shared: every proxy from the kernel over all rows where its scaling holds, whatever its cost (default:"
        " where it is also faster)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.part == "harness" and not 0 <= args.planted_layer < args.layers - 1:
        parser.error(f"--planted-layer is a layer index below the last ({args.layers - 1}), got {args.planted_layer}")
    if args.part == "harness" and not (args.minutes > 0 and args.electrodes >= 1):
        parser.error("--minutes and --electrodes must be positive")
    if args.proxy == "shared":
        ridge.shared_kernel_pays = lambda *_args, **_kwargs: True
    cfg = config(args.config)
    screening = Screening.from_config(cfg["encoding"]["screening"])
    if args.targets:
        screening = replace(screening, targets=args.targets)
    if args.growth:
        screening = replace(screening, growth=args.growth)
    out: dict[str, list] = {}
    if args.part == "replica":
        stored = {p.name.removeprefix("model-") for p in (args.results / "features").glob("model-*")}
        if not stored or not any((args.results / "epochs").glob("sub-*_trial-*.zarr")):
            parser.error(f"--results {args.results}: no epochs and features stores; give a finished run's results/")
        models = [m for m in args.models.split(",") if m]
        if set(models) - stored:
            unknown, known = ", ".join(sorted(set(models) - stored)), ", ".join(sorted(stored))
            parser.error(f"--models: {unknown} not in {args.results}/features; use some of {known}")
        searches = replica(args.results, cfg, screening, models)
    else:
        small = harness.HarnessConfig.from_config(cfg)
        small = replace(
            small,
            minutes=args.minutes,
            electrodes=dict.fromkeys(small.electrodes, args.electrodes),
            layers=args.layers,
            planted_layer=args.planted_layer,
        )
        searches, calls = harness_agreement(small, screening, [int(s) for s in args.seeds.split(",")])
        kappa = calls.groupby(["method", "keep_rule", "alignment", "metric"])["value"].min().reset_index()
        print("site calls against the full search's, Cohen's kappa (the lowest over seeds):")
        print(kappa.to_string(index=False))
        out["calls"] = calls.to_dict("records")
        planted = searches[searches["method"] == "validation"]
        print(
            f"full search chose the planted layer in {int((planted['chosen'] == planted['planted']).sum())} of "
            f"{len(planted)} searches"
        )
    summary = same_layer(searches)
    print(summary.to_string(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out |= {"searches": searches.to_dict("records"), "summary": summary.to_dict("records")}
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
