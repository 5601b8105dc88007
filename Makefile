# Logcenter: `make run` serves the console with demo data; `make test` runs every test
# (on PostgreSQL, then the portable engine's on SQLite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Tests run against the real stack: the local PostgreSQL and Redis unless told otherwise,
# with two roles: the app (owns nothing, appends logs) and the owner (migrates). Set
# MIGRATION_DATABASE_URL= (empty) to run with DATABASE_URL's role alone.
test: export DATABASE_URL ?= postgres://logcenter_app@127.0.0.1:5432/logcenter
test: export MIGRATION_DATABASE_URL ?= postgres://logcenter_owner@127.0.0.1:5432/logcenter
test: export REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install messages run run-postgres test worker beat bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# The translation catalogs (locale/<language>/LC_MESSAGES/django.po) compiled into the .mo
# files Django reads; git ignores those. Needs gettext's msgfmt (Debian: apt-get install gettext).
messages: install
	DEBUG=1 $(PY) manage.py compilemessages --ignore=$(VENV) --verbosity 0

run: install messages
	./scripts/run-console

# The same on the local PostgreSQL, with its two roles (and REDIS_URL if you set it).
run-postgres: export DATABASE_URL ?= postgres://logcenter_app@127.0.0.1:5432/logcenter_demo
run-postgres: export MIGRATION_DATABASE_URL ?= postgres://logcenter_owner@127.0.0.1:5432/logcenter_demo
run-postgres: install messages
	./scripts/run-console

# Two runs, both counted: the whole suite on PostgreSQL (the environment above), then the
# portable engine's tests on SQLite (the `make run` default) in a throwaway file, without
# Redis (tasks in-process) and without the browser tests; tests marked `postgres` (or using
# the on_postgres fixture, or a real Celery worker) skip there. Each exit status is kept:
# the target fails if either run fails, and pytest's 5 ("no tests collected") is a failure.
test: install messages
	if [ -n "$$MIGRATION_DATABASE_URL" ]; then $(PY) scripts/db_roles.py; fi
	@sqlite_dir=$$(mktemp -d); pg=0; sqlite=0; \
	echo "== PostgreSQL: the whole suite"; \
	$(PY) -m pytest -n 2 --dist loadgroup || pg=$$?; \
	echo "== SQLite: the portable engine's tests"; \
	DATABASE_URL=sqlite:///$$sqlite_dir/test.sqlite3 MIGRATION_DATABASE_URL= REDIS_URL= \
	  $(PY) -m pytest -n 2 --dist loadgroup -m "not browser" || sqlite=$$?; \
	rm -rf "$$sqlite_dir"; \
	for run in "PostgreSQL $$pg" "SQLite $$sqlite"; do set -- $$run; \
	  if [ "$$2" -eq 5 ]; then echo "$$1 run: pytest collected no tests" >&2; \
	  elif [ "$$2" -ne 0 ]; then echo "$$1 run failed (pytest exit $$2)" >&2; fi; done; \
	[ "$$pg" -eq 0 ] && [ "$$sqlite" -eq 0 ]

worker: install
	$(VENV)/bin/celery -A config worker --loglevel=info

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles
