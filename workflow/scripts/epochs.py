"""Rule epochs: per alignment, the binned neural response around every valid event of one trial."""

from vlencode import steps, store
from vlencode.epochs import epoch_responses
from vlencode.runlog import rule_logger
from vlencode.stores.epochs import write_epochs
from vlencode.stores.neural import NeuralStore

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
neural = NeuralStore(snakemake.input.neural)
events = store.read_parquet(snakemake.input.events)
settings = steps.Epochs.from_params(snakemake.params.settings)
windows = settings.windows()
epochs = epoch_responses(
    neural.signal, rate_hz=neural.rate_hz, source_rate_hz=neural.source_rate_hz, events=events, cfg=windows
)

inputs = store.input_hashes(snakemake.input)
with store.atomic_zarr(snakemake.output[0], settings.params, inputs) as root:
    bins = windows.bin_time_s()
    write_epochs(root, epochs, bin_time_s=bins, electrodes=neural.electrode, rate_hz=neural.rate_hz)
for alignment, result in epochs.items():
    log.info("%s: %s events x electrodes x bins, %d dropped", alignment, result.response.shape, result.n_dropped)
