"""Platform API keys: created once-visible, stored hashed, revoked, scoped, audited."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.models import AuditEvent
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def post_key_form(client, data):
    """POST the create form as a browser would: with the nonce of the page it came from."""
    page = client.get("/accounts/api-keys/").content.decode()
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    return client.post("/accounts/api-keys/", {**data, "nonce": nonce}), nonce


def test_create_in_console_shows_secret_once_and_audits(client):
    user = MemberFactory(username="kim")
    client.force_login(user)
    response, nonce = post_key_form(client, {"name": "nightly", "scopes": ["read"],
                                             "group": "default"})
    html = response.content.decode()
    key = ApiKey.objects.get(owner=user, name="nightly")
    secret = html.split('<pre id="new-secret">')[1].split("</pre>")[0]
    assert secret.startswith(key.prefix) and key.secret_hash == ApiKey.hash_secret(secret)
    assert secret not in client.get("/accounts/api-keys/").content.decode()
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.resource_id == key.prefix and event.details["prefix"] == key.prefix
    assert event.resource_type == "api_key"
    # A reload re-posts the same form: no second key.
    again = client.post("/accounts/api-keys/", {"name": "nightly", "scopes": ["read"],
                                                "group": "default", "nonce": nonce})
    assert again.status_code == 302 and ApiKey.objects.filter(owner=user).count() == 1


def test_invalid_create_is_a_form_error(client):
    client.force_login(MemberFactory(username="lee"))
    response, _ = post_key_form(client, {"name": "", "scopes": ["root"]})
    assert response.status_code == 400
    assert "field-error" in response.content.decode()


def test_revoked_key_no_longer_authenticates(client):
    user = StaffFactory(username="mo")
    key, secret = ApiKey.generate(owner=user, name="tmp", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/audit-events/").status_code == 200
    client.force_login(user)
    client.post(f"/accounts/api-keys/{key.pk}/revoke/")
    assert api.get("/api/v1/audit-events/").status_code == 401
    revoked = AuditEvent.objects.get(action="api_key.revoked")
    assert revoked.changes["status"] == {"before": "active", "after": "revoked"}


def test_key_sees_what_the_owners_role_allows():
    member = MemberFactory(username="nia")
    _, secret = ApiKey.generate(owner=member, name="mine", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/usage-records/").status_code == 200
    assert api.get("/api/v1/audit-events/").status_code == 403


def test_create_api_key_command_prints_only_the_secret(capsys):
    MemberFactory(username="ops")
    call_command("create_api_key", "--user", "ops", "--name", "cron", "--scopes", "read,ingest",
                 "--kinds", "usage,auth,system")
    out = capsys.readouterr().out.strip()
    key = ApiKey.objects.get(name="cron")
    assert out.splitlines() == [out] and ApiKey.hash_secret(out) == key.secret_hash
    assert key.scopes == ["ingest", "read"]
