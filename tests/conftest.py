import pytest
from django.db import connection

from tests.factories import FACTORIES, MemberFactory, StaffFactory


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` run only on PostgreSQL: `make test` runs the suite a second
    time on SQLite (the portable engine), where they are skipped, not failed."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The test database is created, migrated and dropped by the owner role (when
    MIGRATION_DATABASE_URL names one); the tests themselves run as the app role."""
    from logcenter.engines.postgres import db_roles

    db_roles.use_owner()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from logcenter.engines.postgres import db_roles

    db_roles.use_app()
    yield
    db_roles.use_owner()


@pytest.fixture
def as_owner():
    """Run a test's own schema changes (a migration back and forth) as the owner role."""
    from logcenter.engines.postgres import db_roles

    with db_roles.as_owner():
        yield


@pytest.fixture
def staff(db):
    return StaffFactory(username="console-staff")


@pytest.fixture
def member(db):
    return MemberFactory(username="plain-member")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def api_client(staff):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff)
    return api


@pytest.fixture
def factories():
    return FACTORIES


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture(autouse=True)
def eager_tasks(request, monkeypatch):
    """Tasks run in-process unless the test uses a real worker (celery_worker)."""
    from config.celery import app

    if "celery_worker" not in request.fixturenames:
        # Settings come from Django's CELERY_* names, which win over the short ones.
        monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", True)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # Tests create many users; the production hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker process on Redis, using this session's test database.

    It consumes a queue of its own, so parallel test sessions never take each other's
    tasks. Yields the queue name; tasks are sent with apply_async(queue=...).
    """
    import os
    import subprocess
    import sys
    import time
    import uuid

    from django.conf import settings

    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (a real worker)")
    db = connection.settings_dict
    database_url = (f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                    f"{db['PORT'] or 5432}/{db['NAME']}")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "-Q", queue, "--loglevel=warning", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", f"{queue}@%h"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    from config.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            pytest.fail(f"Celery worker exited:\n{worker.stdout.read()}")
        replies = app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5)
        if replies:
            break
    else:
        worker.kill()
        pytest.fail("Celery worker did not start within 30 s")
    app.conf.CELERY_TASK_DEFAULT_QUEUE = queue
    yield queue
    app.conf.CELERY_TASK_DEFAULT_QUEUE = "celery"
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()


def wait_for(predicate, timeout=20, interval=0.2):
    """Poll until predicate() is truthy (for work done by another process)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
