"""OpenAI's Admin API costs and usage shapes (seed 003): the document's requests (Unix
times, bucket_width=1d, group_by[]), the answers checked field by field."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest

from logcenter.analytics.rollups import rollup_rebuild
from tests.factories import FACTORIES, MembershipFactory, OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db
DAY = datetime(2026, 11, 2, tzinfo=dt_timezone.utc)


@pytest.fixture
def acme_admin(client):
    acme = OrganizationFactory(name="Acme", slug="acme", plan="enterprise")
    membership = MembershipFactory(organization=acme, role="admin")
    client.force_login(membership.user)
    return client, acme


def _calls(acme):
    default = acme.default_project.public_id
    other = ProjectFactory(organization=acme).public_id
    org = acme.public_id
    for hour, project, model, cost, endpoint in (
            (1, default, "gpt-4o", "0.50", "chat"), (2, default, "gpt-4o", "0.25", "chat"),
            (3, other, "o3", "1.00", "completion"), (26, default, "gpt-4o", "2.00", "chat"),
            (4, default, "text-embed", "0.01", "embedding")):
        FACTORIES["usage"](occurred_at=DAY + timedelta(hours=hour), organization_id=org,
                           project_id=project, platform_model=model, cost=Decimal(cost),
                           endpoint=endpoint, prompt_tokens=100, completion_tokens=10,
                           cached_tokens=5, total_tokens=110)
    FACTORIES["usage"](occurred_at=DAY + timedelta(hours=1), organization_id="org_other",
                       cost=Decimal("9.00"))
    rollup_rebuild()
    return default, other


def _unix(when):
    return str(int(when.timestamp()))


def test_costs_by_project_and_line_item(acme_admin):
    client, acme = acme_admin
    default, other = _calls(acme)
    response = client.get("/v1/organization/costs", {
        "start_time": _unix(DAY), "end_time": _unix(DAY + timedelta(days=2)),
        "bucket_width": "1d", "group_by[]": ["project_id", "line_item"], "limit": "7"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["object"], body["has_more"], body["next_page"]) == ("page", False, None)
    first, second = body["data"]
    assert (first["object"], first["start_time"], first["end_time"]) == (
        "bucket", int(DAY.timestamp()), int((DAY + timedelta(days=1)).timestamp()))
    results = {(r["project_id"], r["line_item"]): r for r in first["result"]}
    assert set(results) == {(default, "gpt-4o"), (other, "o3"), (default, "text-embed")}
    chat = results[default, "gpt-4o"]
    assert chat["object"] == "organization.costs.result"
    assert chat["amount"] == {"value": 0.75, "currency": "usd"}
    assert [r["amount"]["value"] for r in second["result"]] == [2.0]


def test_costs_pages_by_bucket(acme_admin):
    client, acme = acme_admin
    _calls(acme)
    page = client.get("/v1/organization/costs", {
        "start_time": _unix(DAY), "end_time": _unix(DAY + timedelta(days=3)),
        "limit": "1"}).json()
    assert page["has_more"] and page["next_page"] == _unix(DAY + timedelta(days=1))
    assert page["data"][0]["result"][0]["amount"]["value"] == pytest.approx(1.76)
    assert page["data"][0]["result"][0]["project_id"] is None
    more = client.get("/v1/organization/costs", {
        "start_time": _unix(DAY), "end_time": _unix(DAY + timedelta(days=3)),
        "limit": "1", "page": page["next_page"]}).json()
    assert more["data"][0]["start_time"] == int(page["next_page"])


def test_completions_and_embeddings_usage(acme_admin):
    client, acme = acme_admin
    _calls(acme)
    params = {"start_time": _unix(DAY), "end_time": _unix(DAY + timedelta(days=1)),
              "group_by[]": "model"}
    completions = client.get("/v1/organization/usage/completions", params).json()
    rows = {r["model"]: r for r in completions["data"][0]["result"]}
    assert set(rows) == {"gpt-4o", "o3"}
    assert rows["gpt-4o"] | {} == {
        "object": "organization.usage.completions.result", "input_tokens": 200,
        "output_tokens": 20, "input_cached_tokens": 10, "num_model_requests": 2,
        "project_id": None, "api_key_id": None, "model": "gpt-4o", "input_audio_tokens": 0,
        "output_audio_tokens": 0, "batch": None}
    embeddings = client.get("/v1/organization/usage/embeddings", params).json()
    (row,) = embeddings["data"][0]["result"]
    assert (row["object"], row["model"], row["num_model_requests"]) == (
        "organization.usage.embeddings.result", "text-embed", 1)


@pytest.mark.parametrize("params,param", [
    ({}, "start_time"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"start_time": "1730000000", "bucket_width": "1w"}, "bucket_width"),
    ({"start_time": "1730000000", "group_by[]": "colour"}, "group_by"),
    ({"start_time": "1730000000", "limit": "0"}, "limit"),
    ({"start_time": "1730000000", "colour": "red"}, "colour"),
    ({"start_time": "99999999999999"}, "start_time"),
])
def test_bad_input_is_a_400_in_openais_shape(acme_admin, params, param):
    client, _ = acme_admin
    response = client.get("/v1/organization/costs", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_a_member_gets_only_their_own_costs(client):
    membership = MembershipFactory(role="member")
    org = membership.organization.public_id
    FACTORIES["usage"](occurred_at=DAY + timedelta(hours=1), organization_id=org,
                       user_id=str(membership.user.pk), cost=Decimal("0.10"))
    FACTORIES["usage"](occurred_at=DAY + timedelta(hours=1), organization_id=org,
                       user_id="a-colleague", cost=Decimal("5.00"))
    rollup_rebuild()
    client.force_login(membership.user)
    body = client.get("/v1/organization/costs", {
        "start_time": _unix(DAY), "end_time": _unix(DAY + timedelta(days=1))}).json()
    assert [r["amount"]["value"] for r in body["data"][0]["result"]] == [0.1]
