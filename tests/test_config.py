"""The shipped configs validate; a bad key, type or path is a one-line error naming the key."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlencode.config import ConfigError, canonical_config, validate_config
from vlencode.epochs import check_epochs_config
from vlencode.neural.stream import check_preprocess_config
from vlencode.stats.keep import check_min_bins

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config(monkeypatch):
    monkeypatch.chdir(ROOT)
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid(config):
    validate_config(config, SCHEMA)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["preprocess"].update(notch_hz=60), r"preprocess: unknown key\(s\) \['notch_hz'\]"),
        (lambda c: c["epochs"].update(step_s="fast"), r"epochs\.step_s: 'fast' is not of type 'number'"),
        (
            lambda c: c["dataset"]["recordings"][0].update(subject=1),
            r'dataset\.recordings\.0\.subject: 1 is a number; quote it \("1"\) to make it text',
        ),
        (
            lambda c: c["dataset"]["recordings"][1].update(trial=0),
            r'dataset\.recordings\.1\.trial: 0 is a number; quote it \("0"\) to make it text',
        ),
        (lambda c: c["preprocess"].update(reference="average"), r"preprocess\.reference: 'average' is not one of"),
        (lambda c: c.pop("dataset"), r"'dataset' is required"),
        (lambda c: c["models"].update(registry="config/none.yaml"), r"models\.registry: config/none\.yaml not found"),
        (
            lambda c: (c["replica"].update(enabled=False), c["dataset"].update(root="/no/such/dataset")),
            r"dataset\.root: /no/such/dataset does not exist",
        ),
        (
            lambda c: c["dataset"]["recordings"].append(dict(c["dataset"]["recordings"][0])),
            r"dataset\.recordings\[3\]: subject 1 trial 0 is already dataset\.recordings\[0\]; list each",
        ),
        (
            lambda c: c["dataset"]["recordings"].insert(1, dict(c["dataset"]["recordings"][2])),
            r"dataset\.recordings\[3\]: subject 3 trial 0 is already dataset\.recordings\[1\]",
        ),
        # A reader of the user's own data with the replica still on (the embedded config's): the replica wins.
        (
            lambda c: c["dataset"].update(format="bids"),
            r"replica\.enabled: true generates a Brain Treebank replica, but dataset\.format is bids; set "
            r"replica\.enabled: false",
        ),
        (
            lambda c: (c["replica"].update(enabled=False), c["dataset"].update(root="config/config.yaml")),
            r"dataset\.root: config/config\.yaml is a file, not a folder; point it at your dataset's folder",
        ),
        # NaN passes every bound of the schema, an infinity every lower bound: both are refused by name.
        (lambda c: c["encoding"].update(screening={"z": float("inf")}), r"encoding\.screening\.z: inf is not a finite"),
        (lambda c: c["bootstrap"].update(block_s=float("nan")), r"bootstrap\.block_s: nan is not a finite number"),
        (
            lambda c: c["dataset"]["recordings"][0].update(extra=[1.0, float("-inf")]),
            r"dataset\.recordings\[0\]\.extra\[1\]: -inf is not a finite number",
        ),
        # A value that may be one of several forms names them.
        (lambda c: c["encoding"].update(memory_gb=-2), r"encoding\.memory_gb: -2 is not 'auto' or a number > 0"),
        # Snakemake's --config gives nested values as text: said so, with the way to set them.
        (
            lambda c: c["bootstrap"].update(n_resamples="100"),
            r"bootstrap\.n_resamples: '100' is text where integer is expected; a nested value given with --config",
        ),
    ],
)
def test_bad_config_is_a_one_line_error_naming_the_key(config, mutate, expected):
    bad = copy.deepcopy(config)
    mutate(bad)
    with pytest.raises(ConfigError, match=expected) as error:
        validate_config(bad, SCHEMA, source="config/config.yaml")
    assert "\n" not in str(error.value)
    assert str(error.value).startswith("config/config.yaml: ")


def test_a_start_up_error_ends_the_process_with_its_message_alone():
    from vlencode.config import stop_at_start_up

    with pytest.raises(SystemExit) as stop:
        with stop_at_start_up(ConfigError, KeyError):
            raise ConfigError("config/config.yaml: seed: 'abc' is not of type 'integer'")
    assert stop.value.code == "config/config.yaml: seed: 'abc' is not of type 'integer'"
    # Any other exception is a bug: it keeps its type and traceback.
    with pytest.raises(KeyError):
        with stop_at_start_up(ConfigError):
            raise KeyError("seed")


def test_paper_config_matches_the_schema_and_the_registry():
    from vlencode.config import schema_errors
    from vlencode.models.registry import model_instances

    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert schema_errors(paper, yaml.safe_load(SCHEMA.read_text())) == []
    paper["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    instances = model_instances(paper)
    assert {"vision", "language", "multimodal"} == {instance.family for instance in instances.values()}
    assert {"trained", "random"} == {instance.init for instance in instances.values()}


def _schema():
    return yaml.safe_load(SCHEMA.read_text())


def test_rerun_keys_ignore_how_numbers_are_written_and_key_order(config):
    from vlencode.config import canonical_config, rule_params

    retyped = copy.deepcopy(config)
    retyped["preprocess"]["notch_max_hz"] = 360.0  # a number in the schema
    retyped["encoding"]["n_folds"] = 5.0  # an integer in the schema
    retyped["stimuli"]["scene_detection"] = {"min_scene_len_s": 0.5, "threshold": 27}
    keys = ["preprocess", "encoding.n_folds", "stimuli.scene_detection"]
    first = rule_params(canonical_config(config, _schema()), keys, stage="events", version=2, schema=_schema())
    assert first == rule_params(canonical_config(retyped, _schema()), keys, stage="events", version=2, schema=_schema())
    assert isinstance(first, str) and '"notch_max_hz":360.0' in first and '"n_folds":5}' in first
    retyped["preprocess"]["line_freq_hz"] = 50
    assert first != rule_params(canonical_config(retyped, _schema()), keys, stage="events", version=2, schema=_schema())


def test_a_path_starting_with_a_tilde_is_in_the_home_folder(config):
    respelt = copy.deepcopy(config)
    respelt["dataset"]["root"] = "~/braintreebank"
    assert canonical_config(respelt, _schema())["dataset"]["root"] == str(Path.home() / "braintreebank")


@pytest.mark.parametrize("spelling", ["resources/braintreebank-replica/", "./resources//braintreebank-replica"])
def test_a_dataset_root_spelt_another_way_is_the_same_key(config, spelling):
    from vlencode.config import rule_params

    respelt = copy.deepcopy(config)
    respelt["dataset"]["root"] = spelling
    canonical = canonical_config(respelt, _schema())
    assert canonical["dataset"]["root"] == "resources/braintreebank-replica"
    keys = ["dataset.root"]
    assert rule_params(canonical, keys, stage="events", version=2, schema=_schema()) == rule_params(
        canonical_config(config, _schema()), keys, stage="events", version=2, schema=_schema()
    )


def test_defaults_come_from_the_schema_and_versions_join_the_key(config):
    from vlencode.config import canonical_config, rule_params
    from vlencode.versions import STAGE_VERSIONS

    del config["epochs"]["window_s"], config["encoding"]["banded"]
    config["replica"].pop("seed", None)
    canonical = canonical_config(config, _schema())
    assert canonical["epochs"]["window_s"] == 0.2 and canonical["encoding"]["banded"] == {"n_iter": 20}
    assert canonical["replica"]["seed"] == 0 and canonical["device"] == "auto"
    key = json.loads(
        rule_params(
            canonical,
            ["epochs.window_s", "dataset.bids_task"],
            stage="epochs",
            version=STAGE_VERSIONS["epochs"],
            schema=_schema(),
        )
    )
    assert key == {"epochs": {"window_s": 0.2}, "version": STAGE_VERSIONS["epochs"]}


@pytest.mark.parametrize("key", ["epochs.windw_s", "preprocess.notch", "encodng", "stimuli.scene_detection.treshold"])
def test_a_rerun_key_the_schema_does_not_declare_is_an_error_not_a_dropped_dependency(config, key):
    from vlencode.config import canonical_config, rule_params

    canonical = canonical_config(config, _schema())
    with pytest.raises(ValueError, match=f"step epochs: config key '{key}' is not declared in the config schema"):
        rule_params(canonical, ["epochs.window_s", key], stage="epochs", version=1, schema=_schema())


@pytest.mark.parametrize(
    "section, value, check, expected",
    [
        (
            "epochs",
            {"tmin_s": 3.0},
            check_epochs_config,
            r"epochs: tmin_s 3\.0 is after tmax_s 2\.0; need tmin_s <= tmax_s",
        ),
        (
            "epochs",
            {"window_s": 0.001},
            lambda epochs, source: check_epochs_config(epochs, 200.0, source=source),
            r"epochs\.window_s: 0\.001 s is shorter than one sample at preprocess\.rate_hz 200\.0 Hz; raise window_s",
        ),
        (
            "statistics",
            {"min_bins": 82},
            lambda statistics, source: check_min_bins(
                statistics["keep_rules"], statistics["min_bins"], np.round(np.arange(-80, 81) * 0.025, 9), source
            ),
            r"statistics\.min_bins 82 exceeds the 81 bins of the epochs at or after 0 s that keep rule 'calibrated'",
        ),
        (
            "preprocess",
            {"rate_hz": 5000, "source_rate_hz": 2048},
            check_preprocess_config,
            r"preprocess\.rate_hz 5000 exceeds preprocess\.source_rate_hz 2048; lower rate_hz",
        ),
    ],
)
def test_settings_that_disagree_with_each_other_are_refused_at_start_up(config, section, value, check, expected):
    # They passed start-up and failed in a job, after preprocessing (found by a fresh user).
    schema = yaml.safe_load(SCHEMA.read_text())
    settings = canonical_config(config, schema)
    check(settings[section], source="config/config.yaml")  # the embedded config agrees with itself
    settings[section].update(value)
    with pytest.raises(ConfigError, match=expected) as error:
        check(settings[section], source="config/config.yaml")
    assert str(error.value).startswith("config/config.yaml: ") and "\n" not in str(error.value)


def test_the_start_up_messages_name_the_keys_set_with_dash_dash_config():
    # `--config seed=abc` was reported as an error of config/config.yaml, which holds no such value.
    from vlencode.config import config_source

    assert config_source(["config/config.yaml"], {"seed": "abc"}) == "config/config.yaml and --config seed"
    assert config_source(["config/config.yaml", "mine.yaml"], {}) == "config/config.yaml, mine.yaml"
    assert config_source([], {"seed": 1, "statistics": {}}) == "--config seed, statistics"
    assert config_source([], {}) == "config"
