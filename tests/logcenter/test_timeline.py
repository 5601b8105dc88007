"""The cross-kind timeline: every visible row about one thing, merged newest first, each row
once across pages, through the kinds' own queries (and so their visibility rule)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone

from logcenter.core.events import canonical_event
from logcenter.core.query import InvalidLogQuery, LogQuery
from logcenter.core.registry import registry
from logcenter.core.timeline import timeline
from tests.factories import FACTORIES, MemberFactory

pytestmark = pytest.mark.django_db


def _rows_of_one_request(request_id, now, **owner):
    """Rows of the four kinds for one request, with ties in time across kinds."""
    rows = []
    for n in range(3):
        when = now - timedelta(minutes=n)
        for slug in ("audit", "usage", "auth", "system"):
            values = {"request_id": request_id, "occurred_at": when}
            if slug in owner:
                values.update(owner[slug])
            rows.append((slug, FACTORIES[slug](**values)))
    return rows


def _walk(user, params):
    seen, cursor = [], None
    while True:
        page = timeline(user, {**params, **({"cursor": cursor} if cursor else {})})
        seen += [(entry.kind.slug, entry.row.pk, entry.row.occurred_at) for entry in page.entries]
        cursor = page.next_cursor
        if not cursor:
            return seen


def test_every_row_once_in_order_across_pages_and_kinds(staff):
    now = timezone.now().replace(microsecond=0)
    rows = _rows_of_one_request("req-timeline-1", now)
    FACTORIES["usage"](request_id="req-other", occurred_at=now)  # not this request
    for size in (1, 2, 5, 50):
        seen = _walk(staff, {"request_id": "req-timeline-1", "page_size": str(size)})
        assert len(seen) == len(rows) == len(set(seen))
        assert {(slug, row.pk) for slug, row in rows} == {(slug, pk) for slug, pk, _ in seen}
        ranks = {kind.slug: n for n, kind in enumerate(registry)}
        order = [(-when.timestamp(), ranks[slug], -pk) for slug, pk, when in seen]
        assert order == sorted(order), size


def test_a_member_sees_only_their_own_rows(member):
    now = timezone.now()
    other = MemberFactory(username="someone-else")
    mine = FACTORIES["usage"](request_id="req-shared", occurred_at=now, user_id=str(member.pk))
    FACTORIES["usage"](request_id="req-shared", occurred_at=now, user_id=str(other.pk))
    FACTORIES["auth"](request_id="req-shared", occurred_at=now, user_id=str(other.pk))
    page = timeline(member, {"request_id": "req-shared"})
    assert [entry.row.pk for entry in page.entries] == [mine.pk]


def test_the_user_pivot_uses_each_kinds_owner_field(staff):
    now = timezone.now()
    usage = FACTORIES["usage"](user_id="42", occurred_at=now)
    auth = FACTORIES["auth"](user_id="42", occurred_at=now - timedelta(seconds=1))
    audit = FACTORIES["audit"](actor_id="42", occurred_at=now - timedelta(seconds=2))
    FACTORIES["audit"](actor_id="43", occurred_at=now)
    page = timeline(staff, {"user": "42"})
    assert [(e.kind.slug, e.row.pk) for e in page.entries] == [
        ("usage", usage.pk), ("auth", auth.pk), ("audit", audit.pk)]


def test_the_window_and_the_kinds_narrow_it(staff):
    now = timezone.now()
    recent = FACTORIES["auth"](request_id="req-w", occurred_at=now - timedelta(hours=1))
    FACTORIES["auth"](request_id="req-w", occurred_at=now - timedelta(days=3))
    FACTORIES["usage"](request_id="req-w", occurred_at=now - timedelta(hours=1))
    page = timeline(staff, {"request_id": "req-w", "range": "24h", "kinds": "auth"})
    assert [entry.row.pk for entry in page.entries] == [recent.pk]
    assert len(timeline(staff, {"request_id": "req-w", "range": "7d"}).entries) == 3


@pytest.mark.parametrize("params,field", [
    ({}, "filters"),
    ({"request_id": "a", "user": "b"}, "filters"),
    ({"request_id": "a", "colour": "red"}, "filters"),
    ({"request_id": "a", "page_size": "0"}, "page_size"),
    ({"request_id": "a", "page_size": "1e3"}, "page_size"),
    ({"request_id": "a", "cursor": "not-a-cursor"}, "cursor"),
    ({"request_id": "a", "cursor": "WzEsMiwzXQ"}, "cursor"),  # [1,2,3]
    # an id past bigint
    ({"request_id": "a", "cursor": "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMCwgMTAwMDAwMDAw"
                                   "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMF0"}, "cursor"),
    ({"request_id": "a", "kinds": "audit,bogus"}, "kinds"),
    ({"request_id": "a", "range": "forever"}, "range"),
    ({"request_id": "\x00"}, "request_id"),
])
def test_bad_input_is_refused_naming_the_parameter(staff, params, field):
    with pytest.raises(InvalidLogQuery) as refused:
        timeline(staff, params)
    assert field in refused.value.api_errors()


def test_a_kind_the_user_may_not_see_is_refused(member):
    with pytest.raises(PermissionDenied):
        timeline(member, {"request_id": "a", "kinds": "system"})


def test_each_kind_reads_as_a_canonical_event(staff):
    audit = FACTORIES["audit"](action="user.role_changed", category="admin", result="failure",
                               resource_type="user", resource_id="7", resource_name="alice")
    usage = FACTORIES["usage"](endpoint="chat", status="error", platform_model="gpt-x")
    auth = FACTORIES["auth"](event="login.failed", result="failure", failure_reason="bad")
    system = FACTORIES["system"](source="upstream", event="timeout", level="error")
    shapes = {slug: canonical_event(registry[slug], row) for slug, row in
              (("audit", audit), ("usage", usage), ("auth", auth), ("system", system))}
    assert (shapes["audit"]["event_type"], shapes["audit"]["category"],
            shapes["audit"]["result"], shapes["audit"]["target"]) == (
        "user.role_changed", "admin", "failure",
        {"type": "user", "id": "7", "name": "alice"})
    assert (shapes["usage"]["event_type"], shapes["usage"]["severity"],
            shapes["usage"]["target"]["id"]) == ("usage.chat", "error", "gpt-x")
    assert (shapes["auth"]["event_type"], shapes["auth"]["severity"]) == (
        "auth.login.failed", "warning")
    assert (shapes["system"]["event_type"], shapes["system"]["severity"],
            shapes["system"]["result"]) == ("upstream.timeout", "error", "failure")
    for shape in shapes.values():
        assert set(shape) == {"id", "kind", "timestamp", "event_type", "category", "severity",
                              "result", "actor", "target", "context", "summary", "details"}


def test_the_page_lists_the_rows_and_links_them(staff_client):
    now = timezone.now()
    rows = _rows_of_one_request("req-page", now)
    response = staff_client.get("/logs/timeline/", {"about": "request_id", "value": "req-page"})
    assert response.status_code == 200
    body = response.content.decode()
    for _, row in rows:
        assert row.get_absolute_url() in body
    assert "auth.login" in body or "auth." in body


def test_the_page_refuses_bad_input_with_a_message(staff_client):
    response = staff_client.get("/logs/timeline/", {"about": "colour", "value": "x"})
    assert response.status_code == 400 and "about" in response.content.decode()
    response = staff_client.get("/logs/timeline/", {"request_id": "x", "page_size": "-1"})
    assert response.status_code == 400 and "page_size" in response.content.decode()


def test_the_page_needs_a_sign_in(client):
    response = client.get("/logs/timeline/", {"request_id": "x"})
    assert response.status_code == 302


def test_the_api_answers_canonical_events_and_400_naming_the_parameter(api_client):
    now = timezone.now()
    rows = _rows_of_one_request("req-api", now)
    response = api_client.get("/api/v1/timeline/", {"request_id": "req-api", "page_size": 5})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 5 and body["next_cursor"]
    first = body["results"][0]
    assert first["context"]["request_id"] == "req-api" and first["url"].startswith("/logs/")
    assert first["timestamp"].endswith("Z")
    rest = api_client.get("/api/v1/timeline/", {"request_id": "req-api", "page_size": 50,
                                                "cursor": body["next_cursor"]}).json()
    ids = [event["id"] for event in body["results"] + rest["results"]]
    assert sorted(ids) == sorted(str(row.event_id) for _, row in rows)
    response = api_client.get("/api/v1/timeline/", {"request_id": "x", "shape": "round"})
    assert response.status_code == 400 and "filters" in response.json()


def test_the_merge_reads_towards_newer_rows_too(staff):
    """`newer`: the rows just before a cursor, newest first; walking that way from the
    oldest row meets every row once, in the same order as walking down."""
    from logcenter.core.timeline import cursor_of, merged_page

    now = timezone.now().replace(microsecond=0)
    _rows_of_one_request("req-up", now)
    queries = lambda: [(kind, LogQuery.parse(kind, staff, {"request_id": "req-up"}).queryset)
                       for kind in registry if kind.slug in ("audit", "usage", "auth",
                                                               "system")]
    down, _ = merged_page(staff, queries(), 100)
    oldest = down[-1]
    seen, cursor = [oldest], cursor_of(oldest.kind, oldest.row)
    while cursor:
        entries, cursor = merged_page(staff, queries(), 5, cursor, newer=True)
        assert [e.row.occurred_at for e in entries] == sorted(
            (e.row.occurred_at for e in entries), reverse=True)
        seen = entries + seen
    assert [(e.kind.slug, e.row.pk) for e in seen] == [(e.kind.slug, e.row.pk) for e in down]


def test_numbered_pages_skip_by_keys_to_the_same_rows_as_reading_through(staff):
    """A page number (the compatibility faces') skips the rows before it by their keys
    alone: every page holds exactly the rows of the whole merge at its place, ties in time
    across kinds included."""
    from logcenter.api.faces.common import numbered_page
    from logcenter.core.timeline import merged_page

    now = timezone.now().replace(microsecond=0)
    rows = _rows_of_one_request("req-numbered", now)
    params = {"request_id": "req-numbered"}
    sources = [(registry[slug], LogQuery.parse(registry[slug], staff, params), Q(), params)
               for slug in ("audit", "usage", "auth", "system")]
    whole, _ = merged_page(staff, [(kind, query.queryset) for kind, query, _, _ in sources],
                           len(rows))
    expected = [(entry.kind.slug, entry.row.pk) for entry in whole]
    for size in (1, 2, 5):
        pages = []
        for page in range(1, len(rows) // size + 2):
            entries, _ = numbered_page(staff, sources, page, size)
            pages += [(entry.kind.slug, entry.row.pk) for entry in entries]
        assert pages == expected, size
