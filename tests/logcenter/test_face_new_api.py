"""new-api's log API (seed 002), the document's requests as written (Bearer key and
New-Api-User header, its parameters), the answers checked against its examples' fields."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from tests.factories import FACTORIES, MemberFactory

pytestmark = pytest.mark.django_db
ITEM_FIELDS = {"id", "user_id", "created_at", "type", "content", "username", "token_name",
               "model_name", "quota", "prompt_tokens", "completion_tokens", "use_time",
               "is_stream", "channel_id", "channel_name", "token_id", "group", "ip", "other"}


def _client(user):
    _, secret = ApiKey.generate(owner=user, name="script", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_NEW_API_USER=str(user.pk))
    return api


def _rows(now, user=None):
    mine = {"user_id": str(user.pk), "username": user.username} if user else {}
    return {
        "ok": FACTORIES["usage"](status="success", platform_model="gpt-4", api_key_name="api_token",
                                 group="default", latency_ms=2400, quota=1000,
                                 occurred_at=now - timedelta(minutes=1), **mine),
        "error": FACTORIES["usage"](status="error", platform_model="gpt-4",
                                    error_message="upstream timeout",
                                    occurred_at=now - timedelta(minutes=2), **mine),
        "manage": FACTORIES["audit"](action="user.updated", occurred_at=now - timedelta(minutes=3)),
        "system": FACTORIES["system"](message="disk almost full",
                                      occurred_at=now - timedelta(minutes=4)),
    }


def test_admin_list_as_the_document_calls_it(staff):
    now = timezone.now()
    rows = _rows(now)
    api = _client(staff)
    start = int((now - timedelta(hours=1)).timestamp())
    response = api.get("/api/log/", {"p": "1", "page_size": "20", "type": "2",
                                     "start_timestamp": str(start),
                                     "end_timestamp": str(int(now.timestamp()) + 60),
                                     "token_name": "api_token", "model_name": "gpt-4",
                                     "group": "default"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["success"], body["message"]) == (True, "")
    data = body["data"]
    assert (data["total"], data["page"], data["page_size"]) == (1, 1, 20)
    (row,) = data["items"]
    assert set(row) == ITEM_FIELDS
    assert (row["type"], row["model_name"], row["token_name"], row["quota"], row["use_time"],
            row["group"]) == (2, "gpt-4", "api_token", 1000, 2, "default")
    assert row["created_at"] == int(rows["ok"].occurred_at.timestamp())
    assert isinstance(row["id"], int) and isinstance(row["other"], str)


def test_types_map_to_the_kinds(staff):
    now = timezone.now()
    _rows(now)
    api = _client(staff)
    start = str(int((now - timedelta(hours=1)).timestamp()))
    types = {t: [i["type"] for i in api.get("/api/log/", {"type": str(t),
                                                           "start_timestamp": start})
                 .json()["data"]["items"]] for t in (2, 3, 4, 5)}
    assert types[2] == [2] and types[4] == [4] and types[5] == [5]
    assert types[3] and set(types[3]) == {3}  # the test's audit row and the console's own
    every = api.get("/api/log/", {"start_timestamp": start, "page_size": "100"}).json()["data"]
    assert {2, 3, 4, 5} <= {i["type"] for i in every["items"]}
    assert every["total"] == len(every["items"])
    ids = [i["id"] for i in every["items"]]
    assert len(ids) == len(set(ids))
    assert [i["created_at"] for i in every["items"]] == sorted(
        (i["created_at"] for i in every["items"]), reverse=True)


def test_self_endpoints_see_only_your_own(db):
    member = MemberFactory(username="testuser")
    now = timezone.now()
    _rows(now, member)
    FACTORIES["usage"](user_id="someone-else", status="success", occurred_at=now)
    api = _client(member)
    data = api.get("/api/log/self", {"p": "1", "page_size": "20"}).json()["data"]
    assert data["total"] == 2 and {i["username"] for i in data["items"]} == {"testuser"}
    stat = api.get("/api/log/self/stat", {"type": "2"}).json()
    assert stat["success"] and set(stat["data"]) == {"quota", "rpm", "tpm"}
    assert stat["data"]["quota"] == 1000
    found = api.get("/api/log/self/search", {"keyword": "gpt-4"}).json()["data"]
    assert [i["type"] for i in found] == [2, 4]
    # An error message is sensitive (masked for a member): not searched, not shown.
    assert api.get("/api/log/self/search", {"keyword": "timeout"}).json()["data"] == []
    assert api.get("/api/log/", {}).status_code == 403
    refused = api.get("/api/log/search", {"keyword": "x"}).json()
    assert refused["success"] is False and refused["message"]


def test_stat_and_search_for_admins(staff):
    now = timezone.now()
    _rows(now)
    api = _client(staff)
    stat = api.get("/api/log/stat", {"type": "2", "model_name": "gpt-4"}).json()["data"]
    assert stat["quota"] >= 1000 and set(stat) == {"quota", "rpm", "tpm"}
    found = api.get("/api/log/search", {"keyword": "disk almost"}).json()["data"]
    assert [i["type"] for i in found] == [5]


def test_token_lookup(db):
    owner = MemberFactory()
    key, secret = ApiKey.generate(owner=owner, name="gateway key", scopes=["read"])
    FACTORIES["usage"](api_key_id=key.prefix, platform_model="gpt-4", quota=1000)
    body = APIClient().get("/api/log/token", {"key": secret}).json()
    assert body["success"] and [i["model_name"] for i in body["data"]] == ["gpt-4"]
    refused = APIClient().get("/api/log/token", {"key": "lc_nope"})
    assert refused.status_code == 401 and refused.json()["success"] is False


def test_delete_history_queues_and_answers_the_count(staff, settings):
    old = datetime(2020, 1, 1, tzinfo=dt_timezone.utc)
    FACTORIES["usage"](occurred_at=old)
    FACTORIES["system"](occurred_at=old)
    api = _client(staff)
    target = int((old + timedelta(days=1)).timestamp())
    response = api.delete(f"/api/log/?target_timestamp={target}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] and body["data"] == 2 and len(body["jobs"]) == 3
    too_recent = api.delete(f"/api/log/?target_timestamp={int(timezone.now().timestamp())}")
    assert too_recent.status_code == 400 and too_recent.json()["success"] is False


@pytest.mark.parametrize("params", [
    {"colour": "red"}, {"p": "0"}, {"page_size": "500"}, {"type": "9"},
    {"start_timestamp": "yesterday"}, {"p": "1000", "page_size": "20"},
    {"model_name": "\x00"},
])
def test_bad_input_is_a_400_in_the_envelope(staff, params):
    response = _client(staff).get("/api/log/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["message"]
