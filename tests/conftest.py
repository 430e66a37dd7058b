"""Suite-wide settings: offline model loading, GPU tests skipped without CUDA; the shared small workflow run."""

import os
import tempfile

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Large files' digests are cached (vlencode.store.cached_sha256): the suite's cache is its own, not the user's.
os.environ.setdefault("VLENCODE_CACHE_DIR", tempfile.mkdtemp(prefix="vlencode-test-cache-"))


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def replica(tmp_path_factory):
    """The small replica of the dataset tests, built once per session (tests/test_replica.py)."""
    from test_replica import small_replica

    return small_replica(tmp_path_factory)


@pytest.fixture(scope="session")
def small_workflow(tmp_path_factory):
    """The directory of the small replica's workflow, run to completion once per session (tests/smallrun.py).

    Tests share it: they edit copies of its ``config.yaml`` and put back any file they change (bytes and mtime).
    Every script's opened files are recorded under ``.audit/`` (tests/sitecustom/sitecustomize.py).
    """
    from smallrun import small_config, snakemake

    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(small_config(workdir)))
    (workdir / ".audit").mkdir()
    result = snakemake(workdir, env={"VLENCODE_AUDIT_DIR": str(workdir / ".audit")})
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
