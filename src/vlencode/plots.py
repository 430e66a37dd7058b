"""The study's figures, each drawn from the workflow's tidy tables only (and the atlas volumes for the region map).

Every function takes tables and returns a matplotlib Figure; :func:`write_figure` saves it as PNG and SVG, atomically.
Glass brains and the region map are drawn with nilearn's plotting module on the templates nilearn ships (no download).
Per-electrode scores are averaged over every bin of the epoch, the same bins for every model, so that no figure
compares models on bins selected by one of them.  Which model a figure shows is chosen by the statistics
(:mod:`vlencode.stats.shown`) and passed in; which figures exist, and their captions, is :mod:`vlencode.figures`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from vlencode.bootstrap.resampling import resample_seed  # noqa: E402
from vlencode.datasets._atlas import atlas_volume  # noqa: E402
from vlencode.regions import ALL, hierarchical_bootstrap, is_gray_matter, region_name  # noqa: E402
from vlencode.store import atomic_path  # noqa: E402

#: Colours of site categories and model families.
COLOURS = {"multimodal": "#7b3294", "vision": "#e66101", "language": "#0571b0", "none": "#bababa"}
#: The model families, in the order of the legends.
FAMILIES = ("vision", "language", "multimodal")
_ALIGNMENT_ORDER = {"word": 0, "sentence": 1, "scene": 2, "both": 3}
#: Resamples of the figures' 95% hierarchical-bootstrap intervals.
_N_RESAMPLES = 1000


def write_figure(figure: Figure, png: str | PathLike, svg: str | PathLike | None = None, dpi: int = 110) -> None:
    """Save ``figure`` as PNG (and SVG), each written atomically; the figure is closed afterwards.

    SVG text stays text and the PNG carries no creation date, so the same tables give the same files.
    """
    targets = [(png, "png")] + ([(svg, "svg")] if svg is not None else [])
    try:
        for path, fmt in targets:
            # A fixed salt makes the SVG's element ids a function of the content, not of a random draw.
            with atomic_path(path) as tmp, plt.rc_context({"svg.hashsalt": "vlencode"}):
                metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
                figure.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
    finally:
        plt.close(figure)


def _alignments(values) -> list[str]:
    return sorted(set(map(str, values)), key=lambda a: (_ALIGNMENT_ORDER.get(a, 9), a))


def _empty(message: str, size=(6, 2)) -> Figure:
    """A figure that says why it has nothing to show (e.g. no sites of any category under this keep rule)."""
    figure, axes = plt.subplots(figsize=size)
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def electrode_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per subject, alignment, model and electrode: test and validation r averaged over every bin of the epoch."""
    keys = ["subject", "alignment", "model", "family", "init", "electrode"]
    return scores.groupby(keys, sort=True)[["test_r", "val_r"]].mean().reset_index()


def trained_vs_random(scores: pd.DataFrame, pairs: Sequence[tuple[str, Sequence[str]]]) -> Figure:
    """Violins over electrodes of each model's test r, trained beside its random-init twins (seeds averaged), with a
    line per electrode joining the pair; one row per alignment.  ``pairs``: (trained entry, its twins), as
    :func:`vlencode.stats.shown.twin_pairs` chooses them."""
    per = electrode_scores(scores)
    trained = per[per["init"] == "trained"]
    if not pairs:
        return _empty("no trained model with a random-init twin in the scores table")
    alignments = _alignments(per["alignment"])
    figure, axes = plt.subplots(
        len(alignments), 1, figsize=(max(5, 2.2 * len(pairs)), 3.2 * len(alignments)), squeeze=False
    )
    for ax, alignment in zip(axes[:, 0], alignments, strict=True):
        part = per[per["alignment"] == alignment].set_index(["subject", "electrode", "model"])["test_r"]
        for i, (model, twins) in enumerate(pairs):
            a = part.xs(model, level="model")
            b = pd.concat([part.xs(t, level="model") for t in twins], axis=1).mean(axis=1).reindex(a.index)
            colour = COLOURS.get(str(trained.loc[trained["model"] == model, "family"].iloc[0]), "k")
            positions = [3 * i, 3 * i + 1]
            parts = ax.violinplot([a.to_numpy(), b.dropna().to_numpy()], positions, showmedians=True, widths=0.8)
            for body, alpha in zip(parts["bodies"], (0.6, 0.25), strict=True):
                body.set_facecolor(colour)
                body.set_alpha(alpha)
            for key in ("cmins", "cmaxes", "cbars", "cmedians"):
                parts[key].set_color("k")
                parts[key].set_linewidth(0.8)
            ax.plot(
                np.array(positions)[:, None].repeat(len(a), 1),
                np.vstack([a.to_numpy(), b.to_numpy()]),
                color="0.4",
                lw=0.3,
                alpha=0.4,
            )
        ax.set_xticks([3 * i + d for i in range(len(pairs)) for d in (0, 1)])
        ax.set_xticklabels([label for m, _ in pairs for label in (m, "random")], rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"{alignment}: test r (mean over bins)")
    figure.suptitle("Trained vs randomly initialised, per electrode")
    figure.tight_layout()
    return figure


def model_ranking(scores: pd.DataFrame, seed: int) -> Figure:
    """Models ranked by mean test r over electrodes per alignment, with 95% hierarchical-bootstrap intervals
    (subjects, then electrodes); trained models solid, random-init hatched."""
    per = electrode_scores(scores)
    alignments = _alignments(per["alignment"])
    models = sorted(per["model"].unique())
    figure, axes = plt.subplots(
        1, len(alignments), figsize=(4.5 * len(alignments), 0.35 * len(models) + 1.5), squeeze=False
    )
    for ax, alignment in zip(axes[0], alignments, strict=True):
        rows = []
        for (model, family, init), part in per[per["alignment"] == alignment].groupby(["model", "family", "init"]):
            groups = [g["test_r"].to_numpy() for _, g in part.groupby("subject")]
            key = resample_seed(seed, "ranking", alignment, model)
            boot = hierarchical_bootstrap(groups, _N_RESAMPLES, key)
            rows.append((model, family, init, part["test_r"].mean(), *np.percentile(boot[:, 0], [2.5, 97.5])))
        rows.sort(key=lambda row: row[3])
        y = np.arange(len(rows))
        for j, (_model, family, init, mean, lo, hi) in enumerate(rows):
            ax.barh(
                j,
                mean,
                color=COLOURS.get(family, "0.5"),
                alpha=0.85 if init == "trained" else 0.35,
                hatch=None if init == "trained" else "//",
                edgecolor="k",
                lw=0.3,
            )
            ax.plot([lo, hi], [j, j], color="k", lw=1)
        ax.set_yticks(y, [row[0] for row in rows], fontsize=8)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_xlabel("test r (mean over electrodes and bins)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set_title(alignment)
    figure.legend(
        handles=[Patch(color=COLOURS[f], label=f) for f in FAMILIES],
        loc="upper right",
        ncol=3,
        fontsize=8,
        bbox_to_anchor=(1.0, 1.0),
    )
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    return figure


def region_fractions(summary: pd.DataFrame, category: str = "multimodal", top: int = 20) -> Figure:
    """Fraction of ``category`` sites per region (both hemispheres pooled) with hierarchical-bootstrap intervals;
    one panel per keep rule and alignment, the ``top`` regions with most electrodes, the whole brain first."""
    part = summary[(summary["category"] == category) & (summary["hemisphere"] == ALL)]
    if part.empty:
        return _empty(f"no {category} category in the sites table")
    keep_rules, alignments = sorted(part["keep_rule"].unique()), _alignments(part["alignment"])
    figure, axes = plt.subplots(
        len(keep_rules),
        len(alignments),
        squeeze=False,
        figsize=(4.2 * len(alignments), 0.28 * top * len(keep_rules) + 1.5),
    )
    for r, keep_rule in enumerate(keep_rules):
        for c, alignment in enumerate(alignments):
            ax = axes[r, c]
            rows = part[(part["keep_rule"] == keep_rule) & (part["alignment"] == alignment)]
            regions = rows[rows["region"] != ALL].nlargest(top, "n_electrodes").sort_values("fraction")
            rows = pd.concat([regions, rows[rows["region"] == ALL]])
            y = np.arange(len(rows))
            ax.barh(y, rows["fraction"], color=COLOURS.get(category, "0.5"), alpha=0.8)
            ax.errorbar(
                rows["fraction"],
                y,
                xerr=[rows["fraction"] - rows["fraction_lo"], rows["fraction_hi"] - rows["fraction"]],
                fmt="none",
                ecolor="k",
                lw=0.8,
            )
            labels = [f"{g} ({s}/{n})" for g, s, n in zip(rows["region"], rows["n_sites"], rows["n_electrodes"])]
            ax.set_yticks(y, labels, fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_title(f"{alignment}, keep rule {keep_rule}", fontsize=9)
            ax.set_xlabel(f"fraction of {category} sites")
    figure.tight_layout()
    return figure


def region_map(summary: pd.DataFrame, atlas: str = "dk", category: str = "multimodal") -> Figure:
    """The fraction of ``category`` sites per region painted on the ``atlas`` volume (axial slices on the MNI152
    template nilearn ships); one row per keep rule and alignment.  Regions without electrodes stay transparent."""
    from nilearn import datasets, plotting

    part = summary[(summary["category"] == category) & (summary["region"] != ALL) & (summary["hemisphere"] != ALL)]
    if part.empty:
        return _empty(f"no {category} category in the sites table")
    volume, affine, names = atlas_volume(atlas)
    hemisphere_of = {index: ("L" if re.search(r"(ctx[-_]lh|^Left-)", n) else "R") for index, n in names.items()}
    template = datasets.load_mni152_template(resolution=2)
    panels = sorted(
        {(k, a) for k, a in zip(part["keep_rule"], part["alignment"])},
        key=lambda p: (p[0], _ALIGNMENT_ORDER.get(p[1], 9)),
    )
    figure = plt.figure(figsize=(10, 2.4 * len(panels)))
    for i, (keep_rule, alignment) in enumerate(panels):
        rows = part[(part["keep_rule"] == keep_rule) & (part["alignment"] == alignment)]
        value = {(r, h): f for r, h, f in zip(rows["region"], rows["hemisphere"], rows["fraction"])}
        lookup = np.zeros(int(volume.max()) + 1, dtype=np.float32)
        # Only gray-matter labels are painted: "Unknown" or white-matter rows of the summary have no place on a map.
        painted = [i for i, n in names.items() if is_gray_matter(n) and (region_name(n), hemisphere_of[i]) in value]
        for index in painted:
            # Just above zero for a region with electrodes but no site, so it shows as the colour map's bottom.
            lookup[index] = value[(region_name(names[index]), hemisphere_of[index])] + 1e-3
        image = nib.Nifti1Image(lookup[volume].astype(np.float32), affine)
        ax = figure.add_axes((0, 1 - (i + 1) / len(panels), 1, 1 / len(panels)))
        plotting.plot_stat_map(
            image,
            bg_img=template,
            display_mode="z",
            cut_coords=(-20, -5, 10, 25, 40),
            cmap="magma",
            vmin=0,
            vmax=1,
            threshold=5e-4,
            axes=ax,
            colorbar=True,
            title=f"{category} fraction, {alignment}, keep rule {keep_rule}",
        )
    return figure


#: The controlled-pair map's two classes: the multimodal member of a registry pair beats its partner, or not.
PAIR_LABELS = {True: "beats its controlled pair", False: "none"}


def glass_brain(electrodes: pd.DataFrame, sites: pd.DataFrame, by: str = "category") -> Figure:
    """Electrodes on a glass brain coloured by site ``category``, by ``best_multimodal_model`` (multimodal sites) or
    by ``beats_pair`` (the study's second map: the multimodal member of a controlled pair, such as SLIP, beats its
    partner, such as SimCLR); one row per keep rule and alignment; electrodes without MNI coordinates are left out."""
    from nilearn import plotting

    xyz = electrodes.set_index(["subject", "electrode"])[["x_mni", "y_mni", "z_mni"]]
    table = sites.astype({"subject": str, "electrode": str}).join(xyz, on=["subject", "electrode"])
    table = table[np.isfinite(table[["x_mni", "y_mni", "z_mni"]]).all(axis=1)]
    if by == "best_multimodal_model":
        table = table[(table["category"] == "multimodal") & table[by].notna() & (table[by].astype(str) != "")]
    if by == "beats_pair":
        table = table.assign(beats_pair=table["beats_pair"].astype(bool).map(PAIR_LABELS))
    if table.empty:
        return _empty(f"no electrode with MNI coordinates to colour by {by}")
    # Silent contacts first, so that sites are drawn over them.
    values = sorted(table[by].astype(str).unique(), key=lambda v: (v != "none", v))
    if by == "category":
        palette = COLOURS
    elif by == "beats_pair":
        palette = {PAIR_LABELS[True]: COLOURS["multimodal"], "none": COLOURS["none"]}
    else:
        tab10 = plt.get_cmap("tab10")
        palette = {v: to_hex(tab10(i)) for i, v in enumerate(values[: tab10.N])}
    panels = sorted(
        {(k, a) for k, a in zip(table["keep_rule"], table["alignment"])},
        key=lambda p: (p[0], _ALIGNMENT_ORDER.get(p[1], 9)),
    )
    figure = plt.figure(figsize=(10, 3.2 * len(panels)))
    for i, (keep_rule, alignment) in enumerate(panels):
        rows = table[(table["keep_rule"] == keep_rule) & (table["alignment"] == alignment)]
        ax = figure.add_axes((0, 1 - (i + 1) / len(panels), 0.85, 1 / len(panels)))
        display = plotting.plot_glass_brain(None, display_mode="lzr", axes=ax, title=f"{alignment}, {keep_rule}")
        for value in values:
            chosen = rows[rows[by].astype(str) == value]
            if len(chosen):
                size = 6 if value == "none" else 22
                display.add_markers(
                    chosen[["x_mni", "y_mni", "z_mni"]].to_numpy(), marker_color=palette[value], marker_size=size
                )
    figure.legend(handles=[Patch(color=palette[v], label=v) for v in values], loc="center right", fontsize=8)
    return figure


def time_courses(scores: pd.DataFrame, sites: pd.DataFrame, best: pd.DataFrame, seed: int) -> Figure:
    """Test r over the epoch (bin start times, s) of the best model of each category at that category's sites, mean
    over sites with a 95% hierarchical-bootstrap band (subjects, then electrodes); one panel per keep rule and
    alignment.  ``best``: the model shown per keep rule, alignment and category
    (:func:`vlencode.stats.shown.best_model_per_category`)."""
    if best.empty:
        return _empty("no vision, language or multimodal site under any keep rule")
    keep_rules, alignments = sorted(best["keep_rule"].unique()), _alignments(best["alignment"])
    figure, axes = plt.subplots(
        len(keep_rules),
        len(alignments),
        figsize=(4.5 * len(alignments), 3.2 * len(keep_rules)),
        squeeze=False,
        sharey=True,
    )
    for ax, (keep_rule, alignment) in zip(axes.ravel(), [(k, a) for k in keep_rules for a in alignments], strict=True):
        for row in best[(best["keep_rule"] == keep_rule) & (best["alignment"] == alignment)].itertuples():
            keys = sites[
                (sites["keep_rule"] == keep_rule)
                & (sites["alignment"] == alignment)
                & (sites["category"] == row.category)
            ][["subject", "electrode"]].astype(str)
            part = scores[(scores["alignment"] == alignment) & (scores["model"] == row.model)].merge(keys)
            wide = part.pivot_table(index=["subject", "electrode"], columns="bin_time_s", values="test_r")
            times = wide.columns.to_numpy(np.float64)
            groups = [g.to_numpy() for _, g in wide.groupby(level="subject")]
            boot = hierarchical_bootstrap(
                groups, _N_RESAMPLES, resample_seed(seed, "time_courses", keep_rule, alignment, row.category)
            )
            lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
            colour = COLOURS[row.category]
            ax.fill_between(times, lo, hi, color=colour, alpha=0.25, lw=0)
            ax.plot(times, wide.mean().to_numpy(), color=colour, label=f"{row.category}: {row.model} (n={len(wide)})")
        ax.axvline(0, color="k", lw=0.5)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel(f"time from {alignment} onset (s)")
        ax.set_title(f"{alignment}, keep rule {keep_rule}", fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
        ax.set_ylabel("test r")
    figure.tight_layout()
    return figure


def recovery_panel(recovery: pd.DataFrame) -> Figure:
    """Calls against the planted truth of the replica: precision, recall and false-positive rate per planted
    category and alignment, one panel per keep rule; each bar pair annotated with called / planted contacts."""
    if "primary" in recovery:
        # Each category is called in the alignment where it was planted; other alignments are context, not recovery.
        recovery = recovery[recovery["primary"].astype(bool)]
    keep_rules = sorted(recovery["keep_rule"].unique())
    metrics = ["precision", "recall", "false_positive_rate"]
    figure, axes = plt.subplots(1, len(keep_rules), figsize=(5.5 * len(keep_rules), 3.4), squeeze=False, sharey=True)
    for ax, keep_rule in zip(axes[0], keep_rules, strict=True):
        part = recovery[recovery["keep_rule"] == keep_rule].sort_values(["category", "alignment"])
        labels = [f"{c}\n{a}" for c, a in zip(part["category"], part["alignment"])]
        x = np.arange(len(part))
        for j, (metric, shade) in enumerate(zip(metrics, ("0.25", "0.55", "#d7191c"), strict=True)):
            ax.bar(x + (j - 1) * 0.27, part[metric].fillna(0), width=0.27, color=shade, label=metric)
        for xi, (called, planted) in enumerate(zip(part["n_called"], part["n_planted"])):
            ax.text(xi, 1.02, f"{called}/{planted}", ha="center", fontsize=7)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.axhline(0.05, color="#d7191c", lw=0.6, ls=":")
        ax.set_title(f"keep rule {keep_rule} (called/planted above the bars)", fontsize=9)
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    return figure


#: The harness metrics the calibration figure shows: panel -> (scenario, protocol, [(metric, alignment, label)]).
CALIBRATION_PANELS = {
    "null data: false keeps and calls (<= 5% required)": (
        "null",
        "fast",
        [
            ("fraction_bins_kept", "scene", "bins kept\nscene"),
            ("fraction_bins_kept", "word", "bins kept\nword"),
            ("silent_called_rate", "scene", "silent called\nscene"),
            ("silent_called_rate", "word", "silent called\nword"),
            ("equal_skill_false_call_rate", "word", "equal-skill\ncalls, word"),
        ],
    ),
    "planted data: recovery": (
        "planted",
        "fast",
        [
            ("vision_recall", "scene", "vision recall\nscene"),
            ("language_recall", "word", "language recall\nword"),
            ("multimodal_recall", "word", "multimodal\nrecall, word"),
            ("multimodal_precision", "word", "multimodal\nprecision, word"),
            ("silent_called_rate", "word", "silent called\nword"),
        ],
    ),
    "fast vs refit protocol: Cohen's kappa of calls": (
        "planted",
        "fast_vs_refit",
        [
            ("kappa_vision", "scene", "vision\nscene"),
            ("kappa_language", "word", "language\nword"),
            ("kappa_multimodal", "word", "multimodal\nword"),
        ],
    ),
}


def calibration_panel(calibration: pd.DataFrame) -> Figure:
    """The statistics harness (:func:`vlencode.validation.harness.calibration`) per keep rule: false keeps and calls on
    null data (the dotted line marks the 5% a calibrated rule must not exceed), recovery of planted electrodes, and
    the agreement of the fast and refit protocols where the refit ran.  A metric the table lacks is left out."""
    panels = []
    for title, (scenario, protocol, metrics) in CALIBRATION_PANELS.items():
        part = calibration[(calibration["scenario"] == scenario) & (calibration["protocol"] == protocol)]
        values = part.set_index(["keep_rule", "metric", "alignment"])["value"]
        shown = [(m, a, label) for m, a, label in metrics if values.index.droplevel(0).isin([(m, a)]).any()]
        if shown:
            panels.append((title, values, shown))
    if not panels:
        return _empty("the calibration table holds none of the harness metrics")
    keep_rules = sorted(calibration["keep_rule"].unique())
    figure, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    width = 0.8 / len(keep_rules)
    for ax, (title, values, shown) in zip(axes[0], panels, strict=True):
        x = np.arange(len(shown))
        for k, keep_rule in enumerate(keep_rules):
            heights = [values.get((keep_rule, m, a), np.nan) for m, a, _ in shown]
            bars = ax.bar(
                x + (k - (len(keep_rules) - 1) / 2) * width,
                heights,
                width,
                label=keep_rule,
                color=("#d7191c" if keep_rule == "paper" else "#2c7bb6"),
            )
            ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
        if title.startswith("null"):
            ax.axhline(0.05, color="k", lw=0.6, ls=":")
        ax.set_xticks(x, [label for _, _, label in shown], fontsize=7)
        ax.set_ylim(0, 1.1)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, title="keep rule", title_fontsize=7)
    figure.tight_layout()
    return figure


def qc_channels(channels: pd.DataFrame) -> Figure:
    """Channels per subject and trial: kept, and dropped stacked by reason."""
    counts = channels.assign(what=np.where(channels["status"] == "kept", "kept", channels["reason_kind"]))
    wide = counts.groupby([counts["subject"] + "/" + counts["trial"], "what"]).size().unstack(fill_value=0)
    wide = wide[["kept"] + sorted(c for c in wide.columns if c != "kept")] if "kept" in wide else wide
    figure, ax = plt.subplots(figsize=(1.0 * len(wide) + 3, 3.2))
    wide.plot.bar(stacked=True, ax=ax, rot=0, colormap="tab20")
    ax.set_xlabel("subject/trial")
    ax.set_ylabel("channels")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title("Channels kept and dropped (by reason)")
    figure.tight_layout()
    return figure


def qc_clock(clock: pd.DataFrame) -> Figure:
    """The clock-drift check of every trial: the largest residual between consecutive triggers, in ms."""
    labels = clock["subject"] + "/" + clock["trial"]
    figure, ax = plt.subplots(figsize=(0.8 * len(clock) + 3, 3))
    ax.bar(labels, clock["max_residual_ms"], color="0.4")
    for x, (ms, n) in enumerate(zip(clock["max_residual_ms"], clock["n_triggers"])):
        ax.text(x, ms, f"{ms:.2f} ms\n{n} triggers", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.3 * max(float(clock["max_residual_ms"].max()), 1e-3))
    ax.set_xlabel("subject/trial")
    ax.set_ylabel("max drift residual (ms)")
    ax.set_title("Clock alignment: trigger-to-trigger residual")
    figure.tight_layout()
    return figure


def qc_events(events: pd.DataFrame) -> Figure:
    """Events excluded per reason, per subject/trial and alignment (valid events in the title)."""
    alignments = _alignments(events["alignment"])
    figure, axes = plt.subplots(1, len(alignments), figsize=(4 * len(alignments), 3.2), squeeze=False)
    for ax, alignment in zip(axes[0], alignments, strict=True):
        part = events[events["alignment"] == alignment]
        label = part["subject"] + "/" + part["trial"]
        wide = part.assign(label=label).pivot_table(
            index="label", columns="reason", values="n_events", aggfunc="sum", fill_value=0
        )
        valid = int(wide.pop("valid").sum()) if "valid" in wide else 0
        if wide.shape[1]:
            wide.plot.bar(stacked=True, ax=ax, rot=0, colormap="tab10")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no event excluded", ha="center", transform=ax.transAxes)
        ax.set_title(f"{alignment}: {valid} valid events", fontsize=9)
        ax.set_xlabel("subject/trial")
        ax.set_ylabel("events excluded")
    figure.tight_layout()
    return figure


def qc_alpha_edge(alpha_edge: pd.DataFrame) -> Figure:
    """Share of targets (electrode x bin) whose chosen alpha is the grid's smallest or largest, per model and
    alignment (subjects pooled)."""
    pooled = alpha_edge.groupby(["model", "alignment"])[["n_targets", "n_low_edge", "n_high_edge"]].sum()
    alignments = _alignments(pooled.index.get_level_values("alignment"))
    figure, axes = plt.subplots(
        1, len(alignments), figsize=(4.2 * len(alignments), 0.3 * len(pooled) / 2 + 2), squeeze=False, sharey=True
    )
    for ax, alignment in zip(axes[0], alignments, strict=True):
        part = pooled.xs(alignment, level="alignment")
        low = part["n_low_edge"] / part["n_targets"]
        high = part["n_high_edge"] / part["n_targets"]
        y = np.arange(len(part))
        ax.barh(y, low, color="#2c7bb6", label="smallest alpha")
        ax.barh(y, high, left=low, color="#d7191c", label="largest alpha")
        ax.set_yticks(y, part.index, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of targets")
        ax.set_title(alignment, fontsize=9)
    axes[0, 0].legend(fontsize=7)
    figure.tight_layout()
    return figure
