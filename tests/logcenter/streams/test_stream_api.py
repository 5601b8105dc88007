"""GET /api/v1/streams/destinations/: the destinations the caller manages, with their
health, never a credential."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey
from logcenter.streams import delivery
from logcenter.streams.models import Destination
from tests.factories import AuditEventFactory, MembershipFactory, OrganizationFactory

SECRET = "s3cret-Webhook-signing-KEY-0042"
URL = reverse("stream-destinations")
pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(make_destination):
    organization = OrganizationFactory(plan="enterprise")
    platform = make_destination("webhook", "https://platform.example.com/in",
                                {"secret": SECRET}, name="Platform hook", kinds=["audit"])
    scoped = make_destination("webhook", "https://acme.example.com/in", {"secret": SECRET},
                              name="Acme hook", kinds=["audit"], organization=organization)
    return platform, scoped


def test_an_administrator_lists_every_destination_with_its_health(api_client, hooks):
    platform, scoped = hooks
    Destination.objects.filter(pk=platform.pk).update(
        cursor=delivery.head_cursor(delivery.destination_kinds(platform)))
    AuditEventFactory.create_batch(2)
    response = api_client.get(URL)
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    found = {item["id"]: item for item in response.json()["results"]}
    assert set(found) == {platform.public_id, scoped.public_id}
    item = found[platform.public_id]
    assert item["status"] == "running" and item["credentials_stored"] is True
    assert item["organization_id"] is None and item["kinds"] == ["audit"]
    assert item["health"]["events_behind"] == 2
    assert item["health"]["oldest_undelivered_at"].endswith("Z")
    assert found[scoped.public_id]["organization_id"] == scoped.organization.public_id
    assert "credentials" not in item


def test_an_organization_admin_sees_only_their_organizations(hooks):
    platform, scoped = hooks
    admin = MembershipFactory(role="admin", organization=scoped.organization).user
    api = APIClient()
    api.force_authenticate(admin)
    assert [d["id"] for d in api.get(URL).json()["results"]] == [scoped.public_id]


def test_others_are_refused_and_unknown_parameters_are_a_400(api_client, member, hooks):
    assert api_client.get(URL + "?status=failing").status_code == 400
    api = APIClient()
    api.force_authenticate(member)
    response = api.get(URL)
    assert response.status_code == 403
    assert "Your role may not manage log streams." in response.json()["detail"]
    pro = MembershipFactory(role="admin", organization=OrganizationFactory(plan="pro")).user
    api.force_authenticate(pro)
    response = api.get(URL)  # no destinations, and the plan's word on streaming
    assert response.status_code == 200 and response.json() == {"results": []}


def test_an_api_key_reads_them(client, staff, hooks):
    _, secret = ApiKey.generate(owner=staff, name="siem-monitor", scopes=["read"])
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert len(json.loads(response.content)["results"]) == 2
