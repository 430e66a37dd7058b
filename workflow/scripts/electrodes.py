"""Rule electrodes: every analysed electrode with its atlas labels -> results/regions/electrodes.parquet."""

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.keyed import keyed_pairs
from vlencode.regions import electrode_table
from vlencode.runlog import rule_logger
from vlencode.stores.neural import NeuralStore

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = steps.Electrodes.from_params(params.settings)
analysed = {}
for (subject, _), path in keyed_pairs(snakemake.input, "neural").items():
    analysed.setdefault(subject, []).extend(NeuralStore(path).electrode)
table = electrode_table(
    open_dataset(settings.params),
    params.subjects,
    settings.atlas,
    settings.radius_mm,
    analysed=analysed,
)
store.write_parquet(table, snakemake.output[0], params=settings.params, inputs=store.input_hashes(snakemake.input))
log.info(
    "%d electrodes of %d subjects: %d labelled by the dataset, %d from the atlas, %d unlabelled; %d in gray matter",
    len(table),
    table["subject"].nunique(),
    int((table["label_source"] == "dataset").sum()),
    int((table["label_source"] == "atlas").sum()),
    int((table["label_source"] == "none").sum()),
    int(table["gray_matter"].sum()),
)
