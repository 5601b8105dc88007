"""Suggestions for filters with known values: from the known-values table, the rollups or
the choices, never the log table; a member learns only their own values."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from logcenter.analytics.known_values import known_values_refresh
from logcenter.core.registry import registry
from tests.factories import (AuditEventFactory, MemberFactory, StaffFactory, SystemEventFactory,
                             UsageRecordFactory)

pytestmark = pytest.mark.django_db


def api_for(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_suggestions_never_read_the_log_table(staff):
    UsageRecordFactory(platform_model="GPT-4o", channel_id="ch-7")
    UsageRecordFactory(platform_model="claude-3", channel_id="ch-8")
    AuditEventFactory(action="user.updated")
    SystemEventFactory(source="exports")
    known_values_refresh()
    api = api_for(staff)
    log_tables = {kind.model._meta.db_table for kind in registry}
    for path, expected in (
            ("/api/v1/usage-records/suggestions/?field=platform_model&q=gpt", ["GPT-4o"]),
            ("/api/v1/usage-records/suggestions/?field=channel_id&q=CH-", ["ch-7", "ch-8"]),
            ("/api/v1/usage-records/suggestions/?field=endpoint&q=EMB", ["embedding"]),
            ("/api/v1/audit-events/suggestions/?field=action&q=USER.UPD", ["user.updated"]),
            ("/api/v1/system-events/suggestions/?field=source&q=xport", ["exports"])):
        with CaptureQueriesContext(connection) as queries:
            answer = api.get(path)
        assert answer.status_code == 200, answer.json()
        assert [r["value"] for r in answer.json()["results"]] == expected, path
        touched = [q["sql"] for q in queries.captured_queries
                   if any(f'"{table}"' in q["sql"] for table in log_tables)]
        assert touched == [], path


def test_an_unknown_field_or_parameter_is_a_400(staff):
    api = api_for(staff)
    assert list(api.get("/api/v1/usage-records/suggestions/?field=cost").json()) == ["field"]
    assert list(api.get("/api/v1/usage-records/suggestions/").json()) == ["field"]
    assert "unknown_parameters" in api.get(
        "/api/v1/usage-records/suggestions/?field=group&limit=3").json()


def test_a_members_suggestions_are_their_own(db):
    mia = MemberFactory(username="mia")
    UsageRecordFactory(user_id=str(mia.pk), username="mia", platform_model="mia-model")
    UsageRecordFactory(user_id="someone", username="else", platform_model="secret-model")
    known_values_refresh()
    api = api_for(mia)
    values = [r["value"] for r in api.get(
        "/api/v1/usage-records/suggestions/?field=platform_model").json()["results"]]
    assert values == ["mia-model"]
    # No own values for a field the rollup does not hold: nothing rather than others'.
    assert api.get("/api/v1/usage-records/suggestions/?field=channel_id").json()[
        "results"] == []
    # The staff, who see every row, get both.
    staff = StaffFactory()
    values = [r["value"] for r in api_for(staff).get(
        "/api/v1/usage-records/suggestions/?field=platform_model").json()["results"]]
    assert values == ["mia-model", "secret-model"]
