"""Rule features: layerwise activations of one model instance for one movie's stimuli (or the concat baseline)."""

import torch

from vlencode import steps, store
from vlencode.features import concat_features, extract_features
from vlencode.models import ModelInstance, RegistryError, SourceError
from vlencode.models.weights import WeightsError, read_lock
from vlencode.runlog import rule_logger
from vlencode.stores.features import write_features
from vlencode.stores.frames import FramesStore

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
# The rule's threads, not torch's default of every core: jobs run side by side (the forward passes and, under the
# study's extraction, the sparse projection use them).
torch.set_num_threads(snakemake.threads)
instance = ModelInstance.from_dict(snakemake.params.model)
settings = steps.Features.from_params(snakemake.params.settings)
inputs = dict(snakemake.input.items())

if instance.components:
    components = {name: store.open_zarr(inputs[name]) for name in instance.components}
    ids, layers, attrs = concat_features(instance, components)
else:
    table = store.read_parquet(inputs["table"])
    frames = FramesStore(inputs["frames"]).frames
    try:
        # The weights step's locks: the files are checked against them before the network loads from them.
        locations = {role: read_lock(inputs[role])[0] for role in ("weights", "tokenizer") if role in inputs}
        layers, attrs = extract_features(
            instance,
            table,
            frames,
            settings.params,
            device=snakemake.resources.device,
            batch_size=snakemake.resources.batch_size,
            locations=locations,
        )
    except ValueError as error:  # one line; the model's files or registry entry, else the stimuli, are to blame
        own = isinstance(error, (SourceError, RegistryError, WeightsError))
        message = str(error) if own else f"{instance.name} on {inputs['table']}: {error}"
        log.error(message)
        raise SystemExit(message) from None
    ids = table["stimulus_id"].astype(str).to_numpy()

params = {**settings.params, "model": snakemake.params.model}
with store.atomic_zarr(snakemake.output[0], params, store.input_hashes(snakemake.input)) as root:
    write_features(root, ids, layers, attrs)
log.info("%s: %d stimuli, layers %s, cache key %s", instance.name, len(ids), ", ".join(layers), attrs["cache_key"])
