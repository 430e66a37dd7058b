"""The paper-scale benchmark's command line and projection (benchmarks/paper_scale.py), without timing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper_scale():
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    import paper_scale

    return paper_scale


#: One measured alignment as the benchmark saves it (sub-3's words at width 768, seconds of an earlier run).
WORD_ROW = {
    "subject": "3",
    "trial": "2",
    "alignment": "sub-3 word events",
    "events": 10570,
    "width": 768,
    "layers": 13,
    "targets": 24150,
    "resamples": 1000,
    "scale": 1.0,
    "proxy_targets": 1024,
    "threads": 1,
    "memory_gb": None,
    "device": "cpu",
    "validation_s": 1258.9,
    "validation_chosen": "hidden.6",
    "validation_layers_fitted": 1,
    "extrapolated": True,
    "screen_s": 140.9,
    "screen_chosen": "hidden.6",
    "screen_fitted": 1,
    "screen_fitted_layers": ["hidden.6"],
    "full_fit_s": 96.8,
    "proxy_s": 3.4,
    "planted": "hidden.6",
    "same_layer": True,
    "bootstrap_iid_s": 67.5,
    "kept_iid": 17990,
    "bootstrap_block_s": 64.9,
    "kept_block": 18186,
    "inflation_s": 25.0,
    "rider_s": -11.1,
    "inflation_ridden_s": 4.6,
    "inflation_ridden_difference": 3.590325814428752e-10,
    "peak_rss_gb": 7.9,
}


def test_a_projection_without_one_of_the_papers_alignments_says_it_is_a_lower_bound(paper_scale):
    trials = paper_scale.paper_trials(15.0)
    counts = {"fit": 182}
    partial = paper_scale.project([WORD_ROW], trials, counts, "768")
    assert partial["unmeasured"] == ["scene"]
    text = paper_scale.report([WORD_ROW], trials, counts, [partial], "cpu", "here", "python paper_scale.py")
    assert "a lower bound: the scene alignment was not measured for every subject timed" in text
    scene = {**WORD_ROW, "alignment": "sub-3 scene events", "events": 3197}
    whole = paper_scale.project([WORD_ROW, scene], trials, counts, "768")
    assert whole["unmeasured"] == []
    assert whole["hours"]["screen"] > partial["hours"]["screen"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--trials", "99"], "--trials: no paper trial of subject(s) 99"),
        (["--alignments", "words"], "--alignments: words unknown"),
        (["--widths", "wide"], "--widths: 'wide' is neither study nor a positive number"),
        (["--planted", "13"], "--planted is a layer index of the 13 layers"),
        (["--threads", "0"], "argument --threads: must be at least 1, got 0"),
        (["--quick", "--resamples", "50"], "--quick sets --scale, --electrodes, --bins and --resamples itself"),
        (["--jobs-json", "no-such-counts.json"], "--jobs-json no-such-counts.json: "),
    ],
)
def test_arguments_it_cannot_use_stop_it_with_one_line_before_any_work(tmp_path, arguments, message):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper_scale.py"), *arguments, "--no-dry-run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1].startswith(f"paper_scale.py: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr
