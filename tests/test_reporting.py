"""The run's five-line summary, table pages and the protocol's limits."""

import os

import pandas as pd
import report_tables as rt

from vlencode import regions, reporting, store
from vlencode.models.registry import model_instances


def _results(tmp_path):
    results = tmp_path / "results"
    electrodes = rt.electrodes()
    sites = rt.sites(electrodes)
    store.write_parquet(sites, results / "stats" / "sites.parquet")
    summary = regions.site_summary(sites, electrodes, n_resamples=20, ci=0.95, seed=0)
    store.write_parquet(summary, results / "regions" / "summary.parquet")
    store.write_parquet(rt.recovery(), results / "validation" / "recovery.parquet")
    store.write_parquet(rt.calibration(), results / "validation" / "calibration.parquet")
    for name, table in rt.qc_tables().items():
        store.write_parquet(table, results / "qc" / f"{name.removeprefix('qc_')}.parquet")
    return results, sites


def test_summary_is_the_report_path_and_five_lines(tmp_path):
    results, sites = _results(tmp_path)
    lines = reporting.run_summary(tmp_path / "report.html", results)
    assert len(lines) == 6
    assert lines[0] == f"report: {(tmp_path / 'report.html').resolve()}"
    word = sites[(sites["keep_rule"] == "paper") & (sites["alignment"] == "word")]
    n = int((word["category"] == "multimodal").sum())
    assert f"[paper] word {n} multimodal" in lines[1]
    assert lines[2].startswith("top multimodal regions")
    assert (
        "[paper] vision/scene 4 of 6 planted called (recall 0.67; 5 calls off shaft neighbours; silent called 0 "
        "of 2, shaft neighbours called 1 of 4)"
    ) in lines[3]
    assert "vision/word" not in lines[3]  # only each category's own alignment
    assert "[paper] bins kept word 70.0%, scene 70.0%; silent electrodes called word 35.0%" in lines[4]
    assert "[calibrated] bins kept word 4.0%" in lines[4]
    assert lines[5].startswith("quality control: 2 of 20 channels dropped, 24 of")


def test_a_recovery_table_older_than_the_sites_is_not_shown(tmp_path):
    # The replica's recovery stays in results/ when the next run (the user's own data) rewrites the sites.
    results, _ = _results(tmp_path)
    sites, recovery = results / "stats" / "sites.parquet", results / "validation" / "recovery.parquet"
    os.utime(sites, (recovery.stat().st_mtime + 60,) * 2)
    line = reporting.run_summary(tmp_path / "report.html", results)[3]
    assert line == f"recovery: not shown, {recovery} predates {sites} (an earlier run's)"


def test_a_report_older_than_the_results_is_said_to_be(tmp_path):
    results, _ = _results(tmp_path)
    report, sites = tmp_path / "report.html", results / "stats" / "sites.parquet"
    report.write_text("<html></html>")
    os.utime(report, (sites.stat().st_mtime - 60,) * 2)
    assert reporting.run_summary(report, results)[0] == (
        f"report: {report.resolve()} (older than {sites}: rerun `snakemake --report {report}` for these results)"
    )
    os.utime(report, (sites.stat().st_mtime + 60,) * 2)
    assert reporting.run_summary(report, results)[0] == f"report: {report.resolve()}"


def test_summary_says_which_tables_are_missing(tmp_path):
    lines = reporting.run_summary(tmp_path / "report.html", tmp_path / "nothing")
    assert len(lines) == 6
    assert "not a replica run" in lines[3] and "no QC tables" in lines[5]


def test_table_page_holds_every_row(tmp_path):
    table = pd.DataFrame({"region": ["insula", "<b>"], "fraction": [0.123456, 0.5]})
    reporting.write_table_html(table, tmp_path / "t.html", title="summary")
    page = (tmp_path / "t.html").read_text()
    assert "0.1235" in page and "&lt;b&gt;" in page and "(2 rows)" in page


def test_the_embedded_zoo_states_what_it_cannot_show(tmp_path):
    use = ["minilm", "efficientnet-lite0", "tiny-clip", "concat-minilm-efficientnet"]
    config = {"models": {"registry": "config/models.yaml", "random_seeds": [0], "use": use}}
    limits = reporting.zoo_limits(model_instances(config).values())
    assert any(limit.startswith("no trained vision-language network") for limit in limits)
    assert any(limit.startswith("no controlled pair") for limit in limits)
    assert not any("linear-integration" in limit or "random-init twin" in limit for limit in limits)


def test_the_demos_untrained_pair_is_said_to_be_untrained():
    config = {
        "models": {
            "registry": "config/models.yaml",
            "random_seeds": [0],
            "use": ["minilm", "efficientnet-lite0", "tiny-simclr", "tiny-slip-vision"],
        }
    }
    limits = reporting.zoo_limits(model_instances(config).values())
    assert not any(limit.startswith("no controlled pair") for limit in limits)
    assert any(limit.startswith("the controlled pair tiny-slip-vision vs tiny-simclr is untrained") for limit in limits)
