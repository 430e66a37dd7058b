"""What the run ends with: tables as report pages, the protocol's limits, and the five-line summary printed beside
the report's path.

Run ``python -m vlencode.reporting results/report.html`` after ``snakemake --report results/report.html``; it reads
the tables under ``results/`` only.
"""

from __future__ import annotations

import argparse
import html
import json
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from vlencode.models.registry import ModelInstance
from vlencode.store import atomic_path, read_parquet

_STYLE = (
    "body{font-family:sans-serif;font-size:13px;margin:12px}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    "th{background:#eee;position:sticky;top:0}"
)


def write_table_html(table: pd.DataFrame, path: str | PathLike, title: str) -> None:
    """Write ``table`` as a standalone HTML page (floats to 4 significant digits), atomically."""
    body = table.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h3>{html.escape(title)} ({len(table)} rows)</h3>{body}</body></html>\n"
    )
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")


def zoo_limits(instances: Iterable[ModelInstance]) -> list[str]:
    """What a model zoo cannot show, one sentence per limit, from its model instances.

    Checked: a trained vision-language network (a multimodal network that is not a concatenation baseline), a
    controlled pair (registry ``pair``), a linear-integration baseline (``components``), random-init twins.
    """
    instances = list(instances)
    networks = [m for m in instances if m.family == "multimodal" and not m.components]
    limits = []
    if not any(m.init == "trained" for m in networks):
        limits.append(
            "no trained vision-language network: every multimodal network is randomly initialised, so a multimodal "
            "site here reflects architecture, not vision-language training"
        )
    by_name = {m.name: m for m in instances}
    pairs = [(m, by_name[m.entry["pair"]]) for m in instances if m.name == m.base and m.entry.get("pair") in by_name]
    if not pairs:
        limits.append("no controlled pair (such as SLIP vs SimCLR): the same-architecture objective test is not run")
    for member, partner in pairs:
        if "random" in (member.init, partner.init):
            limits.append(
                f"the controlled pair {member.name} vs {partner.name} is untrained (random init): its comparison and "
                "map show the test at work, not an effect of the training objective"
            )
    if not any(m.components for m in instances):
        limits.append("no linear-integration baseline: integration cannot be told from simple combination")
    if not any(m.name != m.base for m in instances):
        limits.append("no random-init twin: trained vs random cannot be compared")
    return limits


def protocol_page(config: Mapping[str, Any], instances: Iterable[ModelInstance], path: str | PathLike) -> None:
    """Write the protocol actually run as an HTML page: the settings every result depends on, the model zoo and
    what this run cannot show (:func:`zoo_limits`)."""
    instances = list(instances)
    sections = [
        "dataset",
        "preprocess",
        "events",
        "epochs",
        "features",
        "encoding",
        "bootstrap",
        "statistics",
        "regions",
    ]
    rows = [
        (section, key, json.dumps(value, sort_keys=True))
        for section in sections
        for key, value in sorted(dict(config.get(section, {})).items())
        if key != "recordings"
    ]
    settings = pd.DataFrame(rows, columns=["section", "key", "value"])
    zoo = pd.DataFrame(
        [(m.name, m.family, m.init, "" if m.seed is None else m.seed, ", ".join(m.components)) for m in instances],
        columns=["model", "family", "init", "seed", "components"],
    )
    recordings = ", ".join(f"sub-{r['subject']} trial {r['trial']}" for r in config["dataset"]["recordings"])
    limits = zoo_limits(instances) or ["nothing the zoo's checks flag"]
    if config.get("replica", {}).get("enabled"):
        limits.append("a replica: simulated signals with planted responses, not brain data")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>protocol</title><style>{_STYLE}</style></head>"
        f"<body><h3>Protocol run (seed {int(config['seed'])})</h3><p>Recordings: {html.escape(recordings)}</p>"
        "<h4>What this run cannot show</h4><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in limits) + "</ul>"
        "<h4>Models</h4>"
        + zoo.to_html(index=False, border=0)
        + "<h4>Settings</h4>"
        + settings.to_html(index=False, border=0)
        + "</body></html>\n"
    )
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")


def _read(path: Path) -> pd.DataFrame | None:
    return read_parquet(path) if path.exists() else None


def _sites_line(sites: pd.DataFrame | None) -> str:
    if sites is None:
        return "sites: no sites table (the statistics stage did not run)"
    parts = []
    for keep_rule, by_rule in sites.groupby("keep_rule", sort=True):
        cells = []
        for alignment, part in by_rule.groupby("alignment", sort=False):
            counts = part["category"].value_counts()
            shown = ", ".join(f"{int(counts.get(c, 0))} {c}" for c in ("multimodal", "vision", "language"))
            cells.append(f"{alignment} {shown} of {len(part)}")
        parts.append(f"[{keep_rule}] " + "; ".join(cells))
    return "sites: " + " | ".join(parts)


def _regions_line(summary: pd.DataFrame | None, top: int = 3, min_electrodes: int = 3) -> str:
    if summary is None:
        return "top regions: no region summary"
    part = summary[
        (summary["category"] == "multimodal")
        & (summary["hemisphere"] == "all")
        & (summary["region"] != "all")
        & (summary["n_electrodes"] >= min_electrodes)
    ]
    parts = []
    for (keep_rule, alignment), rows in part.groupby(["keep_rule", "alignment"], sort=True):
        if alignment == "both":
            continue
        best = rows[rows["n_sites"] > 0].sort_values(["fraction", "n_electrodes"], ascending=False).head(top)
        shown = ", ".join(f"{r.region} {r.n_sites}/{r.n_electrodes}" for r in best.itertuples())
        parts.append(f"[{keep_rule} {alignment}] {shown or 'no multimodal site'}")
    return "top multimodal regions (>= 3 electrodes): " + (" | ".join(parts) or "none")


def _recovery_line(path: Path, sites_path: Path) -> str:
    """Recovery of the planted truth from ``path``, written from the sites table at ``sites_path``: a table older
    than the sites is another run's (the replica's, beside a later run of the user's own data), not shown."""
    recovery = _read(path)
    if recovery is None:
        return "recovery: no planted truth (not a replica run)"
    if sites_path.exists() and path.stat().st_mtime < sites_path.stat().st_mtime:
        return f"recovery: not shown, {path} predates {sites_path} (an earlier run's)"
    if "primary" in recovery:
        recovery = recovery[recovery["primary"].astype(bool)]
    parts = []
    for keep_rule, rows in recovery.groupby("keep_rule", sort=True):
        # Silent contacts away from planted ones are the false-positive rate's denominator; the shaft neighbours of
        # planted contacts, which re-referencing mixes in, are reported apart.
        cells = [
            f"{r.category}/{r.alignment} {r.n_true_called} of {r.n_planted} planted called (recall "
            f"{r.recall:.2f}; {r.n_called} calls off shaft neighbours; silent called {r.n_called_silent} of "
            f"{r.n_silent}, shaft neighbours called {r.n_called_neighbours} of {r.n_neighbours})"
            for r in rows.itertuples()
        ]
        parts.append(f"[{keep_rule}] " + "; ".join(cells))
    return "recovery on the replica: " + " | ".join(parts)


def _calibration_line(calibration: pd.DataFrame | None) -> str:
    if calibration is None:
        return "calibration: no calibration table"
    null = calibration[(calibration["scenario"] == "null") & (calibration["protocol"] == "fast")]
    values = null.set_index(["keep_rule", "metric", "alignment"])["value"]
    parts = []
    for keep_rule in dict.fromkeys(null["keep_rule"]):
        cells = []
        for metric, label in (("fraction_bins_kept", "bins kept"), ("silent_called_rate", "silent electrodes called")):
            shown = ", ".join(
                f"{alignment} {values[keep_rule, metric, alignment]:.1%}"
                for alignment in dict.fromkeys(null["alignment"])
                if (keep_rule, metric, alignment) in values.index
            )
            cells.append(f"{label} {shown}")
        parts.append(f"[{keep_rule}] " + "; ".join(cells))
    return "null calibration (harness, nothing planted): " + (" | ".join(parts) or "no null scenario")


def _qc_line(results: Path) -> str:
    channels, events = _read(results / "qc" / "channels.parquet"), _read(results / "qc" / "events.parquet")
    edge = _read(results / "qc" / "alpha_edge.parquet")
    if channels is None or events is None or edge is None:
        return "quality control: no QC tables"
    dropped = int((channels["status"] == "dropped").sum())
    excluded = int(events.loc[events["reason"] != "valid", "n_events"].sum())
    share = float((edge["n_low_edge"] + edge["n_high_edge"]).sum() / edge["n_targets"].sum())
    return (
        f"quality control: {dropped} of {len(channels)} channels dropped, {excluded} of "
        f"{int(events['n_events'].sum())} events excluded, {share:.1%} of targets with alpha on the grid edge"
    )


def run_summary(report: str | PathLike, results: str | PathLike = "results") -> list[str]:
    """The report's path and five lines: sites per category and alignment, top regions, recovery of the planted
    truth (replica), null calibration of the keep rules, and quality control — read from the tables in ``results``."""
    results = Path(results)
    report, sites = Path(report), results / "stats" / "sites.parquet"
    stale = report.exists() and sites.exists() and report.stat().st_mtime < sites.stat().st_mtime
    return [
        f"report: {report.resolve()}"
        + (f" (older than {sites}: rerun `snakemake --report {report}` for these results)" if stale else ""),
        _sites_line(_read(results / "stats" / "sites.parquet")),
        _regions_line(_read(results / "regions" / "summary.parquet")),
        _recovery_line(results / "validation" / "recovery.parquet", results / "stats" / "sites.parquet"),
        _calibration_line(_read(results / "validation" / "calibration.parquet")),
        _qc_line(results),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the report's path and the run's five-line summary.")
    parser.add_argument("report", help="the report written by `snakemake --report`")
    parser.add_argument("--results", default="results", help="the workflow's results folder")
    args = parser.parse_args(argv)
    if not Path(args.report).exists():
        parser.exit(1, f"{args.report}: no report; run `snakemake --report {args.report}` first\n")
    print("\n".join(run_summary(args.report, args.results)))


if __name__ == "__main__":
    main()
