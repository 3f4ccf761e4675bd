# Two commands do all the set-up on a fresh machine with Python 3.11.4 or later and pip:
#   make demo   build a demo registry, issue sample permits, verify them
#   make test   run the whole test suite
# (make bench runs the benchmarks; see bench/RESULTS.md; make fleet / make fleet-stop start and stop
# a local verifier fleet: nginx, a static origin and three nodes, in fleet-home/)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What is installed, one stamp each: the package with what it needs at run time (the demo, the
# benchmarks), and the package with its test tools as well (tests, lint, the message catalogue).
RUNTIME := $(VENV)/.installed-runtime
TOOLS := $(VENV)/.installed-test

.PHONY: demo test bench fleet fleet-stop lint messages clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(TOOLS): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(RUNTIME)
	$(BIN)/permit demo --dir demo-home --serve

test: $(TOOLS)
	$(BIN)/pytest -q

# The benchmarks (about 10 minutes on 2 cores): writes bench/RESULTS.md. Needs wrk from Debian.
bench: $(RUNTIME)
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
		|| (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run

# A local fleet from deploy/ (docs/operator.md, "Running a fleet"). Needs nginx from Debian.
fleet: $(RUNTIME)
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) \
		|| (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	$(BIN)/python deploy/fleet.py up --dir fleet-home

fleet-stop:
	$(BIN)/python deploy/fleet.py down --dir fleet-home

# Collect new messages into permits/locale/vi/LC_MESSAGES/permit.po (translate them there), compile permit.mo.
messages: $(TOOLS)
	$(BIN)/python tests/messages.py

lint: $(TOOLS)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-home fleet-home .pytest_cache .mypy_cache
