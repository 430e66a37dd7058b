"""A validation harness with known truth and no network: simulated feature spaces and simulated electrodes.

The simulation follows the embedded replica (:mod:`vlencode.datasets.replica`), with its signal model and scale
(:mod:`vlencode.simulation`): scenes of exponential length (mean ``mean_scene_s``) each showing one of four visual
classes (warm/cool colour x two textures); words at gamma-distributed gaps (mean ``mean_word_gap_s``), each a content
(+1) or closed-class (-1) word with a standardised length.  Every electrode carries a 1/f background (the replica's
RMS, knee 2 Hz, exponent 1.5) and, when planted, a gamma-shaped evoked bump of the replica's gain per latent unit and
latencies after each event:

- ``vision``: at scene cuts, amplitude ``0.5 + sign * tuning[class]``;
- ``language``: at word onsets, ``0.5 + sign * (0.8 content + 0.6 length)``;
- ``multimodal``: at word onsets, ``0.5 + sign * (1.2 colour x content + 0.2 content + 0.2 colour)``;
- ``none``: nothing.

Responses are z-scored and epoched like the workflow (bins of ``window_s`` means from ``tmin_s`` to ``tmax_s``).  The
feature spaces are random linear embeddings (plus per-stimulus noise dimensions) of: the visual class (``vision``),
content and length (``language``), both side by side (``concat``, fitted plain and banded) and all of them plus the
colour x content interaction that neither unimodal space spans linearly (``fused``, and ``fused-random-s1`` and
``fused-random-s2``, a pair of equal skill: one more draw of that embedding and the same with its columns permuted and
sign-flipped, each with its own noise dimensions).  Every model is fitted with the ridge engine on contiguous folds
and scored under shared iid and block resamples, by the fast or the refit protocol; the statistics are then exactly
those of the workflow (:mod:`vlencode.stats.compare`, :mod:`vlencode.stats.sites`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from vlencode import simulation
from vlencode.bootstrap.resampling import draw_block_resamples, draw_resamples, resample_seed
from vlencode.encoding import (
    RidgeSettings,
    Screening,
    bootstrap_layer,
    contiguous_splits,
    null_targets,
    search_layers,
    widens,
)
from vlencode.simulation import BACKGROUND_RMS_UV, GAIN_UV, LATENCY_S
from vlencode.stats.compare import ModelScores, compare_alignment
from vlencode.stats.keep import keep_rule, kept
from vlencode.stats.sites import sites_table, with_fdr
from vlencode.validation.agreement import cohen_kappa


@dataclass(frozen=True, kw_only=True)
class HarnessConfig:
    """Sizes and settings of one simulated subject.

    The settings the ``calibration`` rule reads from the config have no default here: :meth:`from_config` takes them
    from the canonical config, whose defaults the schema owns.  The rest is the harness's own simulation scale (the
    replica's event rates at a coarser sampling rate, the workflow's default bins, small feature spaces and few
    banded-ridge draws), which no config key sets.
    """

    minutes: float
    tmin_s: float
    tmax_s: float
    electrodes: dict[str, int]
    n_resamples: int
    block_s: float
    block_kind: str
    inflation: str
    ci: float
    min_bins: int
    fdr_q: float
    n_folds: int
    alphas: tuple[float, ...]
    tests: tuple[str, ...]
    seed: int
    rate_hz: float = 100.0
    mean_word_gap_s: float = 0.3
    mean_scene_s: float = 4.0
    step_s: float = 0.025
    window_s: float = 0.2
    feature_dim: int = 32
    noise_dims: int = 32
    banded_iterations: int = 5
    layers: int = 1
    planted_layer: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HarnessConfig:
        """The harness at the sizes of ``statistics.calibration``, from a canonical config
        (:func:`vlencode.config.canonical_config`).

        ``cfg`` holds ``seed``, ``bootstrap`` (``ci``, ``block_s``, ``block_kind``, ``inflation``), ``encoding``
        (``n_folds``, ``alphas``) and ``statistics`` (``min_bins``, ``fdr_q``, ``multimodal_tests``, ``calibration``:
        ``minutes``, ``electrodes_per_category``, ``n_resamples``, ``tmin_s``, ``tmax_s``); a missing key is a
        ``KeyError``.
        """
        statistics = cfg["statistics"]
        small = statistics["calibration"]
        grid = cfg["encoding"]["alphas"]
        per = int(small["electrodes_per_category"])
        return cls(
            minutes=float(small["minutes"]),
            tmin_s=float(small["tmin_s"]),
            tmax_s=float(small["tmax_s"]),
            electrodes={"vision": per, "language": per, "multimodal": per, "none": per},
            n_resamples=int(small["n_resamples"]),
            block_s=float(cfg["bootstrap"]["block_s"]),
            block_kind=cfg["bootstrap"]["block_kind"],
            inflation=cfg["bootstrap"]["inflation"],
            ci=float(cfg["bootstrap"]["ci"]),
            min_bins=int(statistics["min_bins"]),
            fdr_q=float(statistics["fdr_q"]),
            n_folds=int(cfg["encoding"]["n_folds"]),
            alphas=tuple(np.logspace(grid["log10_min"], grid["log10_max"], grid["n"])),
            tests=tuple(statistics["multimodal_tests"]),
            seed=int(cfg["seed"]),
        )

    def __post_init__(self) -> None:
        if not 0 <= self.planted_layer < self.layers:
            raise ValueError(f"planted_layer {self.planted_layer} is not one of the {self.layers} layers")

    def ridge_settings(self) -> RidgeSettings:
        """The encoding settings the harness fits with (on the CPU, the engine sizing its own batches)."""
        return RidgeSettings(
            alphas=np.asarray(self.alphas),
            n_folds=self.n_folds,
            banded_iterations=self.banded_iterations,
            seed=self.seed,
            device="cpu",
            memory_gb=None,
        )


@dataclass
class Simulation:
    """One simulated subject: per alignment the events, responses and every model's features; the planted truth."""

    onset_s: dict[str, np.ndarray]
    response: dict[str, np.ndarray]
    features: dict[str, dict[str, np.ndarray | list[np.ndarray]]]
    truth: pd.DataFrame
    bin_time_s: np.ndarray


def simulate(config: HarnessConfig, seed: int | None = None) -> Simulation:
    """Simulate one subject (events, latents, electrodes, feature spaces) from ``config`` and ``seed``."""
    seed = config.seed if seed is None else seed
    rng = np.random.default_rng(resample_seed(seed, "harness"))
    duration = 60.0 * config.minutes
    lengths = np.maximum(rng.exponential(config.mean_scene_s, int(3 * duration / config.mean_scene_s) + 10), 0.5)
    cuts = np.cumsum(np.r_[0.0, lengths])
    cuts = cuts[cuts < duration - config.tmax_s - 1.0]
    scene_class = rng.integers(0, 4, len(cuts))
    gaps = rng.gamma(2.0, config.mean_word_gap_s / 2.0, int(3 * duration / config.mean_word_gap_s))
    words = np.cumsum(gaps) + 1.0
    words = words[(words > 0.5 - config.tmin_s) & (words < duration - config.tmax_s - 1.0)]
    content = np.where(rng.random(len(words)) < 0.55, 1.0, -1.0)
    length = rng.standard_normal(len(words))
    scene_of_word = np.searchsorted(cuts, words, side="right") - 1
    colour = np.array([1.0, -1.0, 1.0, -1.0])  # of each visual class: warm or cool
    # The first scene starts with the movie, not at a cut; cuts before the first epoch fits are not events.
    cut_event = np.flatnonzero(cuts > 0.5 - config.tmin_s)
    scene_events = cuts[cut_event]
    word_before_cut = np.clip(np.searchsorted(words, scene_events, side="right") - 1, 0, None)

    latents = {
        "word": {
            "klass": scene_class[scene_of_word],
            "colour": colour[scene_class[scene_of_word]],
            "content": content,
            "length": length,
        },
        "scene": {
            "klass": scene_class[cut_event],
            "colour": colour[scene_class[cut_event]],
            "content": content[word_before_cut],
            "length": length[word_before_cut],
        },
    }
    onset = {"word": words, "scene": scene_events}
    truth, signal = _electrodes(config, rng, duration, onset, latents, cuts, scene_class)
    bins = np.arange(config.tmin_s, config.tmax_s + 1e-9, config.step_s)
    response = {a: _epochs(signal, onset[a], bins, config) for a in onset}
    features = {a: _features(config, seed, latents[a], rng, a) for a in onset}
    return Simulation(onset, response, features, truth, bins)


def _electrodes(config, rng, duration, onset, latents, cuts_all, klass_all):
    n = int(duration * config.rate_hz)
    rows, signals = [], []
    for category, count in config.electrodes.items():
        for _ in range(count):
            noise = simulation.colored_noise(n, config.rate_hz, BACKGROUND_RMS_UV, rng)
            tuning = rng.standard_normal(4)
            tuning = (tuning - tuning.mean()) / tuning.std()
            sign = float(rng.choice([-1.0, 1.0]))
            gain = float(rng.uniform(*GAIN_UV)) if category != "none" else 0.0
            if category != "none":
                latency = float(rng.uniform(*LATENCY_S[category]))
                kernel = simulation.gamma_kernel(latency, config.rate_hz)
                if category == "vision":
                    times = cuts_all[1:]
                    amplitude = 0.5 + sign * tuning[klass_all[1:]]
                elif category == "language":
                    w = latents["word"]
                    times, amplitude = onset["word"], 0.5 + sign * (0.8 * w["content"] + 0.6 * w["length"])
                else:
                    w = latents["word"]
                    inter = 1.2 * w["colour"] * w["content"] + 0.2 * w["content"] + 0.2 * w["colour"]
                    times, amplitude = onset["word"], 0.5 + sign * inter
                noise = noise + gain * simulation.evoked(
                    n, np.round(times * config.rate_hz).astype(int), amplitude, kernel
                )
            signals.append((noise - noise.mean()) / noise.std())
            rows.append({"electrode": f"E{len(rows):03d}", "category": category, "gain": gain})
    return pd.DataFrame(rows), np.stack(signals)


def _epochs(signal: np.ndarray, onset_s: np.ndarray, bins: np.ndarray, config: HarnessConfig) -> np.ndarray:
    """``[n_events, n_electrodes * n_bins]``: per bin, the mean over ``[t, t + window_s)`` after each event."""
    cumulative = np.concatenate([np.zeros((signal.shape[0], 1)), np.cumsum(signal, axis=1)], axis=1)
    width = int(round(config.window_s * config.rate_hz))
    start = np.round((onset_s[:, None] + bins[None, :]) * config.rate_hz).astype(int)
    means = (cumulative[:, start + width] - cumulative[:, start]) / width  # electrodes x events x bins
    return means.transpose(1, 0, 2).reshape(len(onset_s), -1).astype(np.float32)


def _features(
    config: HarnessConfig, seed: int, latent: dict[str, np.ndarray], rng: np.random.Generator, alignment: str
):
    onehot = np.eye(4)[latent["klass"]]
    lexical = np.stack([latent["content"], latent["length"]], axis=1)
    interaction = (latent["colour"] * latent["content"])[:, None]

    def embedding(name: str, parts: list[np.ndarray]) -> np.ndarray:
        space_rng = np.random.default_rng(resample_seed(seed, "harness-space", name))
        inputs = np.concatenate(parts, axis=1)
        return inputs @ space_rng.standard_normal((inputs.shape[1], config.feature_dim))

    def space(embedded: np.ndarray) -> np.ndarray:
        return _with_noise(embedded, config, rng)

    vision = space(embedding("vision", [onehot]))
    language = space(embedding("language", [lexical]))
    out: dict[str, np.ndarray | list[np.ndarray]] = {
        "vision": vision,
        "language": language,
        "concat": np.concatenate([vision, language], axis=1),
        "concat-banded": [vision, language],
    }
    fused = [onehot, lexical, interaction]
    out["fused"] = space(embedding("fused", fused))
    # The equal-skill pair: one embedding, and the same with its columns permuted and sign-flipped (ridge on
    # standardised columns predicts identically from both), each with noise dimensions of its own.  Two independent
    # embeddings would not do: the test conditions on the two fitted models, and two draws differ in how the ridge
    # shrinks the interaction, so one really beats the other (harness seed 1: on all 12 multimodal electrodes).
    twin = embedding("fused-random-s1", fused)
    flip = np.random.default_rng(resample_seed(seed, "harness-space", "fused-random-s2"))
    out["fused-random-s1"] = space(twin)
    out["fused-random-s2"] = space(twin[:, flip.permutation(twin.shape[1])] * flip.choice([-1.0, 1.0], twin.shape[1]))
    if config.layers > 1:
        # A generator of their own, so the harness of one layer per model is unchanged.
        layered_rng = np.random.default_rng(resample_seed(seed, "harness-layered", alignment))
        parts = {"vision": [onehot], "language": [lexical], "fused": fused}
        out |= _layered(config, seed, parts, twin, flip, layered_rng)
    return out


def events_name(alignment: str) -> str:
    """How the harness names an alignment's events: in log lines, and as the seed of screening's target subset."""
    return f"harness {alignment} events"


def layer_names(model: str, config: HarnessConfig) -> list[str]:
    """The candidate layers of a harness network: the model's one space, or ``<model>.<i>`` for ``config.layers``."""
    return [model] if config.layers == 1 else [f"{model}.{i}" for i in range(config.layers)]


def layer_weights(config: HarnessConfig) -> np.ndarray:
    """How much of each layer is the informative embedding: 1 at ``planted_layer``, ``exp(-|i - planted| / 2)``
    elsewhere (the rest is stimulus-level noise in the same columns), so neighbouring layers are informative too and
    the planted one is the best."""
    return np.exp(-np.abs(np.arange(config.layers) - config.planted_layer) / 2.0)


def _layered(config, seed, parts, twin, flip, rng) -> dict[str, np.ndarray]:
    """Multi-layer versions of the harness's networks: layer i mixes the model's standardised embedding with weight
    :func:`layer_weights` and independent noise with the complementary weight (same total variance), then appends
    the noise dimensions.  The equal-skill pair keeps equal skill in every layer: the second is the first's layer
    with the columns permuted and sign-flipped."""
    permutation, signs = flip.permutation(twin.shape[1]), flip.choice([-1.0, 1.0], twin.shape[1])
    embedded = {}
    for name, inputs in parts.items():
        space_rng = np.random.default_rng(resample_seed(seed, "harness-layered", name))
        stacked = np.concatenate(inputs, axis=1)
        embedded[name] = stacked @ space_rng.standard_normal((stacked.shape[1], config.feature_dim))
    embedded["fused-random-s1"] = twin
    out = {}
    for name, values in embedded.items():
        standard = (values - values.mean(0)) / np.where(values.std(0) > 0, values.std(0), 1.0)
        for i, weight in enumerate(layer_weights(config)):
            mixed = weight * standard + np.sqrt(1.0 - weight**2) * rng.standard_normal(standard.shape)
            out[f"{name}.{i}"] = _with_noise(mixed, config, rng)
            if name == "fused-random-s1":
                out[f"fused-random-s2.{i}"] = _with_noise(mixed[:, permutation] * signs, config, rng)
    return out


def _with_noise(embedded: np.ndarray, config: HarnessConfig, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((len(embedded), config.noise_dims))
    return np.concatenate([embedded, noise], axis=1).astype(np.float32)


#: The harness's networks (not baselines): with ``config.layers`` > 1 each has that many layers.
NETWORKS = ("vision", "language", "fused", "fused-random-s1", "fused-random-s2")

#: (instance name, registry entry, family, init, baseline, layer) of the harness's models; a network's layer is its
#: name, its candidates :func:`layer_names`.
_MODELS = [
    ("vision", "vision", "vision", "trained", False, "vision"),
    ("language", "language", "language", "trained", False, "language"),
    ("concat", "concat", "multimodal", "trained", True, "concat"),
    ("concat", "concat", "multimodal", "trained", True, "concat-banded"),
    ("fused", "fused", "multimodal", "trained", False, "fused"),
    ("fused-random-s1", "fused", "multimodal", "random", False, "fused-random-s1"),
    ("fused-random-s2", "fused", "multimodal", "random", False, "fused-random-s2"),
]


def score_models(
    sim: Simulation,
    config: HarnessConfig,
    protocol: str = "fast",
    n_refit_resamples: int | None = None,
    *,
    layer_selection: str = "validation",
    screening: Screening | None = None,
) -> dict[str, list[ModelScores]]:
    """Fit every harness model in every alignment and resample its scores (iid and block, shared by all models).

    ``protocol="refit"`` reruns the cross-validation on each of ``n_refit_resamples`` (default ``n_resamples``)
    resamples; the fast protocol reweights the out-of-fold predictions.  A network of several layers
    (``config.layers``) is reduced to one by the workflow's layer search (:func:`vlencode.encoding.search_layers`
    with ``layer_selection`` and ``screening``).  Under ``config.inflation`` ``shifted`` the fast protocol's
    resamples are widened as the fit job widens them (:func:`vlencode.encoding.bootstrap_layer`).
    """

    out: dict[str, list[ModelScores]] = {}
    settings = config.ridge_settings()
    n_resamples = config.n_resamples if protocol == "fast" else (n_refit_resamples or config.n_resamples)
    for alignment, onset in sim.onset_s.items():
        trial = np.zeros(len(onset), dtype=object)
        trial[:] = "0"
        resamples = {
            "iid": draw_resamples(len(onset), n_resamples, resample_seed(config.seed, "harness", alignment, "iid")),
            "block": draw_block_resamples(
                onset,
                trial,
                config.block_s,
                n_resamples,
                resample_seed(config.seed, "harness", alignment, "block"),
                config.block_kind,
            ),
        }
        targets = sim.response[alignment]
        n_electrodes = len(sim.truth)
        shape = (n_electrodes, targets.shape[1] // n_electrodes)
        splits = contiguous_splits(trial, config.n_folds)
        # As a fit job does: the shifted null rides with the chosen layer's fit where that layer is certain.
        riders = null_targets(targets, shape, settings.seed, trial)[0] if widens(protocol, config.inflation) else None
        scores = []
        for name, base, family, init, baseline, layer in _MODELS:
            search = search_layers(
                sim.features[alignment].__getitem__,
                [layer] if baseline else layer_names(layer, config),
                targets,
                splits,
                settings,
                shape=shape,
                layer_selection=layer_selection,
                screening=screening,
                riders=riders,
                name=events_name(alignment),
            )
            fit = search.layers[search.chosen]
            resampled, _ = bootstrap_layer(
                search.kept_fits[search.chosen],
                fit,
                targets,
                splits,
                resamples,
                settings,
                protocol=protocol,
                inflation=config.inflation,
                trial_of_event=trial,
                null_fit=search.rider_fits.get(search.chosen),
            )
            boot = {key: values.reshape(-1, *shape) for key, values in resampled.items()}
            scores.append(
                ModelScores(
                    name=name,
                    base=base,
                    family=family,
                    init=init,
                    layer=search.chosen,
                    val_r=fit.val_r.astype(np.float64),
                    test_r=fit.test_r.astype(np.float64),
                    boot=boot,
                    baseline=baseline,
                )
            )
        out[alignment] = scores
    return out


def statistics(
    sim: Simulation,
    scores: dict[str, list[ModelScores]],
    config: HarnessConfig,
    rules: tuple[str, ...] = ("paper", "calibrated"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The workflow's comparisons and sites for the harness's fits.

    Returns
    -------
    comparisons : DataFrame
        :func:`vlencode.stats.sites.with_fdr` of every comparison.
    sites : DataFrame
        :func:`vlencode.stats.sites.sites_table`, with the planted ``category_planted``.
    """

    frames, selections = [], []
    for alignment, models in scores.items():
        for name in rules:
            table, selection = compare_alignment(
                models,
                keep_rule(name),
                ci=config.ci,
                min_bins=config.min_bins,
                electrodes=sim.truth["electrode"],
                bin_time_s=sim.bin_time_s,
                subject="sim",
                alignment=alignment,
            )
            frames.append(table)
            selections.append(selection)
    comparisons = with_fdr(pd.concat(frames, ignore_index=True), config.fdr_q)
    sites = sites_table(comparisons, pd.concat(selections, ignore_index=True), config.tests, config.min_bins)
    sites = sites.merge(
        sim.truth[["electrode", "category"]].rename(columns={"category": "category_planted"}), on="electrode"
    )
    return comparisons, sites


def metrics(
    sim: Simulation,
    scores: dict[str, list[ModelScores]],
    comparisons: pd.DataFrame,
    sites: pd.DataFrame,
    config: HarnessConfig,
    scenario: str,
    protocol: str,
) -> pd.DataFrame:
    """Tidy calibration metrics of one harness run: ``keep_rule, scenario, protocol, alignment, metric, value``.

    Metrics: ``fraction_bins_kept`` (over silent electrodes' bins and every model), ``multimodal_precision``,
    ``multimodal_recall`` and ``vision_recall`` / ``language_recall`` (planted contacts called, as the recovery
    table defines them, in the word / scene alignment), ``false_call_rate`` (silent electrodes called anything),
    ``silent_called_rate`` (silent electrodes whose best vision model, in the scene alignment, or best language
    model, in the word alignment, keeps >= ``min_bins`` bins: "called" as the recovery table defines it),
    ``equal_skill_false_call_rate`` (FDR-significant among eligible electrodes), ``equal_skill_raw_rate`` (p <= 0.05
    among eligible) and ``equal_skill_eligible_fraction``.
    """
    rows = []
    silent = sim.truth["category"].eq("none").to_numpy()

    def add(rule, alignment, metric, value):
        rows.append(
            {
                "keep_rule": rule,
                "scenario": scenario,
                "protocol": protocol,
                "alignment": alignment,
                "metric": metric,
                "value": float(value),
            }
        )

    for rule_name in comparisons["keep_rule"].unique():
        rule = keep_rule(rule_name)
        for alignment, models in scores.items():
            if silent.any():
                fraction = np.mean(
                    [
                        kept(rule, m.boot, config.ci, {"val_r": m.val_r, "test_r": m.test_r}, sim.bin_time_s)[
                            silent
                        ].mean()
                        for m in models
                    ]
                )
                add(rule_name, alignment, "fraction_bins_kept", fraction)
            here = sites[(sites["keep_rule"] == rule_name) & (sites["alignment"] == alignment)]
            planted = here["category_planted"].to_numpy()
            multimodal = here["category"].eq("multimodal").to_numpy()
            if multimodal.any():
                add(rule_name, alignment, "multimodal_precision", np.mean(planted[multimodal] == "multimodal"))
            if (planted == "multimodal").any():
                add(rule_name, alignment, "multimodal_recall", multimodal[planted == "multimodal"].mean())
            for family in ("vision", "language"):
                if (planted == family).any():
                    call = here[f"n_kept_best_{family}"].to_numpy() >= config.min_bins
                    add(rule_name, alignment, f"{family}_recall", call[planted == family].mean())
            if (planted == "none").any():
                add(
                    rule_name,
                    alignment,
                    "false_call_rate",
                    here["category"].ne("none").to_numpy()[planted == "none"].mean(),
                )
                family = "vision" if alignment == "scene" else "language"
                add(
                    rule_name,
                    alignment,
                    "silent_called_rate",
                    (here[f"n_kept_best_{family}"].to_numpy()[planted == "none"] >= config.min_bins).mean(),
                )
            equal = comparisons[
                (comparisons["keep_rule"] == rule_name)
                & (comparisons["alignment"] == alignment)
                & (comparisons["comparison"] == "equal_skill")
            ]
            eligible = equal[equal["eligible"]]
            add(rule_name, alignment, "equal_skill_eligible_fraction", len(eligible) / max(len(equal), 1))
            if len(eligible):
                add(rule_name, alignment, "equal_skill_false_call_rate", eligible["significant"].mean())
                add(rule_name, alignment, "equal_skill_raw_rate", (eligible["p"] <= 0.05).mean())
    return pd.DataFrame(rows)


def call_agreement(a: pd.DataFrame, b: pd.DataFrame, min_bins: int) -> pd.DataFrame:
    """Cohen's kappa of two sites tables' calls on the same electrodes, per keep rule and alignment: multimodal sites
    (``kappa_multimodal``) and ``kept >= min_bins`` for the best vision and language models (``kappa_vision``,
    ``kappa_language``).  Columns ``keep_rule, alignment, metric, value``."""
    rows = []
    both = a.merge(b, on=["keep_rule", "alignment", "electrode"], suffixes=("_a", "_b"))
    both = both[both["alignment"] != "both"]
    calls = {
        "kappa_multimodal": ("category", lambda c: c == "multimodal"),
        "kappa_vision": ("n_kept_best_vision", lambda n: n >= min_bins),
        "kappa_language": ("n_kept_best_language", lambda n: n >= min_bins),
    }
    for (rule, alignment), group in both.groupby(["keep_rule", "alignment"]):
        for metric, (column, call) in calls.items():
            value = cohen_kappa(call(group[f"{column}_a"]), call(group[f"{column}_b"]))
            rows.append({"keep_rule": rule, "alignment": alignment, "metric": metric, "value": value})
    return pd.DataFrame(rows)


def calibration(config: HarnessConfig, *, refit_resamples: int = 0) -> pd.DataFrame:
    """Run the harness's scenarios and return their tidy metrics (``keep_rule, scenario, protocol, alignment, metric,
    value``).

    Scenarios: ``null`` (every electrode silent), ``planted`` (the config's mix of categories; its equal-skill rows
    are the equal-skill null) and, when ``refit_resamples`` > 0, the planted scenario again under the refit protocol
    with that many resamples, and the agreement of the two protocols' calls: Cohen's kappa of multimodal sites and of
    ``kept >= min_bins`` for the best vision and language models (``protocol = fast_vs_refit``).
    """

    frames = []
    null_config = replace(config, electrodes={"none": sum(config.electrodes.values())})
    null = simulate(null_config, config.seed + 1)
    null_scores = score_models(null, null_config)
    frames.append(metrics(null, null_scores, *statistics(null, null_scores, null_config), null_config, "null", "fast"))
    planted = simulate(config)
    fast_scores = score_models(planted, config)
    fast_comparisons, fast_sites = statistics(planted, fast_scores, config)
    frames.append(metrics(planted, fast_scores, fast_comparisons, fast_sites, config, "planted", "fast"))
    if refit_resamples:
        refit_scores = score_models(planted, config, "refit", refit_resamples)
        refit_comparisons, refit_sites = statistics(planted, refit_scores, config)
        frames.append(metrics(planted, refit_scores, refit_comparisons, refit_sites, config, "planted", "refit"))
        agreement = call_agreement(fast_sites, refit_sites, config.min_bins)
        frames.append(agreement.assign(scenario="planted", protocol="fast_vs_refit"))
    return pd.concat(frames, ignore_index=True)


def calibration_table(cfg: Mapping[str, Any]) -> pd.DataFrame:
    """The ``calibration`` rule's table: :func:`calibration` of :meth:`HarnessConfig.from_config` with
    ``statistics.calibration.refit_resamples``.  Columns ``keep_rule, scenario, protocol, alignment, metric, value``.
    """
    config = HarnessConfig.from_config(cfg)
    return calibration(config, refit_resamples=int(cfg["statistics"]["calibration"]["refit_resamples"]))
