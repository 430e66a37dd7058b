"""Every figure is drawn from the tidy tables alone, deterministically; choices inside figures use validation scores."""

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_tables as rt
from PIL import Image

from vlencode import figures, plots, regions
from vlencode.encoding.scores import SCORE_COLUMNS
from vlencode.stats import shown


@pytest.fixture(scope="module")
def tables():
    electrodes = rt.electrodes(4)
    sites = rt.sites(electrodes)
    sites = sites[sites["keep_rule"] == "calibrated"]
    out = {
        "electrodes": electrodes,
        "scores": rt.scores(electrodes),
        "sites": sites,
        "summary": regions.site_summary(sites, electrodes, n_resamples=50, ci=0.95, seed=0),
        "recovery": rt.recovery(),
        "calibration": rt.calibration(),
        **rt.qc_tables(),
    }
    return out


def _context(tables, seed=0):
    return figures.DrawContext(seed=seed, atlas="dk", shown=shown.shown_models(tables, rt.model_meta()))


def test_every_figure_is_drawn_from_the_tables_offline(tables, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a figure tried to reach the network")

    # Glass brains and the region map use the templates nilearn ships; nothing may be fetched.
    monkeypatch.setattr(socket.socket, "connect", no_network)
    names = figures.figures_for(tables)
    assert names == list(figures.FIGURES)
    outputs = {name: (tmp_path / f"{name}.png", tmp_path / f"{name}.svg") for name in names}
    figures.draw_figures(tables, outputs, _context(tables))
    for name, (png, svg) in outputs.items():
        with Image.open(png) as image:
            width, height = image.size
            pixels = np.asarray(image.convert("L"))
        assert width > 200 and height > 100, name
        assert pixels.std() > 5, f"{name}: blank image"
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()[:2000], name
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_same_tables_give_the_same_files(tables, tmp_path):
    for run in ("a", "b"):
        outputs = {"model_ranking": (tmp_path / f"{run}.png", tmp_path / f"{run}.svg")}
        figures.draw_figures(tables, outputs, _context(tables, seed=3))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_a_figure_without_its_table_is_not_offered():
    assert "recovery" not in figures.figures_for({"scores", "electrodes", "sites", "summary"})
    with pytest.raises(ValueError, match="figure recovery: needs the table"):
        figures.draw_figures(
            {}, {"recovery": ("a.png", "a.svg")}, figures.DrawContext(0, "dk", shown.ShownModels([], pd.DataFrame()))
        )


def test_a_registered_figure_reaches_the_report(tables, tmp_path, monkeypatch):
    """One registry entry is the whole of a new figure: the rule's outputs, its caption file, its drawing."""

    def draw(t, context):
        figure, axes = plots.plt.subplots()
        axes.plot(t["scores"]["test_r"].to_numpy()[:50])
        return figure

    caption = "**Throwaway.** Test r of {{ snakemake.config['seed'] }}.\n"
    spec = figures.FigureSpec(needs=("scores",), draw=draw, category="9. Extra", subcategory="x", caption=caption)
    monkeypatch.setitem(figures.FIGURES, "throwaway", spec)
    declared = {f.name: f for f in figures.report_figures(tables, tmp_path / "captions")}
    assert list(declared)[-1] == "throwaway"
    entry = declared["throwaway"]
    assert (entry.png, entry.svg) == ("results/figures/throwaway.png", "results/figures/throwaway.svg")
    assert (entry.category, entry.subcategory, entry.label) == ("9. Extra", "x", "throwaway")
    assert Path(entry.caption).is_absolute() and Path(entry.caption).read_text() == caption
    assert "throwaway" not in figures.figures_for(set(tables) - {"scores"})
    outputs = {"throwaway": (tmp_path / "throwaway.png", tmp_path / "throwaway.svg")}
    figures.draw_figures(tables, outputs, _context(tables))
    assert (tmp_path / "throwaway.png").stat().st_size > 0 and (tmp_path / "throwaway.svg").stat().st_size > 0


def test_captions_are_rewritten_only_when_they_change(tmp_path):
    path = figures.write_captions(["qc_clock"], tmp_path)["qc_clock"]
    assert path.read_text() == figures.FIGURES["qc_clock"].caption
    before = path.stat().st_mtime_ns
    figures.write_captions(["qc_clock"], tmp_path)
    assert path.stat().st_mtime_ns == before
    path.write_text("stale")
    assert figures.write_captions(["qc_clock"], tmp_path)["qc_clock"].read_text() == figures.FIGURES["qc_clock"].caption


def test_random_twins_pair_with_their_trained_entry_as_the_model_instances_say():
    def meta(base, init="trained"):
        return {"base": base, "family": "language", "init": init, "components": []}

    models = {
        "minilm": meta("minilm"),
        "minilm-random-s0": meta("minilm", "random"),
        "minilm-random-s1": meta("minilm", "random"),
        "tiny-clip": meta("tiny-clip", "random"),
        "tiny-clip-random-s0": meta("tiny-clip", "random"),
        "vit": meta("vit"),
        # a twin is known by its instance, not its name
        "odd-name": meta("vit", "random"),
    }
    names = ["minilm", "minilm-random-s0", "minilm-random-s1", "tiny-clip", "tiny-clip-random-s0", "vit", "odd-name"]
    assert shown.twin_pairs(names, models) == [
        ("minilm", ["minilm-random-s0", "minilm-random-s1"]),
        ("vit", ["odd-name"]),
    ]
    with pytest.raises(ValueError, match="not among the run's model instances"):
        shown.twin_pairs(["unknown"], models)


def test_best_model_per_category_is_chosen_on_validation_not_test():
    rows = []
    for model, val_r, test_r in (("a", 0.3, 0.0), ("b", 0.1, 0.5)):
        rows.append(["1", "word", model, "vision", "trained", "L", "E0", 0.0, val_r, test_r])
    scores = pd.DataFrame(
        rows,
        columns=SCORE_COLUMNS[:10],
    )
    sites = pd.DataFrame(
        [["1", "E0", "word", "calibrated", "vision"]],
        columns=["subject", "electrode", "alignment", "keep_rule", "category"],
    )
    models = {m: {"base": m, "family": "vision", "init": "trained", "components": []} for m in ("a", "b")}
    best = shown.best_model_per_category(scores, sites, models)
    assert best["model"].tolist() == ["a"]


def test_the_best_multimodal_model_is_a_network_chosen_per_electrode_never_a_baseline_or_twin():
    rows = []
    for model, init, layer, val_r in (
        ("clip", "random", "L", 0.1),
        ("vilt", "random", "L", 0.2),
        ("cat", "trained", "concat-banded", 0.9),
        ("vilt-random-s0", "random", "L", 0.8),
    ):
        for electrode in ("E0", "E1", "E2"):
            rows.append(["1", "word", model, "multimodal", init, layer, electrode, 0.0, val_r, 0.0])
    scores = pd.DataFrame(
        rows,
        columns=SCORE_COLUMNS[:10],
    )
    sites = pd.DataFrame(
        {
            "subject": "1",
            "electrode": ["E0", "E1", "E2"],
            "alignment": "word",
            "keep_rule": "calibrated",
            "category": "multimodal",
            "best_multimodal_model": ["clip", "clip", "vilt"],
        }
    )
    models = {
        "clip": {"base": "clip", "init": "random", "components": []},
        "vilt": {"base": "vilt", "init": "random", "components": []},
        "cat": {"base": "cat", "init": "trained", "components": ["clip", "vilt"]},
        "vilt-random-s0": {"base": "vilt", "init": "random", "components": []},
    }
    # The per-electrode choices of the statistics win over the mean validation r (vilt), baselines and twins never do.
    assert shown.best_model_per_category(scores, sites, models)["model"].tolist() == ["clip"]
    unchosen = sites.drop(columns="best_multimodal_model")
    assert shown.best_model_per_category(scores, unchosen, models)["model"].tolist() == ["vilt"]
