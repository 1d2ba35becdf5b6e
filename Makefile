# One-word entry points. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Quick parameters for headless runs (papermill -p NAME VALUE); `make workshop QUICK=0` runs full size.
QUICK ?= 1
# `make soak SOAK_SECONDS=90` for a short run; the test suite runs a 60 s one.
SOAK_SECONDS ?= 600
# What `make test-fast` leaves out: real binaries, notebooks, load (each marked in pytest).
FAST_MARKERS := not slow and not stack and not notebook and not soak

.PHONY: help setup system-deps preflight student workshop test test-fast soak lab up down status serve serve-prod webhook release bench lint clean

help:
	@echo "setup     create .venv with pinned dependencies (+ Prometheus/Alertmanager when missing)"
	@echo "workshop  run every notebook headless into build/ (fails on any error)"
	@echo "test      run the whole test suite (CI: .ci/run, which also requires the monitoring binaries)"
	@echo "test-fast unit and API tests only (< 1 minute): no binaries, notebooks or load"
	@echo "soak      production mode under steady load with worker recycling (SOAK_SECONDS, default 600)"
	@echo "preflight is this machine ready? green/red list with the fix for each red item"
	@echo "student   regenerate the student edition notebooks/student/ from the lessons"
	@echo "lab       JupyterLab with the workshop kernel, opening on the student edition"
	@echo "up/down/status  the monitoring stack (Docker if an engine answers, else local binaries)"
	@echo "serve     the model app, single process, on 127.0.0.1:8000 (serve-prod: gunicorn, 2 workers)"
	@echo "webhook   the alert-notification receiver on :5001 (where Alertmanager posts; reachable from containers)"
	@echo "release   gate a candidate model against the champion, then deploy it as a canary (CANDIDATE=dir or version)"
	@echo "bench     production mode vs a bare-WSGI ceiling and the seed's naive app, ratios (BENCH_ARGS=\"--rounds 1\")"
	@echo "lint      ruff + notebooks have no outputs"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (workshop)" >/dev/null
	touch $(STAMP)

setup: $(STAMP) system-deps

system-deps:
	@$(PY) -m workshop.system_deps

# Runs even without .venv (standard library only), so it can say what is missing.
preflight:
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m workshop.preflight

student: setup
	$(PY) -m workshop.student_edition

workshop: setup
	$(PY) -m workshop.run_notebooks --quick $(QUICK) $(NOTEBOOKS)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -q -m "$(FAST_MARKERS)"

soak: setup
	$(PY) -m workshop.soak --duration $(SOAK_SECONDS)

lab: setup
	$(PY) -m workshop.lab

up: setup
	$(PY) -m workshop.stack up

down:
	$(PY) -m workshop.stack down

status:
	$(PY) -m workshop.stack status

serve: setup
	$(PY) -m app

serve-prod: setup
	$(VENV)/bin/gunicorn -c app/gunicorn_conf.py "app.main:create_app()"

webhook: setup
	$(PY) -m workshop.webhook --host 0.0.0.0 --port 5001

# `make release CANDIDATE=models/lr-1a2b3c4d` (or a version under models/); MODE=shadow, WEIGHT=0.2 optional.
MODE ?= canary
WEIGHT ?= 0.1
release: setup
	@test -n "$(CANDIDATE)" || { echo "usage: make release CANDIDATE=<model folder or version>"; exit 2; }
	$(PY) -m workshop.release "$(CANDIDATE)" --mode $(MODE) --weight $(WEIGHT)

bench: setup
	@$(PY) -m workshop.system_deps --bench
	$(PY) -m workshop.bench $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check workshop app tests notebooks
	$(PY) -m workshop.nblint notebooks
	$(PY) -m workshop.student_edition --check

clean:
	rm -rf build .run .pytest_cache
