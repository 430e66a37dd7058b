"""One paper-scale ``fit`` job on synthetic data, timed per stage, and the whole paper's fits projected from it.

Run ``.venv/bin/python benchmarks/paper_scale.py`` (``--quick`` for a small trial run, ``--help`` for the sizes).

The job is what rule ``fit`` does for one subject and one model (:func:`vlencode.encoding.fitting.fit_alignment` per
alignment): the layer search (:func:`vlencode.encoding.search_layers`) and the fast bootstrap of the chosen layer's
out-of-fold predictions, 1000 resamples under both schemes (iid and block) with the percentile bounds.  Shaped like
the paper: 150 electrodes x 161 bins (24,150 targets), 5 contiguous folds, the word count of a paper trial
(``config/paper.yaml``'s recordings, counted from the word tables the ``neuroprobe`` wheel ships) and a scene-cut
count the dataset does not ship (``--cuts-per-minute`` times the span of the trial's words, stated in the output), 13
layers per model with a planted signal that peaks in a middle layer and fades over its neighbours (near ties, which
screening must settle by fitting every layer its proxy cannot tell from the best), 768 wide and at the study
extraction's width (the Johnson-Lindenstrauss dimension of the movie's unique stimuli at ``eps`` 0.1,
:func:`vlencode.features.projection_dim`).

Each alignment's layer search runs with ``layer_selection: validation`` (every layer fitted to every target) and
``screen`` (the paper config's setting, with its ``encoding.screening``); the folds, alphas, block length and
coverage are config/paper.yaml's.  ``--validation-layers k``
fits only k of the layers in the validation search and extrapolates linearly per layer (said in the output).  The
time to make the synthetic layers is subtracted (a real job reads them from its features stores instead).

The projection multiplies the seconds per job by the job counts of the paper's dry run
(``snakemake -n --configfile config/paper.yaml`` on a metadata-only stand-in of the dataset, or ``--jobs-json``) and
the layer counts the paper config fits per network (docs/models.md, "The study's layer groups": they come from the
networks themselves, which are not loaded here).  ``--out`` saves each measured alignment as it comes,
``--from-json`` reports saved runs again (several together: runs of other trials or widths), ``--readme`` rewrites
the measured part of ``config/README.md``'s "The paper run".  Snakemake is needed only for the dry run
(``--jobs-json`` replaces it); the layer search comes from ``vlencode.encoding``, which reads its stores with zarr and
pandas, so those must be installed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vlencode.bootstrap.bounds import percentile_bounds
from vlencode.bootstrap.fast import fast_bootstrap
from vlencode.bootstrap.inflation import NULL_ELECTRODES
from vlencode.bootstrap.resampling import draw_block_resamples, draw_resamples, resample_seed
from vlencode.encoding import (
    RidgeSettings,
    Screening,
    contiguous_splits,
    null_inflation,
    null_targets,
    search_layers,
)
from vlencode.encoding.screening import screen_layers
from vlencode.features import projection_dim
from vlencode.ridge import riders_pay

ROOT = Path(__file__).resolve().parents[1]
N_ELECTRODES, N_BINS = 150, 161
EPS = 0.1  # the study extraction's Johnson-Lindenstrauss eps (its projected width)


def paper_config() -> dict:
    """config/paper.yaml with the schema's defaults filled in: the encoding and bootstrap settings a paper fit uses."""
    import yaml

    from vlencode.config import canonical_config

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return canonical_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()), schema)


PAPER = paper_config()
BLOCK_S, CI = float(PAPER["bootstrap"]["block_s"]), float(PAPER["bootstrap"]["ci"])
INFLATION = PAPER["bootstrap"]["inflation"]
# Candidate layers per network as the paper config fits them (docs/models.md, "The study's layer groups"): 13 entries,
# each with its random-init twin.  The concatenation baseline fits `concat` and `concat-banded`.
PAPER_LAYERS = {
    "simclr": 14,
    "beit": 14,
    "convnext": 6,
    "simcse": 14,
    "sbert": 14,
    "slip-vision": 14,
    "slip-language": 14,
    "clip-vision": 14,
    "clip-language": 14,
    "flava": 34,
    "albef": 26,
    "blip": 26,
    "concat-simcse-simclr": 2,
}
STATISTICS_RULES = ("scores", "compare", "sites", "calibration")
README_START = "<!-- paper_scale.py: begin -->"
README_END = "<!-- paper_scale.py: end -->"


def neuroprobe_words() -> Path:
    """The word tables of the ``neuroprobe`` wheel (found without importing it: its import needs the dataset)."""
    for entry in sys.path:
        folder = Path(entry) / "neuroprobe" / "braintreebank_features_time_alignment"
        if folder.is_dir():
            return folder
    raise FileNotFoundError("the neuroprobe wheel is not installed: pass --words instead")


def paper_recordings() -> list[tuple[str, str]]:
    """(subject, trial) of config/paper.yaml's ``dataset.recordings``, read without yaml."""
    text = (ROOT / "config" / "paper.yaml").read_text()
    return re.findall(r'\{subject: "(\d+)", trial: "(\d+)"\}', text)


@dataclass
class Trial:
    subject: str
    trial: str
    words: int
    minutes: float
    cuts: int
    word_onsets: np.ndarray = field(repr=False)

    @property
    def width(self) -> int:
        """The study extraction's width: the JL dimension of the movie's unique stimuli (words and cuts together)."""
        return projection_dim(self.words + self.cuts, EPS)


def paper_trials(cuts_per_minute: float) -> list[Trial]:
    """The paper's trials: word counts and onsets from neuroprobe, cuts at ``cuts_per_minute`` over the words' span."""
    folder = neuroprobe_words()
    trials = []
    for subject, trial in paper_recordings():
        with open(folder / f"subject{subject}_trial{trial}_words_df.csv", newline="") as handle:
            onsets = np.sort(np.array([float(row["start"]) for row in csv.DictReader(handle)]))
        minutes = (onsets[-1] - onsets[0]) / 60
        trials.append(Trial(subject, trial, len(onsets), minutes, round(cuts_per_minute * minutes), onsets))
    return trials


class SyntheticLayers:
    """Layers of one network over ``n`` events: a latent that drives the targets, strongest in ``peak`` and fading
    over its neighbours (``exp(-(l - peak)^2 / 2 spread^2)``), plus independent noise.  Each layer is made on request
    from its own seed, and the seconds spent making them are counted (subtracted from the stage's time)."""

    def __init__(self, latent: np.ndarray, n_layers: int, width: int, peak: int, spread: float, seed: int):
        self.latent, self.width, self.seed = latent, width, seed
        self.names = [f"hidden.{i}" for i in range(n_layers)]
        self.gain = {name: float(np.exp(-((i - peak) ** 2) / (2 * spread**2))) for i, name in enumerate(self.names)}
        self.seconds = 0.0

    def __call__(self, layer: str) -> np.ndarray:
        start = time.perf_counter()
        rng = np.random.default_rng([self.seed, self.names.index(layer)])
        mixing = rng.standard_normal((self.latent.shape[1], self.width), dtype=np.float32)
        design = rng.standard_normal((self.latent.shape[0], self.width), dtype=np.float32)
        design += (2.0 * self.gain[layer]) * (self.latent @ mixing) / np.float32(np.sqrt(self.latent.shape[1]))
        self.seconds += time.perf_counter() - start
        return design


def synthetic_alignment(n_events: int, n_targets: int, n_latent: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent ``[n, k]`` and targets ``[n, t]``: each target a random mix of the latent (weak: r about 0.1-0.3 at
    the peak layer) plus noise, a third of the targets silent."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_events, n_latent), dtype=np.float32)
    loadings = rng.standard_normal((n_latent, n_targets), dtype=np.float32) * np.float32(0.3 / np.sqrt(n_latent))
    loadings[:, rng.random(n_targets) < 1 / 3] = 0
    targets = rng.standard_normal((n_events, n_targets), dtype=np.float32)
    targets += latent @ loadings
    return latent, targets


def peak_memory_gb(reset: bool = False) -> float:
    """The process's peak resident memory (GiB): since the last ``reset`` where Linux lets it be reset (``VmHWM`` after
    writing 5 to ``/proc/self/clear_refs``), else over the process's life (``ru_maxrss``)."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s*(\d+) kB", status).group(1)) / 2**20
    except (OSError, AttributeError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**30 if sys.platform == "darwin" else 2**20)


@dataclass(frozen=True)
class TimedProxy(RidgeSettings):
    """The settings with every screening proxy timed: ``calls`` holds the seconds of each ``validation_r`` call in
    order, the first round's (one per candidate) first, then the rescoring rounds' (one per leading layer)."""

    calls: list[float] = field(default_factory=list, compare=False)

    @classmethod
    def of(cls, settings: RidgeSettings) -> TimedProxy:
        return cls(**{name: getattr(settings, name) for name in RidgeSettings.__dataclass_fields__})

    def validation_r(self, design: np.ndarray, targets: np.ndarray, splits) -> np.ndarray:
        start = time.perf_counter()
        scores = super().validation_r(design, targets, splits)
        self.calls.append(time.perf_counter() - start)
        return scores


def time_alignment(
    n_events: int, onsets: np.ndarray, width: int, args: argparse.Namespace, settings: RidgeSettings, name: str
) -> dict:
    """Seconds of each stage of one alignment of one job, at one width, and its peak resident memory."""
    peak_memory_gb(reset=True)
    n_targets = args.electrodes * args.bins
    latent, targets = synthetic_alignment(n_events, n_targets, args.latent, args.seed)
    layers = SyntheticLayers(latent, args.layers, width, args.planted, args.spread, args.seed)
    trial = np.zeros(n_events, dtype=np.int64).astype(str)
    splits = contiguous_splits(trial, settings.n_folds, name)
    shape = (args.electrodes, args.bins)
    screening = Screening.from_config(PAPER["encoding"]["screening"] | args.screening)
    row: dict = {
        "alignment": name,
        "events": n_events,
        "width": width,
        "layers": args.layers,
        "targets": n_targets,
        "resamples": args.resamples,
        "scale": args.scale,
        "proxy_targets": screening.targets,
        "growth": screening.growth,
        "threads": torch.get_num_threads(),
        "memory_gb": settings.memory_gb,
        "device": args.device,
    }

    def timed(candidates: list[str], method: str) -> tuple[float, object, list[float]]:
        """The search's seconds, the search, and the seconds of each proxy it computed (:class:`TimedProxy`)."""
        layers.seconds, proxied = 0.0, TimedProxy.of(settings)
        start = time.perf_counter()
        search = search_layers(
            layers,
            candidates,
            targets,
            splits,
            proxied,
            shape=shape,
            layer_selection=method,
            screening=screening,
            name=name,
        )
        return time.perf_counter() - start - layers.seconds, search, proxied.calls

    try:
        if args.validation_layers <= 0 or args.validation_layers >= args.layers:
            prediction = full_searches(row, layers, timed)
        else:
            prediction = subset_searches(row, layers, timed, targets, splits, settings, screening, name, args)
    except (RuntimeError, ValueError, MemoryError) as error:  # e.g. the engine's memory plan at n_features > n_train
        row["error"] = f"{type(error).__name__}: {error}"
        print(f"  {name} width {width}: the layer search failed: {row['error']}", flush=True)
        return row
    row["planted"] = layers.names[args.planted]
    row["same_layer"] = row["validation_chosen"] == row["screen_chosen"]
    print(
        f"  {name} width {width}: validation {row['validation_s']:.1f} s"
        + (f" (extrapolated from {row['validation_layers_fitted']} layers)" if row["extrapolated"] else "")
        + f", chose {row['validation_chosen']}; screen {row['screen_s']:.1f} s, fitted {row['screen_fitted_layers']},"
        f" chose {row['screen_chosen']} (planted {row['planted']})",
        flush=True,
    )
    resamples = {
        "iid": draw_resamples(n_events, args.resamples, resample_seed(args.seed, "bench", name)),
        "block": draw_block_resamples(
            onsets, trial, BLOCK_S, args.resamples, resample_seed(args.seed, "bench", name, "block")
        ),
    }
    for scheme, indices in resamples.items():
        start = time.perf_counter()
        boot_val, _ = fast_bootstrap(prediction, targets, splits, indices, settings.device)
        lo, _ = percentile_bounds(boot_val, CI)
        row[f"bootstrap_{scheme}_s"] = time.perf_counter() - start
        row[f"kept_{scheme}"] = int((lo > 0).sum())
    row["inflation_s"] = 0.0
    if INFLATION == "shifted":
        design = layers(row["screen_chosen"])
        start = time.perf_counter()
        row["inflation"] = null_inflation(design, targets, splits, settings, resamples, shape)
        row["inflation_s"] = time.perf_counter() - start
        riding_inflation(row, design, targets, splits, settings, resamples, shape)
    row["peak_rss_gb"] = peak_memory_gb()
    print(
        f"  {name} width {width}: bootstrap iid {row['bootstrap_iid_s']:.1f} s, block {row['bootstrap_block_s']:.1f} s,"
        f" inflation ({INFLATION}) {row['inflation_s']:.1f} s"
        + (
            f", riding with the layer's fit {row['rider_s'] + row['inflation_ridden_s']:.1f} s"
            if "rider_s" in row
            else ""
        )
        + f" (kept {row['kept_iid']} / {row['kept_block']} of {n_targets}); peak memory {row['peak_rss_gb']:.1f} GiB",
        flush=True,
    )
    return row


def riding_inflation(row: dict, design, targets, splits, settings: RidgeSettings, resamples, shape) -> None:
    """The shifted null as a job fits it when it rides with the chosen layer's fit (``search_layers``' ``riders``:
    one layer fitted in full, or a concatenation baseline): ``rider_s``, what the null targets add to that fit (the
    joint fit's seconds less those of a fit of the layer alone, timed just before it, so that both see the same load
    beside them), and ``inflation_ridden_s``, the rest of the inflation (the null's bootstrap); the factors must equal
    the separate fit's (``inflation_ridden_difference``)."""
    riders, _ = null_targets(targets, shape, settings.seed)
    start = time.perf_counter()
    settings.cross_validate(design, targets, splits)
    alone_s = time.perf_counter() - start
    start = time.perf_counter()
    joint = settings.cross_validate(design, np.hstack([targets, riders]), splits)
    row["rider_s"] = time.perf_counter() - start - alone_s
    fitted = joint.columns(slice(targets.shape[1], None))
    del joint
    start = time.perf_counter()
    ridden = null_inflation(design, targets, splits, settings, resamples, shape, None, fitted)
    row["inflation_ridden_s"] = time.perf_counter() - start
    row["inflation_ridden_difference"] = max(abs(ridden[k] - row["inflation"][k]) for k in ridden)


def full_searches(row: dict, layers: SyntheticLayers, timed) -> np.ndarray:
    """Both searches over every layer, as a job runs them; the chosen layer's predictions (screen's choice)."""
    seconds, screen, proxies = timed(layers.names, "screen")
    row |= {"screen_s": seconds, "screen_chosen": screen.chosen, "screen_fitted": len(screen.layers)}
    row["screen_fitted_layers"] = list(screen.layers)
    row |= proxy_seconds(proxies, len(layers.names))
    prediction = screen.kept_fits[screen.chosen][0]
    del screen
    seconds, validation, _ = timed(layers.names, "validation")
    row |= {"validation_s": seconds, "validation_chosen": validation.chosen, "extrapolated": False}
    row["validation_layers_fitted"] = len(layers.names)
    row["full_fit_s"] = seconds / len(layers.names)
    return prediction


def proxy_seconds(proxies: list[float], n_candidates: int) -> dict:
    """A screening's proxy seconds: ``proxy_s`` the first round's per candidate, ``rescore_s`` the rescoring rounds'
    in all (``rescored`` proxies); zeros where the proxy was the full search (no proxy computed)."""
    first, rest = proxies[:n_candidates], proxies[n_candidates:]
    return {"proxy_s": float(np.mean(first)) if first else 0.0, "rescore_s": float(sum(rest)), "rescored": len(rest)}


def subset_searches(row, layers, timed, targets, splits, settings, screening, name, args) -> np.ndarray:
    """``--validation-layers k``: the k layers nearest the planted one fitted in full and screened, each search's
    seconds extrapolated per layer to all layers (screen: every layer's proxy, plus a full fit of each leading layer
    among the k); the chosen layer's predictions."""
    by_distance = sorted(layers.names, key=lambda n: abs(layers.names.index(n) - args.planted))
    subset = [n for n in layers.names if n in by_distance[: args.validation_layers]]
    seconds, validation, _ = timed(subset, "validation")
    full_fit_s = seconds / len(subset)
    proxied = TimedProxy.of(settings)
    screened = screen_layers(layers, subset, targets, splits, proxied.validation_r, screening, settings.seed, name)
    proxies = proxy_seconds(proxied.calls, len(subset))
    leading = subset if screened is None else screened[0]
    n = len(layers.names)
    row |= proxies | {
        "validation_s": full_fit_s * n,
        "validation_chosen": validation.chosen,
        "validation_layers_fitted": len(subset),
        "extrapolated": True,
        "screen_s": proxies["proxy_s"] * n + proxies["rescore_s"] + full_fit_s * len(leading),
        "screen_chosen": max(leading, key=lambda layer: validation.mean_val_r[layer]),
        "screen_fitted": len(leading),
        "screen_fitted_layers": leading,
        "full_fit_s": full_fit_s,
    }
    return validation.kept_fits[validation.chosen][0]


def job_rows(trial: Trial, width: int, args: argparse.Namespace, settings: RidgeSettings) -> Iterator[dict]:
    """Both alignments of one job: words (onsets from neuroprobe) and scene cuts (evenly spread over the span)."""
    cut_onsets = np.linspace(trial.word_onsets[0], trial.word_onsets[-1], trial.cuts)
    for alignment, n, onsets in (("word", trial.words, trial.word_onsets), ("scene", trial.cuts, cut_onsets)):
        if alignment not in args.alignments:
            continue
        n = max(2 * settings.n_folds * 2, round(n * args.scale))
        onsets = onsets[np.linspace(0, len(onsets) - 1, n).round().astype(int)]
        yield time_alignment(n, onsets, width, args, settings, f"sub-{trial.subject} {alignment} events")


def dry_run_counts() -> dict[str, int]:
    """Job counts per rule of ``snakemake -n --configfile config/paper.yaml`` on a metadata-only stand-in of the
    Brain Treebank and stand-in locks of the weights (as tests/test_cluster.py plans it)."""
    import yaml

    from vlencode.datasets.braintreebank import write_stand_in
    from vlencode.models.registry import model_instances
    from vlencode.models.weights import entry_units, merge_units, write_stand_in_locks

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "braintreebank"
        write_stand_in(root)
        config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
        config["dataset"]["root"] = str(root)
        config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
        (work / "paper.yaml").write_text(yaml.safe_dump(config))
        instances = model_instances(config)
        units = merge_units(
            [
                u
                for i in instances.values()
                if not i.components
                for u in entry_units(i.entry, "resources/models").values()
            ]
        )
        write_stand_in_locks(work, units)
        snakemake = Path(sys.executable).with_name("snakemake")
        command = [str(snakemake), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
        command += ["--configfile", str(work / "paper.yaml"), "-n", "--quiet", "rules"]
        result = subprocess.run(
            command, capture_output=True, text=True, cwd=work, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=1200
        )
    if result.returncode != 0:
        raise RuntimeError(f"the paper's dry run failed:\n{(result.stdout + result.stderr)[-3000:]}")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", result.stdout, flags=re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule != "total"}


def machine(device: str) -> str:
    """The CPU (lscpu's model name), its cores, torch's threads, the GPU if one ran it, and the load beside us."""
    model = platform.processor() or platform.machine()
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", info).group(1).strip()
    except (OSError, AttributeError):
        pass
    text = f"{model}, {os.cpu_count()} cores, torch {torch.get_num_threads()} threads"
    if device == "cuda":
        text += f", GPU {torch.cuda.get_device_name()}"
    load = os.getloadavg()[0]
    return text + f", load average {load:.1f} at the end (other processes ran beside it when that exceeds the threads)"


def bootstrap_s(row: dict, riding: int = 0) -> float:
    """Seconds of a job alignment's bootstrap: both schemes, plus the variance inflation when the paper config asks
    for it: its null fit of its own (``inflation_s``; absent from runs saved before it was timed) or, riding with
    ``riding`` fits, what the null adds to each of them and its bootstrap (``rider_s``, at least 0, plus
    ``inflation_ridden_s``; the null fit of its own where a row saved before they were timed lacks them)."""
    if riding and "rider_s" in row:
        inflation = riding * max(row["rider_s"], 0.0) + row["inflation_ridden_s"]
    else:
        inflation = row.get("inflation_s", 0.0)
    return row["bootstrap_iid_s"] + row["bootstrap_block_s"] + inflation


def rides(network: str, fitted: int, row: dict) -> int:
    """The fits a job alignment's shifted null rides with (``search_layers``' ``riders``; 0: a fit of its own): each
    of a concatenation baseline's two fits; a network's only layer fitted in full; its ``fitted`` layers where
    :func:`vlencode.ridge.riders_pay` says that costs less than a fit of its own."""
    if network.startswith("concat") or fitted == 1:
        return 1
    splits = contiguous_splits(np.zeros(row["events"], dtype=np.int64).astype(str), PAPER["encoding"]["n_folds"], "")
    n_alphas = int(PAPER["encoding"]["alphas"]["n"])
    n_riders = min(NULL_ELECTRODES, N_ELECTRODES) * N_BINS
    return fitted if riders_pay(row["events"], row["width"], splits, n_alphas, n_riders, fitted) else 0


def instances_per_network(counts: dict[str, int], trials: list[Trial]) -> int:
    """Instances of each network in the dry run's `fit` jobs (trained and random-init: 2)."""
    return counts["fit"] // (len(PAPER_LAYERS) * len(trials))


def bootstrapped_fits(network: str) -> int:
    """Fits a job of ``network`` keeps and bootstraps: a concatenation baseline its plain and banded fit, a network
    its chosen layer."""
    return 2 if network.startswith("concat") else 1


def measured_shape(row: dict) -> tuple[int, int, int]:
    """A row's targets, resamples and proxy targets, the paper's where a row saved before they were recorded lacks
    them."""
    targets = row.get("targets", N_ELECTRODES * N_BINS)
    resamples = row.get("resamples", int(PAPER["bootstrap"]["n_resamples"]))
    return targets, resamples, row.get("proxy_targets", min(int(PAPER["encoding"]["screening"]["targets"]), targets))


def paper_shaped(row: dict) -> bool:
    """Whether a saved row measured a paper-shaped alignment (every event, 150 x 161 targets, the paper's resamples
    and proxy targets): only those are projected (a ``--quick``, ``--scale`` or ``--proxy-targets`` row is not).  Rows
    saved before these were recorded pass."""
    paper = {"targets": N_ELECTRODES * N_BINS, "resamples": int(PAPER["bootstrap"]["n_resamples"])}
    return "error" not in row and row.get("scale", 1.0) == 1.0 and measured_shape(row) == measured_shape(paper)


def job_seconds(rows: list[dict], network: str, n_layers: int) -> dict[str, float]:
    """Seconds of one `fit` job of ``network`` (``n_layers`` candidates, all at the rows' width) over the alignments
    ``rows`` measured for one subject, per layer-selection method: validation fits every layer, screen scores every
    layer on its proxy, rescores the measured near ties as measured and fits the measured count of leading layers;
    the bootstrap is per alignment.  The
    concatenation baseline fits and bootstraps both of its fits, each of the two networks' joint width: counted as
    twice a network layer's fit (plain ridge; its banded ridge is not timed here)."""
    concat = network.startswith("concat")
    seconds = {"validation": 0.0, "screen": 0.0}
    for row in rows:
        full = row["full_fit_s"] * bootstrapped_fits(network)
        fitted = n_layers if concat else min(n_layers, row["screen_fitted"])
        boot = {
            method: bootstrap_s(row, rides(network, layers, row)) * bootstrapped_fits(network)
            for method, layers in (("validation", n_layers), ("screen", fitted))
        }
        seconds["validation"] += n_layers * full + boot["validation"]
        proxies = 0 if concat else n_layers * row["proxy_s"] + row.get("rescore_s", 0.0)
        seconds["screen"] += fitted * full + proxies + boot["screen"]
    return seconds


def width_label(row: dict, trials: list[Trial]) -> str:
    """``"study"`` for a row measured at its trial's study width (which differs per trial), else its width."""
    study = {t.subject: t.width for t in trials}
    return "study" if row["width"] == study.get(row["subject"]) else str(row["width"])


def project(rows: list[dict], trials: list[Trial], counts: dict[str, int], width: str) -> dict:
    """Hours of the paper's fits per layer-selection method, from the per-layer seconds measured at ``width`` (a
    number, or ``"study"``: each trial at its own study width, :func:`width_label`), and the longest `fit` job.

    Per subject, the measured trial with the fewest words at least its own (an upper bound for a smaller trial), or
    the largest measured where none is (a lower bound for that subject: ``lower_bound``); per network its paper
    layer count (every layer at ``width``, :func:`job_seconds`).  Only paper-shaped rows count (:func:`paper_shaped`).
    Alignments whose search failed at this width are left out (``missing``), and so are those the timed subject has
    no paper-shaped row of (``unmeasured``: ``--alignments``, or rows of other shapes): the projection is then a lower
    bound."""
    ok = latest_per_alignment([r for r in rows if width_label(r, trials) == width and paper_shaped(r)])
    words = {t.subject: t.words for t in trials}
    measured = sorted({r["subject"] for r in ok}, key=words.get)
    if not measured or "fit" not in counts:
        return {}
    instances = instances_per_network(counts, trials)
    hours = {"validation": 0.0, "screen": 0.0}
    longest: dict = {}
    lower_bound = [t.subject for t in trials if words[t.subject] > words[measured[-1]]]
    unmeasured: set[str] = set()
    for trial in trials:
        bigger = [s for s in measured if words[s] >= trial.words] or measured[-1:]
        timed = [r for r in ok if r["subject"] == bigger[0]]
        unmeasured |= set(PAPER["encoding"]["alignments"]) - {r["alignment"].split()[1] for r in timed}
        for network, n_layers in PAPER_LAYERS.items():
            seconds = job_seconds(timed, network, n_layers)
            for method in hours:
                hours[method] += seconds[method] * instances / 3600
            if seconds["screen"] > longest.get("screen_s", -1.0):
                longest = {
                    "network": network,
                    "layers": n_layers,
                    "subject": bigger[0],
                    "screen_s": seconds["screen"],
                    "validation_s": seconds["validation"],
                    "peak_rss_gb": max((r["peak_rss_gb"] for r in timed if "peak_rss_gb" in r), default=float("nan")),
                    "threads": timed[0].get("threads"),
                }
    return {
        "width": width,
        "fit_jobs": len(trials) * len(PAPER_LAYERS) * instances,
        "hours": hours,
        "longest": longest,
        "measured": measured,
        "lower_bound": lower_bound,
        "missing": sorted(
            {r["alignment"].split()[1] for r in rows if width_label(r, trials) == width and "error" in r}
        ),
        "unmeasured": sorted(unmeasured),
    }


def width_words(width: str) -> str:
    """How the report names a projection's width."""
    return "the study width (each trial's own)" if width == "study" else f"width {width}"


def slurm_fit_resources() -> dict:
    """What ``profiles/slurm/config.yaml`` grants a `fit` job: its threads, ``mem_mb`` and ``runtime`` (minutes)."""
    import yaml

    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    resources = profile.get("set-resources", {}).get("fit", {})
    return {"threads": profile.get("set-threads", {}).get("fit"), **resources}


def bootstrap_flops(events: int, resamples: int, targets: int) -> float:
    """Floating-point operations of one alignment's fast bootstrap, both schemes: per scheme one product of the
    resample counts ``[resamples, events]`` with five moments of every target (:func:`fast_bootstrap`; its validation
    and test groups together hold every event once)."""
    return 2 * (2.0 * resamples * events * 5 * targets)


def bootstrap_floor(rows: list[dict], trials: list[Trial], counts: dict[str, int]) -> dict:
    """The paper's fast-bootstrap arithmetic (the paper config's resamples, 150 x 161 targets) and its hours at the
    rate the measured bootstraps reached (their operations over their seconds, whatever their sizes): what the current
    fast bootstrap costs the paper, whatever the layer search costs.

    Every `fit` job bootstraps its chosen layer in both alignments (a concatenation baseline both of its fits), over
    the words and the assumed cuts of its subject's trial."""
    timed = [r for r in rows if paper_shaped(r) and "targets" in r]
    if not timed or "fit" not in counts:
        return {}
    seconds = sum(r["bootstrap_iid_s"] + r["bootstrap_block_s"] for r in timed)
    rate = sum(bootstrap_flops(r["events"], r["resamples"], r["targets"]) for r in timed) / seconds
    fits_per_subject = instances_per_network(counts, trials) * sum(map(bootstrapped_fits, PAPER_LAYERS))
    resamples, targets = int(PAPER["bootstrap"]["n_resamples"]), N_ELECTRODES * N_BINS
    flops = sum(bootstrap_flops(t.words + t.cuts, resamples, targets) for t in trials) * fits_per_subject
    return {"flops": flops, "rate": rate, "hours": flops / rate / 3600, "resamples": resamples, "targets": targets}


def report(
    rows: list[dict], trials: list[Trial], counts: dict, projections: list[dict], device: str, where: str, command: str
) -> str:
    """The printed (and README) tables."""
    lines = [
        f"Machine: {where}; device {device}.",
        "",
        f"Command: `{command}`",
        "",
        "| subject/trial | words | span (min) | cuts (assumed) | study width (JL, eps 0.1) |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {t.subject}/{t.trial} | {t.words} | {t.minutes:.0f} | {t.cuts} | {t.width} |" for t in trials]
    lines += [
        "",
        "| job | alignment | events | width | validation s (layers fitted) | screen s (layers fitted) | layer-search"
        " speedup | same layer | bootstrap iid + block (+ inflation) s, validation / screen | job s, validation |"
        " job s, screen |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| sub-{r['subject']} | {r['alignment'].split()[1]} | {r['events']} | {r['width']} | "
                f"failed: {r['error'].split(';')[0][:160]} | | | | | | |"
            )
            continue
        boot = bootstrap_s(r, rides("", r["layers"], r))
        boot_screen = bootstrap_s(r, rides("", r["screen_fitted"], r))
        screened = f" of {r['validation_layers_fitted']} screened, extrapolated" if r["extrapolated"] else ""
        screened += f"; {r['rescored']} proxies rescored" if r.get("rescored") else ""
        fitted = f"{r['validation_layers_fitted']}" + (f" of {r['layers']}, extrapolated" if r["extrapolated"] else "")
        lines.append(
            f"| sub-{r['subject']} | {r['alignment'].split()[1]} | {r['events']} | {r['width']} | "
            f"{r['validation_s']:.0f} ({fitted}) | {r['screen_s']:.0f} ({r['screen_fitted']}{screened}) | "
            f"{r['validation_s'] / r['screen_s']:.1f}x | {'yes' if r['same_layer'] else 'NO'} "
            f"({r['screen_chosen']}) | {boot:.0f} / {boot_screen:.0f} | {r['validation_s'] + boot:.0f} |"
            f" {r['screen_s'] + boot_screen:.0f} |"
        )
    jobs = {}
    # Paper-shaped rows where there are any (a saved --quick row beside them is not part of a paper job).
    shaped = [r for r in rows if paper_shaped(r)]
    for r in latest_per_alignment(shaped or [r for r in rows if "error" not in r]):
        if "error" not in r:
            key = (r["subject"], r["width"])
            v, s = jobs.get(key, (0.0, 0.0))
            jobs[key] = (
                v + r["validation_s"] + bootstrap_s(r, rides("", r["layers"], r)),
                s + r["screen_s"] + bootstrap_s(r, rides("", r["screen_fitted"], r)),
            )
    lines.append("")
    for (subject, width), (v, s) in jobs.items():
        lines.append(
            f"Whole job (all alignments), sub-{subject} at width {width}: validation {v:.0f} s, screen {s:.0f} s."
        )
    if counts:
        stats = ", ".join(f"{counts.get(rule, 0)} `{rule}`" for rule in STATISTICS_RULES)
        lines += [
            "",
            f"Dry run: {sum(counts.values())} jobs{'' if 'weights' in counts else ' (the weights locked)'},"
            f" {counts.get('fit', 0)} `fit`; statistics {stats} (not timed here;"
            " neither are the other rules).",
        ]
    unit = "GPU" if device == "cuda" else "CPU"
    for projection in projections:
        h, measured = projection["hours"], ", ".join(f"sub-{s}" for s in projection["measured"])
        lines.append(
            f"Projected at {width_words(projection['width'])}, the paper's {projection['fit_jobs']} `fit` jobs"
            " (the layer counts of docs/models.md, every layer at this width; each subject timed as the measured trial"
            f" with the fewest words at least its own, else the largest: {measured}; the concatenation baseline's two"
            f" fits and bootstraps each counted twice, its banded ridge not timed): validation {h['validation']:.1f} h,"
            f" screen {h['screen']:.1f} h"
            f" ({unit} hours on this machine: wall time with its threads)"
            + (
                f"; a lower bound: {', '.join(f'sub-{s}' for s in projection['lower_bound'])} have more words than"
                " any measured trial"
                if projection["lower_bound"]
                else ""
            )
            + (
                f"; left out: the {', '.join(projection['missing'])} alignment, whose search failed"
                if projection["missing"]
                else ""
            )
            + (
                f"; a lower bound: the {', '.join(projection['unmeasured'])} alignment was not measured for every"
                " subject timed (--alignments), its fits and bootstraps are not counted"
                if projection.get("unmeasured")
                else ""
            )
            + "."
        )
        longest = projection.get("longest")
        if longest:
            grant = slurm_fit_resources()
            peak = longest["peak_rss_gb"]
            lines.append(
                f"Longest `fit` job with screen at {width_words(projection['width'])}: {longest['network']}"
                f" ({longest['layers']} layers) at sub-{longest['subject']},"
                f" {longest['screen_s'] / 3600:.1f} h ({longest['validation_s'] / 3600:.1f} h with validation),"
                f" torch threads {longest['threads'] or 'unrecorded'};"
                + (f" peak resident memory {peak:.1f} GiB (the largest of its alignments)." if peak == peak else "")
                + f" profiles/slurm grants `fit` {grant.get('threads')} threads, {grant.get('mem_mb')} MB and"
                f" {grant.get('runtime')} minutes."
            )
    floor = bootstrap_floor(rows, trials, counts) if projections else {}
    if floor:
        lines.append(
            f"Bootstrap floor: the paper's fast bootstraps ({floor['resamples']} resamples, iid and block, of"
            f" {floor['targets']} targets over every trial's words and cuts, for each `fit` job's chosen layer) are"
            f" {floor['flops']:.2e} floating-point operations, {floor['hours']:.1f} {unit} hours at the"
            f" {floor['rate'] / 1e9:.1f} GFLOP/s the bootstraps above reached, whatever the layer search costs."
        )
    return "\n".join(lines)


def shape_key(row: dict, device: str) -> tuple:
    """What a row measured: its alignment, width, events, :func:`measured_shape`, layers and device (``device``, the
    run's, where the row does not say)."""
    events = row.get("events")
    return (
        row["subject"],
        row["alignment"],
        row["width"],
        events,
        *measured_shape(row),
        row.get("layers", 13),
        row.get("device", device),
    )


def latest_per_alignment(rows: list[dict]) -> list[dict]:
    """The last row of each subject, alignment and width, in order: one measurement per alignment is counted."""
    return list({(r["subject"], r["alignment"], r["width"]): r for r in rows}.values())


def merge_saved(runs: list[dict]) -> dict:
    """Saved ``--out`` records as one: their rows in order (a row of the same alignment, width and shape measured
    again in a later file replaces the earlier one, unless it failed where the earlier one did not; the projection
    then counts one row per alignment and width, :func:`latest_per_alignment`), the first job counts any run has, the
    first run's device, and the machines and commands of all (each once)."""
    latest: dict[tuple, dict] = {}
    for run in runs:
        for row in run["rows"]:
            key = shape_key(row, run.get("device", "cpu"))
            if "error" in row and key in latest and "error" not in latest[key]:
                continue  # a failed measurement never replaces a successful one
            latest[key] = row
    return {
        "rows": list(latest.values()),
        "counts": next((run["counts"] for run in runs if run.get("counts")), {}),
        "device": runs[0].get("device", "cpu"),
        "machine": "; ".join(dict.fromkeys(run["machine"] for run in runs if run.get("machine"))),
        "command": "` and `".join(dict.fromkeys(run["command"] for run in runs if run.get("command"))),
    }


def write_readme(text: str) -> None:
    path = ROOT / "config" / "README.md"
    readme = path.read_text()
    block = f"{README_START}\nMeasured (`benchmarks/paper_scale.py`):\n\n{text}\n{README_END}"
    if README_START in readme:
        readme = re.sub(re.escape(README_START) + ".*?" + re.escape(README_END), lambda _: block, readme, flags=re.S)
    else:
        readme = readme.replace("\n## regions", f"\n{block}\n\n## regions", 1)
    path.write_text(readme)


def at_least(smallest: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``smallest`` (the benchmarks beside this one use it too)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < smallest:
            raise argparse.ArgumentTypeError(f"must be at least {smallest}, got {value}")
        return value

    return parse


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop with argparse's usage line on a value the run cannot use, before any work."""
    alignments = set(args.alignments.split(","))
    if not alignments <= set(PAPER["encoding"]["alignments"]):
        unknown = ", ".join(sorted(alignments - set(PAPER["encoding"]["alignments"])))
        parser.error(f"--alignments: {unknown} unknown; use {','.join(PAPER['encoding']['alignments'])}")
    for width in args.widths.split(","):
        if width != "study" and not (width.isdigit() and int(width) > 0):
            parser.error(f"--widths: {width!r} is neither study nor a positive number of columns")
    if not 0 <= args.planted < args.layers:
        parser.error(
            f"--planted is a layer index of the {args.layers} layers (0 to {args.layers - 1}), got {args.planted}"
        )
    if not 0 <= args.validation_layers <= args.layers:
        parser.error(f"--validation-layers is 0 (all) to {args.layers}, got {args.validation_layers}")
    if not 0 < args.scale <= 1:
        parser.error(f"--scale is a fraction of each trial's events, in (0, 1], got {args.scale}")
    if not args.cuts_per_minute > 0:
        parser.error(f"--cuts-per-minute must be positive, got {args.cuts_per_minute}")
    sized = {"scale": 1.0, "electrodes": N_ELECTRODES, "bins": N_BINS, "resamples": 1000}
    if args.quick and any(getattr(args, name) != default for name, default in sized.items()):
        parser.error("--quick sets --scale, --electrodes, --bins and --resamples itself; give those without --quick")


def read_job_counts(parser: argparse.ArgumentParser, path: Path) -> dict[str, int]:
    """``--jobs-json``: a JSON object of rule -> job count, with `fit`."""
    try:
        counts = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.error(f"--jobs-json {path}: {error}")
    if not isinstance(counts, dict) or not isinstance(counts.get("fit"), int):
        parser.error(f'--jobs-json {path}: want an object of rule -> job count with "fit", e.g. {{"fit": 182}}')
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument(
        "--trials", default="largest", help="largest, smallest, median, all, or subjects of config/paper.yaml (3,6)"
    )
    parser.add_argument(
        "--widths", default="768,study", help="comma-separated: study (each trial's JL width) and/or column counts"
    )
    parser.add_argument(
        "--alignments",
        default=",".join(PAPER["encoding"]["alignments"]),
        help="comma-separated alignments timed (a projection missing one is a lower bound)",
    )
    parser.add_argument("--cuts-per-minute", type=float, default=15.0, help="scene cuts per minute of movie")
    parser.add_argument(
        "--electrodes", type=at_least(1), default=N_ELECTRODES, help="contacts of the synthetic responses"
    )
    parser.add_argument(
        "--bins", type=at_least(1), default=N_BINS, help="time bins per contact (targets: electrodes x bins)"
    )
    parser.add_argument("--layers", type=at_least(1), default=13, help="candidate layers of the synthetic network")
    parser.add_argument("--planted", type=int, default=6, help="the layer the signal peaks in (0-based)")
    parser.add_argument("--spread", type=float, default=1.5, help="the signal's fall-off over layers")
    parser.add_argument("--latent", type=at_least(1), default=32, help="dimensions of the planted signal")
    parser.add_argument("--validation-layers", type=int, default=0, help="fit k layers and extrapolate (0: all)")
    parser.add_argument(
        "--proxy-targets",
        type=at_least(2),
        help="screening.targets of the screen search, at least 2 as in the schema (default: the paper config's)",
    )
    parser.add_argument(
        "--growth",
        type=at_least(1),
        help="screening.growth of the screen search, 1 for no rescoring of near ties (default: the paper config's)",
    )
    parser.add_argument("--resamples", type=at_least(1), default=1000, help="bootstrap resamples per scheme")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each trial's events (trial runs)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small trial run (no projection): 1/10 of the events, 20 x 20 targets, 100 resamples; it sets --scale,"
        " --electrodes, --bins and --resamples itself",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=at_least(1), default=torch.get_num_threads(), help="torch threads")
    parser.add_argument(
        "--memory-gb",
        type=float,
        help="the ridge engine's memory budget (encoding.memory_gb; default: the paper config's auto, half the memory"
        " free)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and banded ridge")
    parser.add_argument(
        "--jobs-json",
        type=Path,
        help='job counts per rule instead of the dry run: a JSON object such as {"fit": 182, "compare": 7}, which'
        " must count `fit`",
    )
    parser.add_argument("--no-dry-run", action="store_true", help="skip the dry run and the projection's job counts")
    parser.add_argument("--out", type=Path, help="write the rows, counts and projection as JSON")
    parser.add_argument("--readme", action="store_true", help="write the result into config/README.md")
    parser.add_argument(
        "--from-json", type=Path, nargs="+", help="report saved --out files (their rows together) instead of measuring"
    )
    args = parser.parse_args()
    check_arguments(parser, args)
    if args.quick:
        args.scale, args.electrodes, args.bins, args.resamples = 0.1, 20, 20, 100
    args.alignments = args.alignments.split(",")
    args.screening = {
        key: value for key, value in (("targets", args.proxy_targets), ("growth", args.growth)) if value is not None
    }
    torch.set_num_threads(args.threads)

    trials = paper_trials(args.cuts_per_minute)
    ranked = sorted(trials, key=lambda t: t.words)
    picks = {"largest": [ranked[-1]], "smallest": [ranked[0]], "median": [ranked[len(ranked) // 2]], "all": ranked}
    chosen = picks.get(args.trials) or [t for t in trials if t.subject in args.trials.split(",")]
    unknown = sorted(set(args.trials.split(",")) - {t.subject for t in trials}) if args.trials not in picks else []
    if unknown:
        subjects = ", ".join(t.subject for t in trials)
        parser.error(
            f"--trials: no paper trial of subject(s) {', '.join(unknown)}; use {', '.join(picks)} or {subjects}"
        )
    print(f"{args.cuts_per_minute} scene cuts per minute assumed (neuroprobe ships no cut annotations)")
    for t in trials:
        print(
            f"sub-{t.subject} trial {t.trial}: {t.words} words over {t.minutes:.0f} min, {t.cuts} cuts, width {t.width}"
        )

    counts: dict[str, int] = {}
    if args.jobs_json:
        counts = read_job_counts(parser, args.jobs_json)
    elif not args.no_dry_run and not args.from_json:
        start = time.perf_counter()
        counts = dry_run_counts()
        print(f"dry run ({time.perf_counter() - start:.0f} s): {counts}", flush=True)

    saved = merge_saved([json.loads(path.read_text()) for path in args.from_json]) if args.from_json else {}
    counts = saved.get("counts") or counts
    rows = saved.get("rows", [])
    settings = RidgeSettings.from_config(PAPER["encoding"], args.seed, args.device, args.memory_gb)
    for trial in [] if saved else chosen:
        for width in args.widths.split(","):
            w = trial.width if width == "study" else int(width)
            for row in job_rows(trial, w, args, settings):
                rows.append({"subject": trial.subject, "trial": trial.trial, **row})
                if args.out:  # each row as it comes: a long run cut short keeps what it measured
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps({"rows": rows, "counts": counts, "device": args.device}, indent=1))
    widths = sorted({width_label(r, trials) for r in rows}, key=lambda w: (w == "study", w.isdigit() and int(w), w))
    projections = [p for w in widths if not args.quick and (p := project(rows, trials, counts, w))]
    where = saved.get("machine") or machine(args.device)
    command = saved.get("command") or " ".join(["python", "benchmarks/paper_scale.py", *sys.argv[1:]])
    text = report(rows, trials, counts, projections, saved.get("device", args.device), where, command)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {"rows": rows, "counts": counts, "projections": projections, "machine": where, "command": command}
        args.out.write_text(json.dumps(record | {"device": saved.get("device", args.device)}, indent=1))
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main()
