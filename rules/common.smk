# Config validation, the canonical settings and rerun keys, the trial -> movie map, model instances, input functions.
import functools
import json
import os

import yaml
from snakemake.utils import validate

from vlencode.config import (
    ConfigError,
    canonical_config,
    config_source,
    knob_keys,
    stop_at_start_up,
    validate_config,
    without_keys,
)
from vlencode.datasets import (
    DatasetError,
    check_dataset_files,
    open_dataset,
    trial_movies,
)
from vlencode.datasets.replica import GROUND_TRUTH_FILES
from vlencode.encoding.fitting import check_bootstrap_config
from vlencode.epochs import EpochWindows, check_epochs_config
from vlencode.keyed import keyed_inputs
from vlencode.models import RegistryError, SourceError
from vlencode.models.registry import model_instances
from vlencode.models.weights import (
    WeightsError,
    entry_units,
    lock_path,
    merge_units,
    offline_problem,
)
from vlencode.neural.stream import check_preprocess_config
from vlencode.outputs import OUTPUTS
from vlencode.outputs import output_path as out
from vlencode.stats.keep import check_min_bins
from vlencode.stimuli.table import STIMULUS_COLUMNS
from vlencode.steps import STEPS
from vlencode.store import file_sha256

SCHEMA_PATH = os.path.join(
    workflow.basedir, "workflow", "schemas", "config.schema.yaml"
)
# The errors of bad input found while the workflow is read (their messages name the file, the key and the fix).
START_UP_ERRORS = (ConfigError, DatasetError, RegistryError, SourceError, WeightsError)
# Where the config came from, for the start-up messages: its files and what --config set.
CONFIG_SOURCE = config_source(workflow.configfiles, workflow.config_settings.config)
# A start-up error ends the run with its one-line message, without Snakemake's file, line and traceback around it.
with stop_at_start_up(*START_UP_ERRORS):
    # Our own check first: its message is one line naming the key; snakemake's validate then fills schema defaults.
    validate_config(config, SCHEMA_PATH, source=CONFIG_SOURCE)
    validate(config, "../workflow/schemas/config.schema.yaml")
    # Every default and every value's form comes from the schema, once: rules read SETTINGS, never config.get(key, default).
    with open(SCHEMA_PATH) as schema_file:
        SCHEMA = yaml.safe_load(schema_file)
    SETTINGS = canonical_config(config, SCHEMA)
    # Settings a job would refuse only after the steps before it: refused here, before any job.
    check_preprocess_config(SETTINGS["preprocess"], source=CONFIG_SOURCE)
    check_epochs_config(
        SETTINGS["epochs"], SETTINGS["preprocess"]["rate_hz"], source=CONFIG_SOURCE
    )
    check_min_bins(
        SETTINGS["statistics"]["keep_rules"],
        SETTINGS["statistics"]["min_bins"],
        EpochWindows.from_config(SETTINGS["epochs"]).bin_time_s(),
        source=CONFIG_SOURCE,
    )
    check_bootstrap_config(SETTINGS["bootstrap"], source=CONFIG_SOURCE)


@functools.cache
def script_digest(stage):
    """The sha256 of a step's script: its content, not its mtime, decides whether it reruns (the profiles leave
    Snakemake's code trigger out, which judges a script by its mtime; snakemake#3474).
    """
    return file_sha256(
        os.path.join(workflow.basedir, "workflow", "scripts", f"{stage}.py")
    )


def settings(rule, without=(), canonical=None):
    """A rule's rerun key, from its spec (vlencode.steps): the settings its outputs depend on, its algorithm version
    and its script's digest, as canonical JSON (of ``canonical``, default the run's canonical config).
    """
    spec = STEPS[rule]
    return spec.rerun_key(
        canonical or SETTINGS,
        SCHEMA,
        script=script_digest(spec.STAGE),
        without=without,
    )


DATASET = SETTINGS["dataset"]
REPLICA = SETTINGS["replica"]["enabled"]
RECORDINGS = [(r["subject"], r["trial"]) for r in DATASET["recordings"]]
SUBJECTS = sorted({subject for subject, _ in RECORDINGS}, key=lambda s: (len(s), s))


def offline():
    """Offline is explicit, never probed: the config's models.offline or HF_HUB_OFFLINE."""
    import huggingface_hub.constants

    return SETTINGS["models"]["offline"] or huggingface_hub.constants.HF_HUB_OFFLINE


def check_weights_on_disk():
    """Offline, stop at planning with one line per model whose files are neither locked nor on disk."""
    if not offline():
        return
    problems = [
        problem
        for name, unit in WEIGHTS.items()
        if not lock_path(WEIGHTS_DIR, name).is_file()
        and (problem := offline_problem(unit, WEIGHTS_DIR))
    ]
    if problems:
        raise WeightsError(
            "offline, and the weights of these models are not on disk:\n"
            + "\n".join(problems)
        )


with stop_at_start_up(*START_UP_ERRORS):
    MOVIE_OF = trial_movies(SETTINGS, source=CONFIG_SOURCE)
    MOVIES = sorted(set(MOVIE_OF.values()))
    MODELS = model_instances(config)
    # What the weights step fetches: one unit per hub repository or release file, shared by the entries that read it.
    WEIGHTS_DIR = SETTINGS["models"]["weights_dir"]
    UNITS_OF = {
        name: entry_units(instance.entry, WEIGHTS_DIR)
        for name, instance in MODELS.items()
        if not instance.components
    }
    WEIGHTS = merge_units(
        [unit for units in UNITS_OF.values() for unit in units.values()]
    )
    check_weights_on_disk()
    # The replica's tree is laid out as the Brain Treebank; its files are rule outputs, so the layout is known upfront.
    LAYOUT = open_dataset(SETTINGS, built=False)
# Performance knobs: passed as resources, which are not part of any rerun key (results do not depend on them).
DEVICE = SETTINGS["device"]
USE_GPU = DEVICE == "cuda"


@functools.cache
def dataset():
    """The dataset reader (the replica's layout before its rules have built it)."""
    return LAYOUT if REPLICA else open_dataset(SETTINGS)


if not REPLICA:
    with stop_at_start_up(*START_UP_ERRORS):
        check_dataset_files(dataset(), MOVIE_OF)


def ground_truth_path(kind):
    """The replica's planted truth (read by no analysis step)."""
    return os.path.join(DATASET["root"], GROUND_TRUTH_FILES[kind])


def trials_of(subject):
    return [trial for s, trial in RECORDINGS if s == subject]


def recordings_of_movie(movie):
    return [(s, t) for (s, t), m in MOVIE_OF.items() if m == movie]


def movies_of_subject(subject):
    return sorted({MOVIE_OF[(subject, trial)] for trial in trials_of(subject)})


def recording_files(wildcards):
    """What reading a trial's recording opens."""
    return [
        str(p) for p in dataset().recording_files(wildcards.subject, wildcards.trial)
    ]


def event_inputs(wildcards):
    """A trial's events read its recording's length, its clock, transcript and metadata, and its movie's cuts."""
    subject, trial = wildcards.subject, wildcards.trial
    movie = MOVIE_OF[(subject, trial)]
    return {
        "recording": recording_files(wildcards),
        "annotations": [str(p) for p in dataset().event_files(subject, trial, movie)],
        "cuts": out("cuts", movie=movie),
    }


def cut_recordings(movie):
    """The trials whose annotations a reader keeping scene cuts per recording (BIDS) reads for ``movie``."""
    return recordings_of_movie(movie) if DATASET["format"] == "bids" else []


@functools.cache
def cut_annotation(movie):
    """The annotation files of ``movie`` (empty when cuts are detected: none exists or detection is asked for)."""
    if DATASET["scene_cuts"] == "detect":
        return []
    if REPLICA:
        return [str(LAYOUT.scene_path(movie))]
    # Files that exist may still hold no cut of this movie (BIDS events without scene rows): then cuts are detected.
    if dataset().scene_cuts(movie, cut_recordings(movie)) is None:
        return []
    return [str(p) for p in dataset().scene_cut_files(movie, cut_recordings(movie))]


def cut_inputs(wildcards):
    annotation = cut_annotation(wildcards.movie)
    if annotation:
        return {"annotation": annotation}
    return {"movie": str(dataset().movie_path(wildcards.movie))}


def cut_settings(wildcards):
    """Detection settings join the key only where cuts are detected."""
    return settings(
        "cuts", without=["detection"] if cut_annotation(wildcards.movie) else []
    )


def fit_settings(wildcards):
    """Screening joins the key only where it runs (networks under layer_selection: screen), banded ridge's draws only
    for the concatenation baseline, the one model it fits. The baseline is never screened: under screen it runs, and
    is keyed as, validation."""
    baseline = bool(MODELS[wildcards.model].components)
    selection = SETTINGS["encoding"]["layer_selection"]
    canonical = SETTINGS
    if baseline and selection == "screen":
        encoding = {**SETTINGS["encoding"], "layer_selection": "validation"}
        canonical = {**SETTINGS, "encoding": encoding}
    return settings(
        "fit",
        without=(["screening"] if baseline or selection != "screen" else [])
        + ([] if baseline else ["banded_iterations"]),
        canonical=canonical,
    )


def feature_inputs(wildcards):
    """A network reads the movie's stimuli; the concatenation baseline reads its components' feature stores."""
    instance = MODELS[wildcards.model]
    if instance.components:
        return {
            component: out("features", model=component, movie=wildcards.movie)
            for component in instance.components
        }
    return {
        "table": out("stimuli", movie=wildcards.movie),
        "frames": out("frames", movie=wildcards.movie),
        **{
            role: str(lock_path(WEIGHTS_DIR, unit.name))
            for role, unit in UNITS_OF[wildcards.model].items()
        },
    }


def recording_inputs(role, recordings=None):
    """Named inputs ``<role>/<subject>/<trial>`` of one output per recording (default: every recording)."""
    return keyed_inputs(
        role,
        {
            (s, t): out(role, subject=s, trial=t)
            for s, t in (RECORDINGS if recordings is None else recordings)
        },
    )


def trial_inputs(wildcards):
    """A subject's epochs and events, named ``epochs/<trial>`` and ``events/<trial>`` in config order."""
    trials = trials_of(wildcards.subject)
    return {
        **keyed_inputs(
            "epochs",
            {t: out("epochs", subject=wildcards.subject, trial=t) for t in trials},
        ),
        **keyed_inputs(
            "events",
            {t: out("events", subject=wildcards.subject, trial=t) for t in trials},
        ),
    }


def fit_inputs(wildcards):
    """A fit reads the subject's epochs and events, its model's features of every movie the subject watched
    (``features/<movie>``) and the subject's resamples."""
    subject = wildcards.subject
    return {
        **trial_inputs(wildcards),
        **keyed_inputs(
            "features",
            {
                m: out("features", model=wildcards.model, movie=m)
                for m in movies_of_subject(subject)
            },
        ),
        "resamples": out("resamples", subject=subject),
    }


def fit_stores(subject=None):
    """Named inputs ``fit/<subject>/<model>`` of every fit store (of one subject, when given)."""
    subjects = SUBJECTS if subject is None else [subject]
    return keyed_inputs(
        "fit",
        {(s, m): out("fit", subject=s, model=m) for s in subjects for m in MODELS},
    )


def stimuli_inputs(wildcards):
    """A movie's stimuli read the events of every recording of it (``events/<subject>/<trial>``) and the movie."""
    return {
        **recording_inputs("events", recordings_of_movie(wildcards.movie)),
        "movie": str(dataset().movie_path(wildcards.movie)),
    }


def all_targets():
    targets = []
    if REPLICA:
        targets.append(ground_truth_path("electrodes"))
    for subject, trial in RECORDINGS:
        targets.append(out("epochs", subject=subject, trial=trial))
    for movie in MOVIES:
        for model in MODELS:
            targets.append(out("features", model=model, movie=movie))
    for subject in SUBJECTS:
        for model in MODELS:
            targets.append(out("fit", subject=subject, model=model))
    targets += [OUTPUTS[name] for name in ("scores", "sites", "calibration")]
    targets += [out("subject_comparisons", subject=subject) for subject in SUBJECTS]
    if REPLICA:
        targets.append(OUTPUTS["recovery"])
    return targets


def electrode_inputs(wildcards):
    """What the electrode tables read: each recording's channel lists and, in the Brain Treebank layout, each
    subject's localization."""
    files = {str(p) for s, t in RECORDINGS for p in dataset().recording_files(s, t)}
    if DATASET["format"] == "braintreebank":
        files |= {str(LAYOUT.localization_path(s)) for s in SUBJECTS}
    return sorted(files)


def protocol_settings():
    """The settings the protocol page states, canonical (JSON, sorted keys), without the knobs (performance and
    log-only settings, marked in the schema) and without where the weights are kept and whether the hub is reachable (neither changes a result).
    """
    leave_out = knob_keys(SCHEMA) | {"models.weights_dir", "models.offline"}
    return json.dumps(without_keys(SETTINGS, leave_out), sort_keys=True)


def produced(path):
    """Whether this run has the table at ``path``: a rule of the workflow writes it, or it is already there."""
    return any(
        str(o) == path for r in workflow.rules for o in r.output
    ) or os.path.exists(path)
