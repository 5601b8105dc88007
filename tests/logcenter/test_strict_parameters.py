"""Every face refuses what it does not know, takes several values per filter, and parses
every value within bounds: a 400 naming the field, never a 500 or unfiltered rows."""

import json
import uuid

import pytest

from logcenter.core.registry import registry
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
KINDS = list(registry)


def _unknown(response, *names):
    assert response.status_code == 400, response.content[:500]
    assert response.json() == {"unknown_parameters": sorted(names)}


# --- unknown and repeated parameters on every face ------------------------------------

@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_unknown_parameter_is_refused_by_the_list_api(api_client, factories, kind):
    factories[kind.slug]()
    _unknown(api_client.get(f"/api/v1/{kind.api_name}/?page=2&eventType=x"), "eventType", "page")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_unknown_parameter_is_refused_by_the_detail_api(api_client, factories, kind):
    row = factories[kind.slug]()
    _unknown(api_client.get(f"/api/v1/{kind.api_name}/{row.event_id}/?fields=all"), "fields")


def test_unknown_parameter_is_refused_by_stats_and_buckets(api_client, factories):
    factories["usage"]()
    _unknown(api_client.get("/api/v1/usage/stats/?model=gpt-4o"), "model")
    # the list's paging is no stats parameter
    _unknown(api_client.get("/api/v1/usage/stats/?ordering=-cost"), "ordering")
    _unknown(api_client.get("/api/v1/usage/buckets/?bucket_width=1h&groupby=model"),
             "groupby")
    assert api_client.get("/api/v1/usage/buckets/?bucket_width=1h&group_by=model"
                          ).status_code == 200


def test_unknown_parameter_is_refused_by_the_export_api(api_client, factories):
    factories["audit"]()
    _unknown(api_client.post("/api/v1/exports/", {"kind": "audit", "fromat": "csv"},
                             format="json"), "fromat")
    _unknown(api_client.post("/api/v1/exports/", {"kind": "audit",
                                                  "filters": {"eventType": "x"}},
                             format="json"), "eventType")
    _unknown(api_client.post("/api/v1/exports/?actionn=x", {"kind": "audit"}, format="json"),
             "actionn")
    _unknown(api_client.get("/api/v1/exports/?status=failed"), "status")
    job = api_client.post("/api/v1/exports/", {"kind": "audit"}, format="json").json()
    _unknown(api_client.get(f"/api/v1/exports/{job['export_id']}/?verbose=1"), "verbose")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_unknown_parameter_is_a_form_error_on_the_page(staff_client, factories, kind):
    factories[kind.slug]()
    response = staff_client.get(f"/logs/{kind.slug}/?eventType=login")
    assert response.status_code == 400
    html = response.content.decode()
    assert "unknown_parameters" in html and "eventType" in html
    assert "matching row" not in html  # no unfiltered rows beside the error


def test_the_panels_own_parameter_is_taken_by_the_page_but_not_the_api(staff_client,
                                                                          factories):
    factories["usage"]()
    assert staff_client.get("/logs/usage/?top_by=requests").status_code == 200
    assert staff_client.get("/logs/usage/panels/?top_by=requests").status_code == 200
    response = staff_client.get("/logs/usage/?top_by=requests")
    assert "/api/v1/usage-records/?top_by" not in response.content.decode()
    assert staff_client.get("/api/v1/usage-records/?top_by=requests").status_code == 400
    bad = staff_client.get("/logs/usage/panels/?top_by=everything")
    assert "Use one of: cost, requests, total_tokens" in bad.content.decode()


def test_a_single_valued_parameter_given_twice_is_refused(api_client, factories):
    factories["usage"]()
    response = api_client.get("/api/v1/usage-records/?page_size=5&page_size=10")
    assert response.status_code == 400
    assert "page_size" in response.json()
    response = api_client.get("/api/v1/usage-records/?start_time=2026-01-01&"
                              "start_time=2026-02-01")
    assert response.status_code == 400 and "start_time" in response.json()


# --- several values, negation, level_min ------------------------------------------------

def _ids(response):
    assert response.status_code == 200, response.content[:500]
    return {row["event_id"] for row in response.json()["results"]}


def test_repeats_and_comma_lists_mean_any_of_them(api_client, factories):
    error = factories["system"](level="error")
    critical = factories["system"](level="critical")
    factories["system"](level="info")
    expected = {str(error.event_id), str(critical.event_id)}
    assert _ids(api_client.get("/api/v1/system-events/?level=error&level=critical")) == expected
    assert _ids(api_client.get("/api/v1/system-events/?level=error,critical")) == expected
    assert _ids(api_client.get("/api/v1/system-events/?level=error, critical")) == expected


def test_a_value_holding_a_comma_is_quoted(api_client, factories):
    smith = factories["audit"](resource_name="Smith, John")
    factories["audit"](resource_name="Smith")
    assert _ids(api_client.get('/api/v1/audit-events/?resource_name="Smith, John"')) == {
        str(smith.event_id)}
    unbalanced = api_client.get('/api/v1/audit-events/?resource_name="Smith, John')
    assert unbalanced.status_code == 400 and "resource_name" in unbalanced.json()


def test_each_value_is_checked_against_the_choices(api_client):
    response = api_client.get("/api/v1/usage-records/?status=error,exploded")
    assert response.status_code == 400 and "exploded" in response.json()["status"][0]
    response = api_client.get("/api/v1/usage-records/?exclude_status=exploded")
    assert response.status_code == 400
    assert "exploded" in response.json()["exclude_status"][0]


def test_exclude_takes_the_same_values_and_means_none_of_them(api_client, factories):
    viewed = factories["audit"](action="audit_log.viewed")
    changed = factories["audit"](action="user.role_changed")
    created = factories["audit"](action="role.created")
    mine = "actor_type=user&"  # not the events of the staff user's own creation
    assert _ids(api_client.get(f"/api/v1/audit-events/?{mine}exclude_action=audit_log.viewed")
                ) == {str(changed.event_id), str(created.event_id)}
    assert _ids(api_client.get(f"/api/v1/audit-events/?{mine}exclude_action=audit_log.*,role.*")
                ) == {str(changed.event_id)}
    assert _ids(api_client.get(f"/api/v1/audit-events/?{mine}action=user.*,role.*&"
                               "exclude_action=role.created")) == {str(changed.event_id)}
    assert str(viewed.event_id) in _ids(api_client.get("/api/v1/audit-events/?show_views=true"))


def test_exclude_of_a_field_matched_by_name_or_id(api_client, factories):
    alice = factories["usage"](user_id="11", username="alice")
    bob = factories["usage"](user_id="12", username="bob")
    assert _ids(api_client.get("/api/v1/usage-records/?exclude_user=alice")) == {
        str(bob.event_id)}
    assert _ids(api_client.get("/api/v1/usage-records/?user=alice,12")) == {
        str(alice.event_id), str(bob.event_id)}


def test_level_min_means_this_level_or_above(api_client, factories):
    rows = {level: factories["system"](level=level)
            for level in ("debug", "info", "warning", "error", "critical")}
    assert _ids(api_client.get("/api/v1/system-events/?level_min=warning")) == {
        str(rows[level].event_id) for level in ("warning", "error", "critical")}
    assert api_client.get("/api/v1/system-events/?level_min=loud").status_code == 400


def test_several_values_work_on_the_page_and_in_stats_and_exports(staff_client, api_client,
                                                                  factories):
    ok = factories["usage"](platform_model="gpt-4o")
    bad = factories["usage"](platform_model="claude-sonnet-4")
    factories["usage"](platform_model="gemini-2.5-pro")
    html = staff_client.get("/logs/usage/?platform_model=gpt-4o,claude-sonnet-4"
                            ).content.decode()
    assert str(ok.event_id) in html and str(bad.event_id) in html
    assert "2 matching rows" in html
    stats = api_client.get("/api/v1/usage/stats/?platform_model=gpt-4o&"
                           "platform_model=claude-sonnet-4&range=24h")
    assert stats.json()["requests"] == 2
    stats = api_client.get("/api/v1/usage/stats/?exclude_platform_model=gemini-2.5-pro&"
                           "range=24h")
    assert stats.json()["requests"] == 2
    job = api_client.post("/api/v1/exports/", {
        "kind": "usage", "format": "json",
        "filters": {"platform_model": ["gpt-4o", "claude-sonnet-4"]}}, format="json")
    assert job.status_code == 202, job.content
    assert job.json()["rows_written"] == 2


# --- bounds -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01",
    "9999-12-31T23:59:59.999999", "1000000000000", "-1", "99999999999", "1e10",
    "2026-13-01", "x" * 500,
])
def test_times_out_of_bounds_are_refused(api_client, value):
    for name in ("start_time", "end_time"):
        response = api_client.get("/api/v1/audit-events/", {name: value})
        assert response.status_code == 400, (name, value, response.content[:300])
        assert name in response.json()
        response = api_client.get("/api/v1/usage/buckets/", {name: value})
        assert response.status_code == 400, (name, value, response.content[:300])


@pytest.mark.parametrize("value", [
    "1e-99999999", "-1e999999", "1e309", "NaN", "Infinity", "-Infinity", "1" * 40,
    "0." + "1" * 40, "0x10", "1_000",
])
def test_numbers_are_checked_before_any_conversion(api_client, value):
    response = api_client.get("/api/v1/usage-records/", {"cost_min": value})
    assert response.status_code == 400 and "cost_min" in response.json(), value
    response = api_client.get("/api/v1/usage/stats/", {"cost_max": value})
    assert response.status_code == 400 and "cost_max" in response.json(), value


@pytest.mark.parametrize("name", ["total_tokens_min", "latency_ms_max"])
def test_integers_stay_within_the_column(api_client, name):
    for value in ("9223372036854775808", "2147483648", "-1", "1.5", "1e3"):
        response = api_client.get("/api/v1/usage-records/", {name: value})
        assert response.status_code == 400 and name in response.json(), value


def test_plain_bounds_still_work(api_client, factories):
    cheap = factories["usage"](cost="0.00100000", total_tokens=10)
    factories["usage"](cost="5.00000000", total_tokens=10)
    assert _ids(api_client.get("/api/v1/usage-records/?cost_max=0.5&total_tokens_min=5")) == {
        str(cheap.event_id)}
    assert api_client.get("/api/v1/usage-records/?start_time=1700000000").status_code == 200


def test_contradictory_bounds_are_refused(api_client):
    response = api_client.get("/api/v1/usage-records/?cost_min=5&cost_max=1")
    assert response.status_code == 400 and "cost_max" in response.json()
    response = api_client.get("/api/v1/usage/buckets/?start_time=2026-01-02&"
                              "end_time=2026-01-01")
    assert response.status_code == 400


@pytest.mark.parametrize("query", [
    {"q": "abc\x00def"}, {"q": "x" * 10_000}, {"action": "a\x00"},
    {"resource_id": "r" * 5000}, {"ip": "fe80::1%eth0"}, {"ip": "999.1.1.1"},
    {"metadata": "env=1e999"}, {"metadata": "env=" + "[" * 5000},
    {"event_id": "not-a-uuid"}, {"cursor": "x" * 10_000}, {"page_size": "1" * 5000},
])
def test_text_inputs_are_bounded(api_client, factories, query):
    factories["audit"](metadata={"env": "prod"})
    response = api_client.get("/api/v1/audit-events/", query)
    assert response.status_code in (200, 400), (query, response.content[:300])
    if response.status_code == 200:  # a value that simply matches nothing
        assert response.json()["results"] == []


def test_lone_surrogates_in_export_filters_are_refused(api_client):
    body = '{"kind": "audit", "filters": {"action": "\\ud800"}}'
    response = api_client.post("/api/v1/exports/", body, content_type="application/json")
    assert response.status_code == 400 and "action" in response.json()


def test_nested_filter_values_are_refused(api_client):
    response = api_client.post("/api/v1/exports/", {"kind": "audit",
                                                    "filters": {"action": {"a": 1}}},
                               format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("body", ['[' * 100_000, '{"kind": NaN}', '{"kind": "audit",'
                                  ' "filters": {"cost_min": Infinity}}', "\xff"])
def test_bad_json_bodies_are_a_400(api_client, body):
    response = api_client.post("/api/v1/exports/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]


def test_group_by_repeats_and_unknowns_are_refused(api_client):
    for group_by in ("model,model", "model,nope", "x" * 1000):
        response = api_client.get(f"/api/v1/usage/buckets/?group_by={group_by}")
        assert response.status_code == 400 and "group_by" in response.json(), group_by
    response = api_client.get("/api/v1/usage/buckets/?group_by=model&group_by=user")
    assert response.status_code == 400 and "group_by" in response.json()


@pytest.mark.parametrize("kind", ["auth", "system"])
def test_event_charts_are_bounded_like_the_usage_buckets(staff_client, factories, kind):
    factories[kind]()
    response = staff_client.get(f"/logs/{kind}/panels/?start_time=1990-01-01")
    assert response.status_code == 200
    assert "at most 366 days" in response.content.decode()


# --- who may see the figures --------------------------------------------------------------

def test_figures_need_view_stats(client, factories):
    support = StaffFactory(username="support-1", is_staff=False, roles=["Support"])
    factories["usage"]()
    client.force_login(support)
    assert client.get("/api/v1/usage-records/").status_code == 200
    assert client.get("/api/v1/usage/stats/").status_code == 403
    assert client.get("/api/v1/usage/buckets/").status_code == 403
    assert client.get("/logs/usage/panels/").status_code == 403
    page = client.get("/logs/usage/").content.decode()
    assert 'id="panels"' not in page


def test_filter_values_round_trip_through_the_export_job(api_client, factories):
    factories["audit"](action="user.updated")
    job = api_client.post("/api/v1/exports/?action=user.updated", {
        "kind": "audit", "format": "json",
                                                            "filters": {"result": "success"}},
                          format="json").json()
    assert job["rows_written"] == 1
    assert "action=user.updated" in job["filter"] and "result=success" in job["filter"]
    assert uuid.UUID(job["export_id"])
    assert json.dumps(job)


def test_the_detail_page_refuses_parameters(staff_client, factories):
    row = factories["system"]()
    response = staff_client.get(f"/logs/system/{row.event_id}/?tab=raw")
    assert response.status_code == 400
    assert "Unknown parameter: tab." in response.content.decode()
    assert staff_client.get(f"/logs/system/{row.event_id}/").status_code == 200


@pytest.mark.parametrize("path", ["/exports/", "/retention/", "/accounts/api-keys/"])
def test_the_other_pages_refuse_parameters_too(staff_client, path):
    response = staff_client.get(f"{path}?sort=name")
    assert response.status_code == 400
    assert "Unknown parameter: sort." in response.content.decode()
    assert staff_client.get(path).status_code == 200


def test_a_choice_filter_given_several_values_shows_them_all_selected(staff_client, factories):
    factories["system"](level="error")
    html = staff_client.get("/logs/system/?level=error,critical").content.decode()
    select = html[html.index('name="level"') - 200:html.index('name="level"') + 600]
    assert "multiple" in select
    assert 'value="error" selected' in select and 'value="critical" selected' in select
    assert "Source is not" in staff_client.get("/logs/system/?exclude_source=x").content.decode()


def test_the_browsable_apis_format_override_is_known(api_client, factories):
    row = factories["usage"]()
    for url in ("/api/v1/usage-records/", f"/api/v1/usage-records/{row.event_id}/",
                "/api/v1/usage/stats/", "/api/v1/usage/buckets/", "/api/v1/exports/"):
        response = api_client.get(url + "?format=json")
        assert response.status_code == 200, (url, response.content[:200])
