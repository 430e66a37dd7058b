"""The device checks (benchmarks/device_checks.py) and the device's float32 arithmetic, exercised on the CPU.

The checks run for real only where a GPU is lent; here the same code compares the CPU with itself, and what can go
wrong without a GPU is tested: the comparison's verdicts, the paper zoo built offline at its released architectures,
and CUDA's float32 pinned to IEEE arithmetic.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vlencode.device import resolve_device
from vlencode.models.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checks():
    if str(ROOT / "benchmarks") not in sys.path:  # it imports paper_scale beside it, as it does run as a script
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("device_checks", ROOT / "benchmarks" / "device_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_tells_round_off_from_a_difference(checks):
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((50, 40)).astype(np.float32)
    reference[0, 0] = 1e-9  # an element near zero is judged at the array's scale, not its own
    assert checks.compare(reference, reference * (1 + 3e-7), 1e-4)["equal"]
    assert checks.compare(reference, reference + 1e-6, 1e-4)["equal"]
    off = reference.copy()
    reference[3, 4] = off[3, 4] = 2.0
    off[3, 4] *= 1 + 1e-3
    verdict = checks.compare(reference, off, 1e-4)
    assert not verdict["equal"] and verdict["max_abs"] == pytest.approx(abs(reference[3, 4]) * 1e-3, rel=1e-3)
    with_nan = reference.copy()
    with_nan[1, 1] = np.nan
    assert checks.compare(with_nan, with_nan, 1e-4)["equal"]
    assert not checks.compare(with_nan, reference, 1e-4)["equal"]
    assert not checks.compare(reference, reference[:, :-1], 1e-4)["equal"]
    # Small elements are judged at 1% of the array's root mean square, not at its whole scale.
    assert not checks.compare(np.array([0.5, 1.0, 2.0, 100.0]), np.array([0.5, 1.05, 2.0, 100.0]), 1e-4)["equal"]
    assert not checks.compare(np.zeros(5), np.full(5, 9e-5), 1e-4)["equal"]
    assert checks.compare(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), 1e-4)["equal"]
    assert checks.compare(np.full(3, np.nan), np.full(3, np.nan), 1e-4)["equal"] is None  # nothing compared


def test_every_network_of_the_paper_zoo_has_an_offline_architecture(checks):
    """A lent GPU node has no network: each paper network the checks time must be buildable from a config."""
    registry = load_registry(ROOT / "config" / "models.yaml")
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    networks = {name for name in paper["models"]["use"] if registry[name]["backend"] != "concat"}
    assert networks <= set(checks.ARCHITECTURES)
    built = checks.architecture_entry(registry["albef"], *checks.ARCHITECTURES["albef"], "some/tokenizer")
    assert built["backend"] == "random" and built["tokenizer"] == "some/tokenizer"
    assert "release" not in built and "network" not in built
    assert built["study"] == registry["albef"]["study"] and built["layers"] == registry["albef"]["layers"]


def test_the_checks_run_end_to_end_and_report_each_part(tmp_path):
    """On the CPU against itself (the comparison is exact there), one architecture-built network of the paper zoo."""
    command = [sys.executable, str(ROOT / "benchmarks" / "device_checks.py"), "--device", "cpu", "--out", str(tmp_path)]
    command += ["--parts", "engine,features,zoo", "--models", "simclr", "--shapes", "p:240x30x20,d:100x260x20"]
    command += ["--zoo-stimuli", "6", "--feature-stimuli", "2", "--resamples", "10"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "device_checks.json").read_text())
    assert report["engine"]["p"]["solver"] == ["primal"] and report["engine"]["d"]["solver"] == ["dual"]
    for shape in ("p", "d"):
        assert all(
            report["engine"][shape][key]["equal"]
            for key in ("val_r", "test_r", "prediction", "bootstrap_val_r", "shared_kernel_val_r")
        )
    simclr = report["features"]["simclr"]
    assert simclr["source"] == "architecture" and simclr["equal"] and simclr["layers"] > 13
    assert simclr["projection"]["equal"] and simclr["projection"]["layer"].startswith("image:vision.hidden.")
    zoo = report["zoo"]["simclr"]
    # The study extraction of SimCLR: the embedding output, 12 blocks and the normed class token (docs/models.md).
    assert zoo["layers"] == 14 and zoo["frames_per_s"] > 0 and zoo["stimuli_per_s"] > 0


@pytest.mark.parametrize("device", ["cuda", "auto", torch.device("cuda:0")])
def test_cuda_float32_is_ieee_not_tf32(monkeypatch, device):
    saved = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        assert resolve_device(device).type == "cuda"
        assert not torch.backends.cudnn.allow_tf32 and torch.get_float32_matmul_precision() == "highest"
        with torch.backends.cudnn.flags(enabled=True):  # libraries that read the older flags still can
            pass
        torch.backends.cudnn.allow_tf32 = True
        resolve_device("cpu")  # the CPU leaves the process's CUDA settings alone
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = saved[0]
        torch.set_float32_matmul_precision(saved[1])


def test_cuda_float32_is_ieee_where_the_process_set_torchs_newer_settings():
    """Set through torch's fp32_precision (which the older flags cannot read back), IEEE is set through them too.

    In a subprocess: the newer settings cannot be undone to the older ones' state in this one."""
    code = (
        "import torch\n"
        "from unittest import mock\n"
        "from vlencode.device import resolve_device\n"
        "torch.backends.cuda.matmul.fp32_precision = 'tf32'\n"
        "torch.backends.cudnn.conv.fp32_precision = 'tf32'\n"
        "with mock.patch.object(torch.cuda, 'is_available', lambda: True):\n"
        "    resolve_device('auto')\n"
        "print(torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["ieee", "ieee"]
