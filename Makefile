# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The demo needs only the `cli` extra (rich, moto's server), not the dev toolchain: its own stamp.
DEMO_STAMP := $(VENV)/.installed-cli
NODE_STAMP := node_modules/.installed
# `make mutate` adds mutmut (the `mutate` extra) on top of the dev toolchain: its own stamp.
MUTATE_STAMP := $(VENV)/.installed-mutate
# One worker at low priority by default (a shared 2-core machine); MUTANTS selects by name, e.g.
# MUTANTS='recycler.policy.*', or a one-in-ten sample of every function's mutants: MUTANTS='*__mutmut_*5'
# (CONTRIBUTING.md, make mutate). Results stay in mutants/: a rerun without MUTANTS judges only what is not
# judged yet, but mutmut judges every mutant it is named again, so a stopped selection resumes by naming
# what is left: MUTANTS="$$(.venv/bin/python -m tests.mutation_score --unjudged '*__mutmut_*5')".
MUTATE_CHILDREN ?= 1
MUTANTS ?=
# Node 22 from package.json's `node` devDependency first on PATH: cdk and jsii (synth, the infra tests)
# run on it whatever node the machine has (the pinned CDK CLI supports Node 22 and 24, not 20).
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install demo test lint typecheck unit synth bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cli]'
	touch $@

$(MUTATE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[mutate]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m recycler demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

test: install lint typecheck unit

synth: install
	npx cdk synth --quiet

bench: $(STAMP)
	$(PY) -m bench

# Mutation testing of recycler/policy/ and the safety-critical workflow modules ([tool.mutmut] in
# pyproject.toml); not part of `make test`: about an hour on 2 cores. Score per module at the end.
mutate: $(MUTATE_STAMP)
	nice -n 15 $(VENV)/bin/mutmut run --max-children $(MUTATE_CHILDREN) $(foreach m,$(MUTANTS),'$(m)')
	$(PY) -m tests.mutation_score $(foreach m,$(MUTANTS),'$(m)')

clean:
	rm -rf $(VENV) node_modules cdk.out mutants .pytest_cache .mypy_cache .ruff_cache
