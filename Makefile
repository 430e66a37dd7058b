# Two commands: `make demo` and `make test`. Both set up .venv from the pinned lock when it is missing or stale.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CORES ?= 2
# Extra Snakemake arguments, e.g. SNAKEMAKE_ARGS="--configfile config/paper.yaml".
SNAKEMAKE_ARGS ?=

.PHONY: demo test lint format envs clean-results

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Rerunning `make demo` resumes a run that was killed: a lock it left is removed when no Snakemake runs here.
demo: $(STAMP)
	$(VENV)/bin/python -m vlencode.locks $(SNAKEMAKE_ARGS)
	$(VENV)/bin/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)
	$(VENV)/bin/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS) --report results/report.html
	@# The summary reads results/ of the repository root; a run elsewhere (SNAKEMAKE_ARGS="--directory ...") skips it.
	-@test -d results && $(VENV)/bin/python -m vlencode.reporting results/report.html

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/python envs/sync.py --check
	$(VENV)/bin/ruff check src workflow tests benchmarks envs tools
	$(VENV)/bin/ruff format --check src workflow tests benchmarks envs tools
	$(VENV)/bin/mypy src
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check .

# The conda env file carries the lock's pins itself (Snakemake hashes and copies only that file).
envs: requirements.lock
	$(PYTHON) envs/sync.py

format: $(STAMP)
	$(VENV)/bin/ruff format src workflow tests benchmarks envs tools
	$(VENV)/bin/snakefmt .

clean-results:
	rm -rf results logs benchmarks/out
