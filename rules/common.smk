# Config validation, wildcard constraints, the trial -> movie map, model instances and the target list.
import os

from snakemake.utils import validate

from vlencode.config import validate_config
from vlencode.datasets import open_dataset, trial_movies
from vlencode.models.registry import model_instances
from vlencode.stimuli.table import STIMULUS_COLUMNS

# Our own check first: its message is one line naming the key; snakemake's validate then fills schema defaults.
validate_config(
    config,
    os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"),
    source=", ".join(map(str, workflow.configfiles)) or "config",
)
validate(config, "../workflow/schemas/config.schema.yaml")


DATASET = config["dataset"]
REPLICA = config.get("replica", {}).get("enabled", False)
RECORDINGS = [(r["subject"], r["trial"]) for r in DATASET["recordings"]]
SUBJECTS = sorted({subject for subject, _ in RECORDINGS}, key=lambda s: (len(s), s))
MOVIE_OF = trial_movies(config)
MOVIES = sorted(set(MOVIE_OF.values()))
MODELS = model_instances(config)
USE_GPU = config.get("device", "auto") == "cuda"


def trials_of(subject):
    return [trial for s, trial in RECORDINGS if s == subject]


def recordings_of_movie(movie):
    return [(s, t) for (s, t), m in MOVIE_OF.items() if m == movie]


def movies_of_subject(subject):
    return sorted({MOVIE_OF[(subject, trial)] for trial in trials_of(subject)})


def recording_inputs(wildcards):
    """What a trial's processing reads: the replica tree (built by make_replica) or the dataset's own files."""
    if REPLICA:
        return [DATASET["root"]]
    dataset = open_dataset(config)
    return [str(p) for p in dataset.input_files(wildcards.subject, wildcards.trial)]


def feature_inputs(wildcards):
    """A network reads the movie's stimuli; the concatenation baseline reads its components' feature stores."""
    instance = MODELS[wildcards.model]
    if instance.components:
        return {
            component: f"results/features/model-{component}/movie-{wildcards.movie}.zarr"
            for component in instance.components
        }
    return {
        "table": f"results/stimuli/movie-{wildcards.movie}.parquet",
        "frames": f"results/stimuli/movie-{wildcards.movie}_frames.zarr",
    }


def narrowed(*sections):
    """The config sections (plus the seed) that a step depends on, passed as params so they form its rerun key."""
    out = {"seed": config["seed"]}
    for section in sections:
        out[section] = config.get(section, {})
    return out


def all_targets():
    targets = []
    for subject, trial in RECORDINGS:
        targets.append(f"results/epochs/sub-{subject}_trial-{trial}.zarr")
    for movie in MOVIES:
        for model in MODELS:
            targets.append(f"results/features/model-{model}/movie-{movie}.zarr")
    for subject in SUBJECTS:
        for model in MODELS:
            targets.append(f"results/encoding/sub-{subject}/model-{model}.zarr")
    targets.append("results/encoding/scores.parquet")
    return targets
