"""The shipped configs validate; a bad key, type or path is a one-line error naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from vlencode.config import ConfigError, validate_config

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
        (lambda c: c["preprocess"].update(reference="average"), r"preprocess\.reference: 'average' is not one of"),
        (lambda c: c.pop("dataset"), r"'dataset' is required"),
        (lambda c: c["models"].update(registry="config/none.yaml"), r"models\.registry: config/none\.yaml not found"),
        (
            lambda c: (c["replica"].update(enabled=False), c["dataset"].update(root="/no/such/dataset")),
            r"dataset\.root: /no/such/dataset does not exist",
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


def test_paper_config_matches_the_schema_and_the_registry():
    from vlencode.config import schema_errors
    from vlencode.models.registry import model_instances

    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    assert schema_errors(paper, yaml.safe_load(SCHEMA.read_text())) == []
    paper["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    instances = model_instances(paper)
    assert {"vision", "language", "multimodal"} == {instance.family for instance in instances.values()}
    assert {"trained", "random"} == {instance.init for instance in instances.values()}
