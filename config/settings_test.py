"""The test suite's settings: config.settings, loaded with a test-only SECRET_KEY.

pytest-django imports the settings before any conftest runs, and config.settings refuses
to load with DEBUG off on the default SECRET_KEY (or without REDIS_URL). The defaults set
here reach the processes the tests start too (Celery workers, gunicorn, manage.py), which
inherit this environment. A run without Redis loads the settings as the demo does
(DEBUG on, tasks in-process); pytest-django still runs every test with DEBUG off.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)
if not os.environ.get("REDIS_URL"):
    os.environ.setdefault("DEBUG", "1")

from config.settings import *  # noqa: E402,F403

# A fifth log kind, for the tests only (tests/fifth_kind): what adding a kind takes.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.fifth_kind"]  # noqa: F405
