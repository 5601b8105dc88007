"""Request IDs and client IPs attached to the app's own events."""

import pytest
from django.test import RequestFactory

from logcenter.models import AuthEvent
from logcenter.core.request_context import client_ip

pytestmark = pytest.mark.django_db


def test_incoming_request_id_is_honoured_and_returned(client):
    response = client.post("/accounts/login/", {"username": "x", "password": "y"},
                           HTTP_X_REQUEST_ID="gw-7f3a9c21-0001")
    assert response["X-Request-ID"] == "gw-7f3a9c21-0001"
    assert AuthEvent.objects.get().request_id == "gw-7f3a9c21-0001"


def test_malformed_request_id_is_replaced(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\r\nInjected: 1")
    assert response["X-Request-ID"].startswith("req_")
    assert "Injected" not in response["X-Request-ID"]


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # untrusted peer: header ignored
    ("127.0.0.1", "198.51.100.1", "198.51.100.1"),  # trusted proxy: header believed
    ("127.0.0.1", "198.51.100.1, 10.0.0.9", "10.0.0.9"),  # right-most untrusted hop
    ("127.0.0.1", "spoofed, 198.51.100.2", "198.51.100.2"),
    ("127.0.0.1", "", "127.0.0.1"),
])
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(peer, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
