"""Saved views and the column chooser: one resolution (LogQuery) for page, API and export;
explicit parameters win; another user's view is a 400 naming `view`; the default view
applies to the bare tab; shared views are audited."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from logcenter.core.registry import registry
from logcenter.exports import jobs as exports
from logcenter.models import AuditEvent, ColumnPreference, SavedView
from tests.factories import MemberFactory, StaffFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db


def api_for(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def rows(db):
    UsageRecordFactory.create_batch(2, platform_model="gpt-4o", upstream_name="azure")
    UsageRecordFactory.create_batch(3, platform_model="claude-3", upstream_name="anthropic")


def make_view(owner, **fields):
    return SavedView.objects.create(owner=owner, kind="usage", name="gpt", **{
        "filters": {"platform_model": ["gpt-4o"]}, "columns": ["occurred_at", "platform_model",
                                                               "cost"], **fields})


def test_a_view_restores_filters_and_columns_in_the_api(staff, rows):
    view = make_view(staff)
    answer = api_for(staff).get(f"/api/v1/usage-records/?view={view.pk}")
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert {r["platform_model"] for r in results} == {"gpt-4o"} and len(results) == 2
    assert list(results[0]) == ["kind", "event_id", "occurred_at", "platform_model", "cost"]


def test_explicit_parameters_override_the_views(staff, rows):
    view = make_view(staff)
    answer = api_for(staff).get(f"/api/v1/usage-records/?view={view.pk}"
                                "&platform_model=claude-3&columns=upstream_name")
    results = answer.json()["results"]
    assert {r["platform_model"] for r in results if "platform_model" in r} == set()
    assert {r["upstream_name"] for r in results} == {"anthropic"} and len(results) == 3


def test_another_users_view_is_a_400_naming_view(staff, member, rows):
    view = make_view(staff)
    for api, path in ((api_for(member), f"/api/v1/usage-records/?view={view.pk}"),
                      (api_for(staff), "/api/v1/usage-records/?view=999999"),
                      (api_for(staff), "/api/v1/usage-records/?view=abc"),
                      (api_for(staff), f"/api/v1/auth-events/?view={view.pk}")):
        answer = api.get(path)
        assert answer.status_code == 400, path
        assert list(answer.json()) == ["view"]
    assert api_for(member).get(f"/api/v1/views/{view.pk}/").status_code == 404


def test_a_view_shared_with_a_role_is_visible_to_its_holders(staff, rows):
    finance = MemberFactory(username="fin", roles=["Finance"])
    view = make_view(staff, shared_with_role=Group.objects.get(name="Finance"))
    answer = api_for(finance).get(f"/api/v1/usage-records/?view={view.pk}")
    assert answer.status_code == 200 and len(answer.json()["results"]) == 2
    assert [v["id"] for v in api_for(finance).get("/api/v1/views/").json()["results"]] == [
        view.pk]
    # Only the owner changes it.
    assert api_for(finance).delete(f"/api/v1/views/{view.pk}/").status_code == 403


def test_views_crud_over_the_api_audits_shared_ones(staff):
    api = api_for(staff)
    created = api.post("/api/v1/views/", {
        "name": "errors", "kind": "usage", "filters": {"status": "error"},
        "ordering": "-cost", "columns": ["status"], "page_size": 25,
        "shared_with_role": "Administrator"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["filters"] == {"status": ["error"]} and body["ordering"] == "-cost"
    assert body["columns"] == ["occurred_at", "status"] and body["page_size"] == 25
    renamed = api.patch(f"/api/v1/views/{body['id']}/", {"name": "all errors"}, format="json")
    assert renamed.json()["name"] == "all errors"
    assert api.delete(f"/api/v1/views/{body['id']}/").status_code == 204
    actions = list(AuditEvent.objects.filter(resource_type="saved_view")
                   .order_by("occurred_at", "id").values_list("action", flat=True))
    assert actions == ["saved_view.created", "saved_view.updated", "saved_view.deleted"]
    # A bad filter, an unknown field, a role one does not hold: 400s naming them.
    assert list(api.post("/api/v1/views/", {"name": "x", "kind": "usage", "filters": {
        "eventType": "x"}}, format="json").json()) == ["filters"]
    assert "unknown_parameters" in api.post("/api/v1/views/", {
        "name": "x", "kind": "usage", "colour": "red"}, format="json").json()
    member = MemberFactory()
    assert list(api_for(member).post("/api/v1/views/", {
        "name": "x", "kind": "usage", "shared_with_role": "Administrator"},
        format="json").json()) == ["shared_with_role"]
    # A private view is the owner's business: not audited.
    api.post("/api/v1/views/", {"name": "mine", "kind": "usage"}, format="json")
    assert AuditEvent.objects.filter(resource_type="saved_view").count() == 3


def test_a_default_view_applies_to_the_bare_tab(client, staff, rows):
    view = make_view(staff, is_default=True)
    client.force_login(staff)
    answer = client.get("/logs/usage/")
    assert answer.status_code == 302 and answer["Location"] == f"/logs/usage/?view={view.pk}"
    page = client.get(answer["Location"])
    assert page.status_code == 200
    assert page.context["listing"].total.count == 2
    assert [c.name for c in page.context["table"].columns] == ["occurred_at", "platform_model",
                                                               "cost"]
    # `view=` (empty): the tab without a view.
    assert client.get("/logs/usage/?view=").context["listing"].total.count == 5


def test_the_page_refuses_another_users_view(client, staff, member, rows):
    view = make_view(staff)
    client.force_login(member)
    answer = client.get(f"/logs/usage/?view={view.pk}")
    assert answer.status_code == 400 and "view" in answer.context["errors"]


def test_the_page_saves_a_view_and_remembers_columns(client, staff, rows):
    client.force_login(staff)
    saved = client.post("/logs/usage/views/", {"name": "azure", "query": "upstream_name=azure",
                                               "is_default": "on"})
    view = SavedView.objects.get(owner=staff)
    assert saved["Location"] == f"/logs/usage/?view={view.pk}"
    assert view.filters == {"upstream_name": ["azure"]} and view.is_default
    client.post("/logs/usage/columns/", {"columns": ["username", "cost"], "query": "view="})
    assert ColumnPreference.objects.get(user=staff, kind="usage").columns == [
        "occurred_at", "username", "cost"]
    page = client.get("/logs/usage/?view=")
    assert [c.name for c in page.context["table"].columns] == ["occurred_at", "username", "cost"]
    client.post(f"/logs/usage/views/{view.pk}/", {"action": "delete"})
    assert not SavedView.objects.exists()


def test_an_export_takes_the_views_filters_and_columns(staff, rows):
    view = make_view(staff)
    job = exports.export_create(user=staff, kind_slug="usage", fmt="csv",
                                params={"view": str(view.pk)})
    assert job.params["platform_model"] == ["gpt-4o"] and "view" not in job.params
    assert job.params["columns"] == ["occurred_at,platform_model,cost"]


def test_columns_are_checked(staff):
    api = api_for(staff)
    assert list(api.get("/api/v1/usage-records/?columns=nope").json()) == ["columns"]
    support = MemberFactory(roles=["Support"])
    answer = api_for(support).get("/api/v1/usage-records/?columns=cost")
    assert answer.status_code == 400 and list(answer.json()) == ["columns"]
    assert api.get("/api/v1/usage-records/?columns=all").status_code == 200
    assert registry["usage"].suggestions  # declared as data on the kind


def test_a_bad_query_in_a_view_is_a_400_naming_the_views_field(client, staff):
    """A view's filters, sort and columns are checked as the list checks them; the 400
    names the body's field (a filter's reasons under `filters`, by the filter's name)."""
    api = api_for(staff)

    def refused(**fields):
        answer = api.post("/api/v1/views/", {"name": "x", "kind": "usage", **fields},
                          format="json")
        assert answer.status_code == 400, answer.content
        return answer.json()

    assert refused(filters={"eventType": "x"}) == {"filters": {"unknown_parameters": [
        "eventType"]}}
    body = refused(filters={"start_time": "not-a-time", "cost_min": "1e309"})
    assert sorted(body) == ["filters"] and sorted(body["filters"]) == ["cost_min", "start_time"]
    assert list(refused(ordering="no_such_field")) == ["ordering"]
    assert list(refused(columns=["nope"])) == ["columns"]
    view = api.post("/api/v1/views/", {"name": "x", "kind": "usage"}, format="json").json()
    changed = api.patch(f"/api/v1/views/{view['id']}/", {"filters": {"status": "maybe"}},
                        format="json")
    assert changed.status_code == 400 and list(changed.json()["filters"]) == ["status"]
    assert not AuditEvent.objects.filter(resource_type="saved_view").exists()
    # The page says why, by the filter's name, and saves nothing.
    client.force_login(staff)
    saved = client.post("/logs/usage/views/", {"name": "y", "query": "cost_min=1e309"},
                        follow=True)
    assert "cost_min:" in " ".join(str(m) for m in saved.context["messages"])
    assert list(SavedView.objects.values_list("name", flat=True)) == ["x"]


def test_a_view_saved_from_the_page_keeps_the_columns_shown(client, staff, rows):
    """The chooser's columns are the user's, not the query's: the save form sends the
    columns the table shows, so the view (and the API's `?view=`) has them too."""
    client.force_login(staff)
    client.post("/logs/usage/columns/", {"columns": ["platform_model", "cost"], "query": ""})
    page = client.get("/logs/usage/?platform_model=gpt-4o")
    assert 'name="columns" value="occurred_at,platform_model,cost"' in page.content.decode()
    client.post("/logs/usage/views/", {"name": "gpt", "query": "platform_model=gpt-4o",
                                       "columns": "occurred_at,platform_model,cost"})
    view = SavedView.objects.get(owner=staff)
    assert view.columns == ["occurred_at", "platform_model", "cost"]
    answer = api_for(staff).get(f"/api/v1/usage-records/?view={view.pk}").json()["results"]
    assert len(answer) == 2 and list(answer[0]) == ["kind", "event_id", "occurred_at",
                                                    "platform_model", "cost"]
