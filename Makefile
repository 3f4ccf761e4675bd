# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   build a demo registry, issue sample permits, verify them
#   make test   run the whole test suite
# (make bench runs the benchmarks; see bench/RESULTS.md)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/permit demo --dir demo-home --serve

test: $(STAMP)
	$(BIN)/pytest -q

# The benchmarks (about 10 minutes on 2 cores): writes bench/RESULTS.md. Needs wrk from Debian.
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
		|| (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run

# Collect new messages into permits/locale/vi/LC_MESSAGES/permit.po (translate them there), compile permit.mo.
messages: $(STAMP)
	$(BIN)/python tests/messages.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-home .pytest_cache .mypy_cache
