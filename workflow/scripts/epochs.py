"""Rule epochs: per alignment, the binned neural response around every valid event of one trial."""

import numpy as np

from vlencode import store
from vlencode.epochs import EpochWindows, epoch_responses
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
neural = store.open_zarr(snakemake.input.neural)
events = store.read_parquet(snakemake.input.events)
cfg = snakemake.params.cfg["epochs"]
rate_hz = float(neural.attrs["rate_hz"])
epochs = epoch_responses(neural["signal"], rate_hz, float(neural.attrs["source_rate_hz"]), events, cfg)

inputs = store.input_hashes({"neural": snakemake.input.neural, "events": snakemake.input.events})
with store.atomic_zarr(snakemake.output[0], snakemake.params.cfg, inputs) as root:
    root.attrs["rate_hz"] = rate_hz
    root.create_array("bin_time_s", data=EpochWindows.from_config(cfg).bin_time_s())
    root.create_array("electrode", data=np.asarray(neural["electrode"][:], dtype=np.dtypes.StringDType()))
    for alignment, result in epochs.items():
        group = root.create_group(alignment)
        group.attrs["n_dropped"] = result.n_dropped
        n_events, n_electrodes, n_bins = result.response.shape
        response = group.create_array(
            "response",
            shape=result.response.shape,
            dtype="float32",
            chunks=(max(min(n_events, 256), 1), n_electrodes, n_bins),
        )
        response[:] = result.response
        group.create_array("event_id", data=np.asarray(result.event_id, dtype=np.dtypes.StringDType()))
        log.info("%s: %d events x %d electrodes x %d bins", alignment, n_events, n_electrodes, n_bins)
