"""The public usage-by-key lookup under hostile input: forged client addresses, keys of
deactivated owners, Redis down, unknown parameters, and `?key=` secrets in the logs."""

import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.api.usage import ByKeyThrottle
from tests.factories import MemberFactory, UsageRecordFactory

URL = "/api/v1/usage-records/by-key/"


def random_ip(first=198):
    return f"{first}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def key_and_secret(db):
    owner = MemberFactory(username="by-key-owner")
    key, secret = ApiKey.generate(owner=owner, name="gateway", scopes=["read"])
    UsageRecordFactory(api_key_id=key.prefix, api_key_name=key.name)
    return key, secret


@pytest.fixture
def three_per_minute(monkeypatch):
    monkeypatch.setattr(ByKeyThrottle, "rate", "3/min", raising=False)


def test_a_forged_x_forwarded_for_from_an_untrusted_peer_still_hits_the_limit(
        key_and_secret, three_per_minute):
    _, secret = key_and_secret
    api = APIClient(REMOTE_ADDR=random_ip())  # not in TRUSTED_PROXIES
    statuses = [api.get(URL, {"key": secret}, HTTP_X_FORWARDED_FOR=random_ip(203)).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        key_and_secret, three_per_minute, settings):
    _, secret = key_and_secret
    proxy = random_ip(100)
    settings.LOGCENTER = {**settings.LOGCENTER, "TRUSTED_PROXIES": [proxy]}
    api = APIClient(REMOTE_ADDR=proxy)
    clients = [random_ip(203) for _ in range(5)]
    assert {api.get(URL, {"key": secret}, HTTP_X_FORWARDED_FOR=ip).status_code
            for ip in clients} == {200}
    one = clients[0]
    assert [api.get(URL, {"key": secret}, HTTP_X_FORWARDED_FOR=f"{random_ip(203)}, {one}")
            .status_code for _ in range(3)] == [200, 200, 429]  # the right-most hop counts


def test_the_key_of_a_deactivated_owner_is_refused(key_and_secret):
    key, secret = key_and_secret
    api = APIClient(REMOTE_ADDR=random_ip())
    assert api.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    key.owner.is_active = False
    key.owner.save()
    for response in (api.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}"),
                     api.get(URL, {"key": secret})):
        assert response.status_code == 401
        assert response.json() == {"detail": "Unknown or revoked key."}


def test_redis_down_the_lookup_keeps_answering_and_limiting(
        key_and_secret, three_per_minute, settings, caplog, monkeypatch):
    _, secret = key_and_secret
    monkeypatch.setattr(ByKeyThrottle, "_warned_at", 0.0)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # a closed port
    api = APIClient(REMOTE_ADDR=random_ip())
    started = time.monotonic()
    responses = [api.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0].json()["results"]
    assert caplog.text.count("cache unavailable") == 1  # said once a minute, not per request
    assert time.monotonic() - started < 10


def test_unknown_and_repeated_parameters_are_a_400(key_and_secret):
    _, secret = key_and_secret
    api = APIClient(REMOTE_ADDR=random_ip())
    response = api.get(URL, {"key": secret, "eventType": "x", "page": 2})
    assert response.status_code == 400
    assert response.json() == {"unknown_parameters": ["eventType", "page"]}
    response = api.get(f"{URL}?key={secret}&limit=1&limit=2")
    assert response.status_code == 400 and list(response.json()) == ["limit"]
    ok = api.get(URL, {"key": secret, "limit": 1})
    assert ok.status_code == 200 and ok["Cache-Control"] == "no-store"


def own_address(url):
    """A request through this host's (trusted) proxy address for a client of its own: the
    throttle's counts for 127.0.0.1 itself are shared by every test worker."""
    return urllib.request.Request(url, headers={"X-Forwarded-For": random_ip(203)})


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_runserver_request_lines_and_request_logging_hold_no_key(db, caplog):
    """Django's development server (the `make run` server) logs each request line through
    `django.server`; a 401 also goes to `django.request`. Neither keeps the `?key=`."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    secret = "lc_" + "S3cretValueThatMustNotBeLogged42x"
    server_log = _Capture()
    logging.getLogger("django.server").addHandler(server_log)
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO):
            for query in (f"key={secret}", f"limit=1&KEY={secret}", f"key={secret[3:]}"):
                url = f"http://127.0.0.1:{server.server_port}{URL}?{query}"
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(own_address(url), timeout=10)
                assert refused.value.code in (400, 401)  # `KEY` is no parameter of it
    finally:
        server.shutdown()
        server.server_close()
        logging.getLogger("django.server").removeHandler(server_log)
    assert len(server_log.lines) == 3, server_log.lines
    assert all("key=[redacted]" in line.lower() for line in server_log.lines)
    captured = "\n".join(server_log.lines) + caplog.text
    assert "Unauthorized" in caplog.text
    assert secret not in captured and secret[3:] not in captured


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_access_log_holds_no_key(django_db_setup, tmp_path):
    """The production server (the Dockerfile's gunicorn with an access log)."""
    db = connection.settings_dict
    secret = "lc_" + "AnotherSecretThatMustNotBeLogged7"
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ,
           "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                           f"{db['PORT'] or 5432}/{db['NAME']}"}
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs the test database on PostgreSQL")
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(access_log)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(own_address(f"http://127.0.0.1:{port}{URL}?key={secret}"),
                                       timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 401
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.3)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    lines = access_log.read_text()
    assert f"GET {URL}?key=[redacted] HTTP/1.1\" 401" in lines
    assert secret not in lines and secret not in output
