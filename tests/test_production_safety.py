"""Production refuses the demo's shortcuts at start; runserver holds no idle connections."""

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from logcenter.api.usage import ByKeyThrottle
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GOOD_SECRET = "a-real-production-secret-" + "k" * 40
SETTINGS_DUMP = (
    "import sys; sys.argv = {argv!r}; import django; django.setup(); "
    "from django.conf import settings as s; import json; "
    "print(json.dumps([s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, "
    "s.DATABASES['default']['CONN_MAX_AGE']]))")


def environment(**values):
    """This process's environment, with the production settings module and `values`
    (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DB_CONN_MAX_AGE="")
    for name, value in values.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(command, **values):
    return subprocess.run(command, cwd=ROOT, env=environment(**values), capture_output=True,
                          text=True, timeout=120)


def loaded_settings(argv=("manage.py", "shell"), **values):
    out = run([sys.executable, "-c", SETTINGS_DUMP.format(argv=list(argv))], **values)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("secret", [None, "dev-only-insecure-key-change-me",
                                    "change-me-in-production", "django-insecure-abc"])
def test_with_debug_off_a_default_secret_key_stops_manage_py_and_gunicorn(secret):
    values = {"SECRET_KEY": secret, "REDIS_URL": "redis://127.0.0.1:6379/14"}
    checked = run([sys.executable, "manage.py", "check", "--deploy"], **values)
    assert checked.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is the development default" in checked.stderr
    if secret is None:  # gunicorn's worker fails to boot and the server exits
        served = run([str(BIN / "gunicorn"), "config.wsgi:application", "--bind",
                      "127.0.0.1:0", "--workers", "1"], **values)
        assert served.returncode != 0 and "ImproperlyConfigured" in served.stderr


def test_with_debug_off_no_redis_url_stops_the_worker_instead_of_running_tasks_in_process():
    values = {"SECRET_KEY": GOOD_SECRET, "REDIS_URL": None}
    for command in ([sys.executable, "manage.py", "check"],
                    [str(BIN / "celery"), "-A", "config", "worker", "--loglevel=warning"]):
        out = run(command, **values)
        assert out.returncode != 0, command
        assert "ImproperlyConfigured: REDIS_URL is not set" in out.stderr, command


def test_debug_runs_the_demo_and_production_runs_on_its_broker():
    # DEBUG on: the demo's default key, tasks in-process, no persistent connections.
    assert loaded_settings(DEBUG="1", SECRET_KEY=None, REDIS_URL=None) == [True, True, 0]
    # Production: tasks go to Redis; gunicorn's workers keep a connection a minute...
    production = {"SECRET_KEY": GOOD_SECRET, "REDIS_URL": "redis://127.0.0.1:6379/14"}
    assert loaded_settings(**production) == [False, False, 60]
    # ... and runserver never does, whatever DB_CONN_MAX_AGE says.
    assert loaded_settings(("manage.py", "runserver", "--noreload"), DB_CONN_MAX_AGE="60",
                           **production) == [False, False, 0]


def test_the_settings_refusal_lists_every_problem():
    from config.settings import insecure_production

    assert insecure_production(True, "dev-only-insecure-key-change-me", "") == []
    assert len(insecure_production(False, "", "")) == 2
    assert insecure_production(False, GOOD_SECRET, "redis://x") == []


def database_sessions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction keeps its snapshot
        # Client sessions only: an autovacuum worker on the test database counts otherwise.
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                       "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                       [connection.settings_dict["NAME"]])
        return cursor.fetchone()[0]


def serve_and_keep_connections_open(clients):
    """Django's runserver server (a thread per client connection, HTTP/1.1 keep-alive):
    `clients` browsers each make a request that reads the database and keep the socket
    open, as browsers do. Returns the open sockets and a function that stops it all."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sockets = []
    for _ in range(clients):
        browser = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        browser.request("GET", "/api/v1/usage-records/by-key/?key=lc_nobody",  # a key lookup
                        headers={"X-Forwarded-For": "203.0.113.77"})  # not 127.0.0.1's counts
        response = browser.getresponse()
        response.read()
        assert response.status == 401 and response.getheader("Connection") != "close"
        sockets.append(browser)

    def stop():
        for browser in sockets:
            browser.close()
        server.shutdown()
        server.server_close()

    return stop


def test_runserver_leaves_no_idle_database_session_per_browser_connection(
        db, on_postgres, monkeypatch):
    monkeypatch.setattr(ByKeyThrottle, "rate", "100000/min", raising=False)
    settings_dict = connection.settings_dict  # the dict each new thread connects with
    before = database_sessions()
    monkeypatch.setitem(settings_dict, "CONN_MAX_AGE", 0)  # what runserver gets
    stop = serve_and_keep_connections_open(30)
    try:
        # The last request's thread closes its session as its response ends, a moment
        # after the browser has read it: the count settles, it never holds 30 more.
        assert wait_for(lambda: database_sessions() == before, timeout=5, interval=0.05)
    finally:
        stop()
    # The same server with persistent connections: one idle session per open browser
    # socket, the pile-up `make run` showed (this is what the test would catch).
    monkeypatch.setitem(settings_dict, "CONN_MAX_AGE", 60)
    stop = serve_and_keep_connections_open(30)
    try:
        assert database_sessions() >= before + 30
    finally:
        stop()
