"""The step specs (vlencode.steps): one per rule with a rerun key, every field a schema key that the step reads,
knobs in no key, every schema key documented, every step with a golden output."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import yaml
from schema_defaults import SCHEMA
from smallrun import small_config, snakemake

from vlencode import steps
from vlencode.config import canonical_config, knob_keys
from vlencode.versions import STAGE_VERSIONS

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vlencode"
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _canonical(config=CONFIG):
    return canonical_config(config, SCHEMA)


def _rule_settings() -> dict[str, str]:
    """Rule -> the rule named by its ``params: settings=settings("...")`` (``cut_settings`` names ``cuts``,
    ``fit_settings`` ``fit``)."""
    found = {}
    for smk in (ROOT / "rules").glob("*.smk"):
        for block in re.split(r"^\s*rule ", smk.read_text(), flags=re.M)[1:]:
            rule = block.split(":", 1)[0]
            call = re.search(r"settings=(settings\(\"(\w+)\"|(cut|fit)_settings)", block)
            if call:
                found[rule] = call.group(2) or {"cut": "cuts", "fit": "fit"}[call.group(3)]
    return found


def test_every_rule_with_a_rerun_key_has_its_own_spec_and_the_versions_come_from_the_specs():
    rules = _rule_settings()
    assert rules, "no rule with params settings found"
    assert {rule: named for rule, named in rules.items() if rule != named} == {}
    assert set(rules) == set(steps.STEPS)
    assert STAGE_VERSIONS == {spec.STAGE: spec.VERSION for spec in steps.STEPS.values()}


@pytest.mark.parametrize("rule", sorted(steps.STEPS))
def test_a_spec_declares_schema_keys_with_no_default_and_parses_its_own_key_back(rule):
    spec = steps.STEPS[rule]
    assert all(f.default is f.default_factory for f in fields(spec))  # both MISSING: the schema owns defaults
    canonical = _canonical()
    text = spec.rerun_key(canonical, SCHEMA, script="digest")
    settings = spec.from_params(text)
    for name, dotted in spec.keys().items():
        node = canonical
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        assert getattr(settings, name) == node, (rule, name)
    assert settings.params == json.loads(text)
    assert settings.params["version"] == spec.VERSION and settings.params["script"] == "digest"


def test_a_spec_may_not_declare_a_performance_knob():
    @dataclass(frozen=True)
    class Chunked(steps.Step):
        STAGE = "preprocess"
        VERSION = 1
        chunk_s: float = steps.key("preprocess.chunk_s")

    with pytest.raises(ValueError, match=r"step preprocess: config key 'preprocess.chunk_s' is a knob"):
        Chunked.rerun_key(_canonical(), SCHEMA)


def test_configs_differing_only_in_knobs_give_equal_rerun_keys():
    knobs = knob_keys(SCHEMA)
    assert knobs == {
        "device",
        "encoding.memory_gb",
        "models.batch_size",
        "preprocess.chunk_s",
        "statistics.alpha_edge_fraction",
    }
    changed = _canonical()
    changed["device"] = "cpu"
    changed["encoding"]["memory_gb"] = 3.5
    changed["models"]["batch_size"] = 7
    changed["preprocess"]["chunk_s"] = 7.5
    changed["statistics"]["alpha_edge_fraction"] = 0.9
    for rule, spec in steps.STEPS.items():
        assert spec.rerun_key(_canonical(), SCHEMA) == spec.rerun_key(changed, SCHEMA), rule
    changed["preprocess"]["rate_hz"] = 100.0  # a setting that changes results does change the key
    assert steps.Preprocess.rerun_key(_canonical(), SCHEMA) != steps.Preprocess.rerun_key(changed, SCHEMA)


def _script(rule: str) -> Path:
    return ROOT / "workflow" / "scripts" / f"{'replica' if rule.startswith('replica_') else rule}.py"


def _read_text(script: Path) -> str:
    """The script and the vlencode modules and packages it imports (vlencode.steps itself left out)."""
    texts = [script.read_text()]
    for node in ast.walk(ast.parse(texts[0])):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("vlencode"):
            continue
        for name in [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]:
            if name == "vlencode":  # `from vlencode import x` reads x, not the whole package
                continue
            path = SRC.joinpath(*name.split(".")[1:])
            if path.is_dir():
                texts += [p.read_text() for p in path.rglob("*.py")]
            elif path.with_suffix(".py").is_file() and path.name not in ("steps", "versions"):
                texts.append(path.with_suffix(".py").read_text())
    return "\n".join(texts)


@pytest.mark.parametrize("rule", sorted(steps.STEPS))
def test_every_declared_field_is_read_by_the_script_or_the_library_it_calls(rule):
    spec = steps.STEPS[rule]
    text = _read_text(_script(rule))
    unread = [
        name
        for name, dotted in spec.keys().items()
        if not re.search(rf"\b({name}|{dotted.rsplit('.', 1)[-1]})\b", text)
    ]
    assert unread == [], f"{rule}: fields {unread} are read neither by {_script(rule).name} nor the library it calls"


def _leaves(schema: dict, prefix: str = "") -> list[str]:
    out = []
    for name, sub in schema.get("properties", {}).items():
        dotted = f"{prefix}{name}"
        out += _leaves(sub, f"{dotted}.") if "properties" in sub else [dotted]
    return out


def test_every_schema_key_is_documented_in_the_config_readme():
    documented: dict[str, set[str]] = {}
    section = "top level"
    for line in (ROOT / "config" / "README.md").read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
        elif line.startswith("| `"):
            documented.setdefault(section, set()).update(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    missing = []
    for dotted in _leaves(SCHEMA):
        head, _, rest = dotted.partition(".")
        where, name = (head, rest) if rest else ("top level", head)
        if name not in documented.get(where, set()):
            missing.append(dotted)
    assert missing == []


def test_every_step_has_a_golden_output():
    golden = json.loads((ROOT / "tests" / "golden" / "stages.json").read_text())
    assert {spec.STAGE for spec in steps.STEPS.values()} <= set(golden)


def test_changing_a_performance_knob_reruns_nothing(tmp_path):
    # One trial preprocessed for real (the replica's parts and preprocess: Snakemake records their params), then
    # dry runs: the block length (x-performance) plans nothing, the output rate plans preprocess again.
    config = small_config(tmp_path)
    config["dataset"]["recordings"] = config["dataset"]["recordings"][:1]
    recording = config["dataset"]["recordings"][0]
    target = f"results/neural/sub-{recording['subject']}_trial-{recording['trial']}.zarr"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    built = snakemake(tmp_path, target)
    assert built.returncode == 0, built.stderr[-3000:]

    def planned(**preprocess) -> str:
        changed = {**config, "preprocess": {**config["preprocess"], **preprocess}}
        (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
        result = snakemake(tmp_path, "-n", "--quiet", "rules", "--", target, configfile=tmp_path / "changed.yaml")
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    assert "Nothing to be done" in planned(chunk_s=config["preprocess"]["chunk_s"] / 8)
    assert re.search(r"^preprocess\s+1$", planned(rate_hz=100), flags=re.M)
