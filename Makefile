# attnbench — `make demo` runs the main job, `make test` the tests. Both set up .venv first (idempotent).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch. GPU users: install the CUDA build of torch 2.13.0 into .venv first (docs/scale.md).
TORCH  ?= torch==2.13.0

.PHONY: install demo test lint docs bench mutate clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,optuna]"
	@touch $(STAMP)

# The demo is a study (experiments/demo.yaml); a fresh sweep dir per call trains afresh with the current code.
demo: install
	$(BIN)/attnbench-study demo --out results/demo --sweep-dir logs/demo/multiruns/$$(date +%Y-%m-%d_%H-%M-%S)

# Lint, format and types first (seconds), then the suite. pytest exits 5 when it collected no test: a failure too.
test: install lint
	@$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The docs build offline in seconds (no web fonts, mkdocstrings reads src/ without importing it); --strict
# fails on a broken link or anchor, a missing page, a docstring it cannot resolve.
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .cache/site

# The documentation site at http://127.0.0.1:8000, rebuilt on every change (mkdocs.yml, docs/).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: install
	$(BIN)/python benchmarks/bilstm_padding.py
	$(BIN)/python benchmarks/parity.py
	$(BIN)/python benchmarks/kernel_bounds.py
	$(BIN)/python benchmarks/subnormal.py

# Mutation testing ([tool.mutmut] in pyproject.toml: the files and the fast tests); minutes to an hour, so
# not part of `make test`. MUTMUT_ARGS narrows it, e.g. MUTMUT_ARGS='"attnbench.models.beam*"'.
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run --max-children $${MUTMUT_JOBS:-2} $(MUTMUT_ARGS)
	$(BIN)/mutmut results

clean:
	rm -rf logs .pytest_cache site .cache/site mutants
