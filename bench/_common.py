"""Shared set-up for the benchmark scripts: a PostgreSQL database of their own."""

import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/logcenter_bench"


def setup_django(default_url=DEFAULT_URL, migrate=True):
    os.environ.setdefault("DATABASE_URL", default_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        _create_database(url)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    import config.wsgi  # noqa: F401  (as the web server starts: the modules' objects frozen)


def _create_database(url):
    import psycopg
    from urllib.parse import urlparse

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_for_port(port, seconds):
    """Until a server listens on 127.0.0.1:`port`, for at most `seconds`."""
    import socket
    import time

    for _ in range(int(seconds * 10)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)


def percentile(values, pct):
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(**figures):
    """One JSON line per case."""
    for key, value in figures.items():
        if isinstance(value, float):
            figures[key] = round(value, 2)
    print(json.dumps(figures), flush=True)


def signed_in_client():
    """(user, Django test client signed in as the bench's superuser). Not
    setup_test_environment(): its instrumented template rendering would be timed too."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = User.objects.get_or_create(username="bench-query", defaults={
        "email": "bench-query@example.com", "is_superuser": True})
    client = Client()
    client.force_login(user)
    return user, client


def timed(fn, runs):
    """[ms] of `runs` calls of fn()."""
    import time

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def timed_gets(client, url, query, runs):
    """[ms] of `runs` GETs of `url` with `query` (after one to warm up), each a 200."""
    import time

    client.get(url, query)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, query)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, query, response.status_code)
    return timings


def summary(timings_ms):
    return {"p50_ms": statistics.median(timings_ms), "p95_ms": percentile(timings_ms, 95)}
