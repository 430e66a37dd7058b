"""Quality-control tables derived from the stores' records."""

import numpy as np
import pandas as pd
import pytest
import report_tables as rt

from vlencode import qc, store
from vlencode.datasets.base import ClockAlignment
from vlencode.stores import neural


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("flat: std 1e-05 uV < flat_tolerance_uv 0.001", "flat"),
        ("NaN run of 0.300 s (> max_nan_gap_s 0.05)", "NaN run"),
        ("saturated: 40 samples at 3200 uV", "saturated"),
        ("laplacian: lacks a same-shaft neighbour", "laplacian"),
        ("no finite sample", "no finite sample"),
    ],
)
def test_reason_kinds_drop_the_numbers(reason, kind):
    assert qc.reason_kind(reason) == kind


def test_channel_table_reads_kept_and_dropped_channels(tmp_path):
    path = tmp_path / "sub-1_trial-0.zarr"
    with store.atomic_zarr(path) as group:
        neural.create_signal(group, 4, 2, block=4)[:] = 0.0
        neural.write_metadata(
            group,
            electrodes=["A2", "A3"],
            rate_hz=200,
            source_rate_hz=2048,
            line_freq_hz=60,
            line_freq_source="config",
            notch_hz=[60],
            clipped_fraction={"A2": 0.0, "A3": 0.0},
            dropped_channels={"A1": "laplacian: no same-shaft neighbour", "B1": "flat: std 0 uV < 0.001"},
        )
    table = qc.channel_table({("1", "0"): path})
    assert table.columns.tolist() == qc.CHANNEL_COLUMNS
    assert table["status"].tolist() == ["kept", "kept", "dropped", "dropped"]
    assert table["reason_kind"].tolist() == ["", "", "laplacian", "flat"]


def test_event_table_counts_valid_and_excluded_events(tmp_path):
    events = pd.DataFrame(
        {
            "alignment": ["word"] * 4 + ["scene"] * 2,
            "valid": [True, True, False, False, True, False],
            "invalid_reason": ["", "", "in_pause", "after_last_trigger", "", "no_text"],
        }
    )
    store.write_parquet(events, tmp_path / "e.parquet")
    table = qc.event_table({("1", "0"): tmp_path / "e.parquet"})
    counts = {(a, r): n for a, r, n in zip(table["alignment"], table["reason"], table["n_events"])}
    assert counts == {
        ("word", "valid"): 2,
        ("word", "in_pause"): 1,
        ("word", "after_last_trigger"): 1,
        ("scene", "valid"): 1,
        ("scene", "no_text"): 1,
    }


def test_clock_table_reports_the_drift_check_in_ms():
    class Dataset:
        def clock(self, subject, trial):
            return ClockAlignment(np.array([0.0, 10.0, 20.0]), np.array([0, 20480, 40962]), 2048.0, 2.0)

    table = qc.clock_table(Dataset(), [("1", "0")])
    assert table.loc[0, "max_residual_samples"] == 2.0
    assert table.loc[0, "max_residual_ms"] == pytest.approx(1000 * 2 / 2048)
    assert table.loc[0, "n_triggers"] == 3


def test_alpha_edge_counts_targets_at_either_end_of_the_grid():
    scores = pd.DataFrame(
        {
            "subject": "1",
            "alignment": "word",
            "model": "m",
            "family": "vision",
            "init": "trained",
            "alpha": [0.1, 0.1, 10.0, 1e5, 10**4.99],
        }
    )
    table = qc.alpha_edge_table(scores, {("1", "m"): np.logspace(-1, 5, 7)})
    row = table.iloc[0]
    assert (row["n_targets"], row["n_low_edge"], row["n_high_edge"]) == (5, 2, 1)
    assert row["share_edge"] == pytest.approx(3 / 5)
    # the edges are those of each fit's own grid, as its fit store records it
    wider = qc.alpha_edge_table(scores, {("1", "m"): np.logspace(-2, 6, 9)}).iloc[0]
    assert (wider["n_low_edge"], wider["n_high_edge"]) == (0, 0)
    with pytest.raises(ValueError, match=r"no alpha grid for the fits of \(subject, model\) \[\('1', 'm'\)\]"):
        qc.alpha_edge_table(scores, {("1", "other"): np.logspace(-1, 5, 7)})


def test_alpha_grids_are_read_from_the_fit_stores(tmp_path):
    scores = rt.scores(rt.electrodes(2))
    paths = rt.grid_fit_stores(scores, tmp_path, np.logspace(-1, 5, 7))
    grids = qc.alpha_grids(paths)
    assert set(grids) == set(map(tuple, scores[["subject", "model"]].drop_duplicates().to_numpy().tolist()))
    np.testing.assert_array_equal(grids[("1", "minilm")], np.logspace(-1, 5, 7))
