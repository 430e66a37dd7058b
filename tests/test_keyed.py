"""Named inputs keyed by trial, movie, recording or model: what a rule names, a script reads back."""

import pytest
from snakemake.iocontainers import Namedlist

from vlencode.keyed import keyed, keyed_inputs, keyed_pairs
from vlencode.outputs import OUTPUTS, output_path


def test_a_script_reads_back_what_the_rule_named_in_the_rule_order():
    named = {
        **keyed_inputs("epochs", {"3": "e3.zarr", "0": "e0.zarr"}),
        **keyed_inputs("neural", {("1", "0"): "n10.zarr", ("2", "4"): "n24.zarr"}),
        "scores": "scores.parquet",
    }
    assert list(named) == ["epochs/3", "epochs/0", "neural/1/0", "neural/2/4", "scores"]
    inputs = Namedlist(fromdict=named)  # what Snakemake's unpack makes of it
    assert keyed(inputs, "epochs") == {"3": "e3.zarr", "0": "e0.zarr"}
    assert list(keyed(inputs, "epochs")) == ["3", "0"]
    assert keyed_pairs(inputs, "neural") == {("1", "0"): "n10.zarr", ("2", "4"): "n24.zarr"}
    assert keyed(inputs, "features") == {}
    with pytest.raises(ValueError, match=r"epochs: input e3.zarr is not keyed by a pair \(3\)"):
        keyed_pairs(inputs, "epochs")


def test_a_key_holding_the_separator_is_refused():
    with pytest.raises(ValueError, match="movie: input key 'a/b' contains '/'"):
        keyed_inputs("movie", {"a/b": "x"})


def test_output_paths_fill_their_wildcards():
    assert output_path("fit", subject="1", model="m") == "results/encoding/sub-1/model-m.zarr"
    assert output_path("qc", name="clock") == "results/qc/clock.parquet"
    with pytest.raises(KeyError):
        output_path("fit", subject="1")
    assert len(set(OUTPUTS.values())) == len(OUTPUTS)  # one name per path
