# Lenny's two set-up commands: `make run` (install and run) and `make test` (install and test).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://root@127.0.0.1:5432/lenny
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test test-embedded demo lint format

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py run

# The whole suite on PostgreSQL and Redis, then the quick subset on the embedded default.
test: install
	scripts/services.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-embedded

test-embedded: install
	env -u DATABASE_URL -u REDIS_URL LENNY_DATA_DIR=$(CURDIR)/var/test-embedded \
		$(PY) -m pytest -m embedded -q -p no:cacheprovider

demo: install
	LENNY_DATA_DIR=$(CURDIR)/var/demo $(PY) manage.py collectstatic --noinput -v0
	LENNY_DATA_DIR=$(CURDIR)/var/demo $(PY) manage.py demo

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
