# Everyday commands. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
export RASA_TELEMETRY_ENABLED ?= false
export TF_CPP_MIN_LOG_LEVEL ?= 2
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1

# Python 3.10 (Rasa 3.6 supports 3.8-3.10): on PATH, or installed through pyenv.
PYTHON310 ?= $(shell for c in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 \
	/usr/local/bin/python3.10 /usr/bin/python3.10; do \
	if "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo "$$c"; break; fi; done)

.PHONY: help setup model run test lint bench constraints browser clean

help:
	@echo "make run     set up, train if needed, start actions + Rasa + gateway (Ctrl-C stops all)"
	@echo "make test    set up, train if needed, run the whole test suite"
	@echo "make bench   benchmarks (gateway, full path vs stock Rasa, triage, claims)"
	@echo "make lint    ruff";

$(VENV)/.installed: pyproject.toml constraints.txt
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "Python 3.10 is required (Rasa 3.6 supports Python 3.8-3.10) and none was found."; \
	  echo "Install it with pyenv:  pyenv install 3.10   (then run make again)"; \
	  echo "or on Debian/Ubuntu:    apt-get install python3.10 python3.10-venv"; \
	  echo "or point to one:        make PYTHON310=/path/to/python3.10 ..."; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<27" "setuptools<71" wheel
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed
	@$(PY) -m bot migrate >/dev/null

model: setup
	@$(PY) -m bot train

run: model
	@$(PY) -m bot run

# Headless Chromium for the console's browser tests (Debian's package; no browser download).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null; \
	  else echo "chromium not found: browser tests will be skipped (install Debian's 'chromium' package)."; fi; fi

lint: setup
	$(VENV)/bin/ruff check .

test: model browser lint
	$(RASA) data validate
	$(RASA) test core --stories tests/test_conversations.yml --model models/intake.tar.gz \
	  --out var/results --fail-on-prediction-errors
	$(VENV)/bin/pytest -q

bench: model
	$(PY) -m bench

constraints:
	$(VENV)/bin/pip freeze | grep -v -iE '^(-e|crisis-intake)' > constraints.txt

clean:
	rm -rf models build var/results .pytest_cache .ruff_cache
