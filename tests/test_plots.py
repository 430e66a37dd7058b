"""Every figure is drawn from the tidy tables alone, deterministically; choices inside figures use validation scores."""

import socket

import numpy as np
import pandas as pd
import pytest
import report_tables as rt
from PIL import Image

from vlencode import plots, regions
from vlencode.encoding.scores import SCORE_COLUMNS


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


def test_every_figure_is_drawn_from_the_tables_offline(tables, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a figure tried to reach the network")

    # Glass brains and the region map use the templates nilearn ships; nothing may be fetched.
    monkeypatch.setattr(socket.socket, "connect", no_network)
    names = plots.figures_for(tables)
    assert names == list(plots.FIGURES)
    outputs = {name: (tmp_path / f"{name}.png", tmp_path / f"{name}.svg") for name in names}
    plots.draw_figures(tables, outputs, seed=0, atlas="dk")
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
        plots.draw_figures(tables, {"model_ranking": (tmp_path / f"{run}.png", tmp_path / f"{run}.svg")}, seed=3)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_a_figure_without_its_table_is_not_offered():
    assert "recovery" not in plots.figures_for({"scores", "electrodes", "sites", "summary"})
    with pytest.raises(ValueError, match="figure recovery: needs the table"):
        plots.draw_figures({}, {"recovery": ("a.png", "a.svg")}, seed=0)


def test_random_twins_pair_with_their_trained_model():
    models = ["minilm", "minilm-random-s0", "minilm-random-s1", "tiny-clip-random-s0", "vit"]
    assert plots.twin_pairs(models) == [("minilm", ["minilm-random-s0", "minilm-random-s1"])]


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
    best = plots.best_model_per_category(scores, sites)
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
    # The per-electrode choices of the statistics win over the mean validation r (vilt), baselines and twins never do.
    assert plots.best_model_per_category(scores, sites)["model"].tolist() == ["clip"]
    assert plots.best_model_per_category(scores, sites.drop(columns="best_multimodal_model"))["model"].tolist() == [
        "vilt"
    ]
