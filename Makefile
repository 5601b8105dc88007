# Logcenter: `make run` serves the console with demo data; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Tests run against the real stack: the local PostgreSQL and Redis unless told otherwise,
# with two roles: the app (owns nothing, appends logs) and the owner (migrates). Set
# MIGRATION_DATABASE_URL= (empty) to run with DATABASE_URL's role alone.
test: export DATABASE_URL ?= postgres://logcenter_app@127.0.0.1:5432/logcenter
test: export MIGRATION_DATABASE_URL ?= postgres://logcenter_owner@127.0.0.1:5432/logcenter
test: export REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run run-postgres test worker beat bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

run: install
	./scripts/run-console

# The same on the local PostgreSQL, with its two roles (and REDIS_URL if you set it).
run-postgres: export DATABASE_URL ?= postgres://logcenter_app@127.0.0.1:5432/logcenter_demo
run-postgres: export MIGRATION_DATABASE_URL ?= postgres://logcenter_owner@127.0.0.1:5432/logcenter_demo
run-postgres: install
	./scripts/run-console

test: install
	if [ -n "$$MIGRATION_DATABASE_URL" ]; then $(PY) scripts/db_roles.py; fi
	$(PY) -m pytest -n 2 --dist loadgroup

worker: install
	$(VENV)/bin/celery -A config worker --loglevel=info

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles
