# Airspace: `make run` (portal + worker on the embedded default) and `make test`.
SHELL := /bin/bash
# Python 3.12: the first interpreter found that really is 3.12 (pyenv shims may exist but not run).
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
DEMO_PASSWORD ?= airspace-demo
HOST ?= 127.0.0.1
PORT ?= 8000
DICOM_PORT ?= 11112
export DJANGO_SETTINGS_MODULE ?= portal.settings.dev

.PHONY: install run test test-fast lint bench bench-load bench-pipeline migrate clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it or pass PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0

# Web server, Celery worker (with its embedded beat for the sweeper) and the DICOM receiver together; Ctrl-C stops both once,
# cleanly (portal/dev_supervisor.py: no `kill 0`, which re-signalled make and the shell's own trap).
run: migrate
	$(BIN)/python manage.py seed_demo --password "$(DEMO_PASSWORD)"
	@echo "Portal: http://$(HOST):$(PORT)/  users clinician / radiologist / admin, password $(DEMO_PASSWORD)"
	@exec $(BIN)/python -m portal.dev_supervisor \
		"$(BIN)/celery -A portal worker -B -Q inference -c 1 --loglevel=INFO -s var/celerybeat-schedule" \
		"$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload" \
		"$(BIN)/python manage.py dicom_listen --bind $(HOST) --port $(DICOM_PORT)"

# Tests always run on portal.settings.test (the exported dev default above would otherwise win over pyproject).
test: install
	DJANGO_SETTINGS_MODULE=portal.settings.test $(BIN)/python -m pytest

test-fast: install
	DJANGO_SETTINGS_MODULE=portal.settings.test $(BIN)/python -m pytest -m "not slow and not browser"

# Style, then the architecture contracts in pyproject.toml [tool.importlinter] (no cycles, mlcore free of
# Django, apps meeting only through models, selectors and services).
lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

bench: install
	$(BIN)/python bench/inference.py

# The running stack (gunicorn, 2 workers, beat, PostgreSQL, Redis DB 7) under load, and its pipeline rate.
bench-load: install
	$(BIN)/python bench/load.py

bench-pipeline: install
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf var .pytest_cache
