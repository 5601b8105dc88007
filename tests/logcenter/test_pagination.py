"""Keyset pagination: every sort walks the whole set forwards and back without gaps."""

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from logcenter.core import selectors
from logcenter.core.query import LogQuery
from logcenter.models import UsageRecord
from logcenter.core.pagination import Cursor, Total, keyset_queryset
from logcenter.core.registry import registry

pytestmark = pytest.mark.django_db


def walk(user, params):
    pages, cursor = [], None
    while True:
        query = dict(params, page_size="4", **({"cursor": cursor} if cursor else {}))
        listing = selectors.log_list(registry["usage"], user, query)
        pages.append(listing.page)
        if not listing.page.has_next:
            return pages
        cursor = listing.page.next_cursor.encode()


@pytest.mark.parametrize("ordering", ["-occurred_at", "occurred_at", "-cost", "cost",
                                      "-total_tokens", "latency_ms"])
def test_walking_all_pages_yields_every_row_once_in_order(staff, factories, ordering):
    # Ties on the sort key are broken by id, so equal costs still page correctly.
    rows = [factories["usage"](cost=Decimal(i % 3), total_tokens=i % 4, latency_ms=i % 5)
            for i in range(11)]
    pages = walk(staff, {"ordering": ordering})
    seen = [row.pk for page in pages for row in page.rows]
    key = ordering.lstrip("-")
    expected = sorted(rows, key=lambda r: (getattr(r, key), r.pk),
                      reverse=ordering.startswith("-"))
    assert seen == [r.pk for r in expected]
    assert [len(p.rows) for p in pages] == [4, 4, 3]
    assert not pages[0].has_previous and pages[1].has_previous

    # and back again from the last page
    back = selectors.log_list(registry["usage"], staff, {
        "ordering": ordering, "page_size": "4", "cursor": pages[2].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[1].rows]
    assert back.page.has_next and back.page.has_previous


def test_cursor_for_another_sort_is_rejected(staff, factories):
    factories["usage"].create_batch(3)
    first = selectors.log_list(registry["usage"], staff, {"page_size": "1"})
    token = first.page.next_cursor.encode()
    with pytest.raises(selectors.InvalidLogQuery) as info:
        selectors.log_list(registry["usage"], staff, {"ordering": "-cost", "cursor": token})
    assert "another sort order" in info.value.errors["cursor"][0]["message"]


def test_cursor_round_trip():
    from datetime import datetime, timezone

    from logcenter.models import UsageRecord

    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    cursor = Cursor("-occurred_at", when, 42, "next")
    assert Cursor.decode(cursor.encode(), "-occurred_at", UsageRecord) == cursor
    cost = Cursor("cost", Decimal("0.00012300"), 7, "prev", Total(1000, True, 867650), "ab12")
    assert Cursor.decode(cost.encode(), "cost", UsageRecord) == cost


def test_deeper_pages_show_the_first_pages_total_without_counting_again(
        staff, member, factories, staff_client, api_client):
    factories["usage"].create_batch(5)
    first = api_client.get("/api/v1/usage-records/", {"page_size": "2"}).json()
    assert first["estimated_total"] == 5
    factories["usage"].create_batch(2)  # arrivals after the first page was counted
    with CaptureQueriesContext(connection) as queries:
        second = api_client.get(first["next"]).json()
    assert second["estimated_total"] == 5 and len(second["results"]) == 2
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    # ...and carry it on, forwards and back; a new first page counts afresh.
    assert api_client.get(second["next"]).json()["estimated_total"] == 5
    assert api_client.get(second["previous"]).json()["estimated_total"] == 5
    assert api_client.get("/api/v1/usage-records/").json()["estimated_total"] == 7
    cursor = second["next"].split("cursor=")[1].split("&")[0]
    page = staff_client.get("/logs/usage/", {"page_size": "2", "cursor": cursor})
    assert "5 matching rows" in page.content.decode()
    # The same cursor under other filters counts for them; so does another viewer's.
    other = api_client.get("/api/v1/usage-records/", {"cursor": cursor, "status": "error"})
    assert other.json()["estimated_total"] == 0
    member_client = APIClient()
    member_client.force_authenticate(member)
    own = member_client.get("/api/v1/usage-records/").json()["estimated_total"]
    assert own < 7  # only their own rows...
    assert member_client.get("/api/v1/usage-records/", {"cursor": cursor}).json()[
        "estimated_total"] == own  # ...counted for them, not the staff's total carried


@pytest.mark.parametrize("total", [[-1, False, None], [5, "yes", None], [5, True, "many"],
                                   [5, True], "5"])
def test_a_cursor_with_a_malformed_total_is_a_400(staff, factories, api_client, total):
    factories["usage"].create_batch(3)
    token = Cursor("-occurred_at", timezone.now(), 1, "next").encode()
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw["t"] = total
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    response = api_client.get("/api/v1/usage-records/", {"cursor": forged})
    assert response.status_code == 400
    assert "Malformed cursor" in json.dumps(response.json())


@pytest.mark.parametrize("ordering, value, pk", [
    ("-occurred_at", "2026-12-01T00:00:00+00:00", 2**63),  # past bigint
    ("-occurred_at", "2026-12-01T00:00:00+00:00", 0),
    ("-occurred_at", -10**20, 5),  # a number where a time belongs
    ("total_tokens", 10**30, 5),
    ("-latency_ms", -10**30, 5),
    ("-cost", "1e999", 5),
    ("-cost", "NaN", 5),
])
def test_an_edited_cursor_value_is_a_400_not_a_500(staff_client, api_client, factories,
                                                     ordering, value, pk):
    factories["usage"].create_batch(2)
    token = Cursor(ordering, timezone.now(), 1, "next").encode()
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw["v"], raw["id"] = value, pk
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    query = {"cursor": forged, "ordering": ordering}
    response = api_client.get("/api/v1/usage-records/", query)
    assert response.status_code == 400
    assert "Malformed cursor" in json.dumps(response.json())
    page = staff_client.get("/logs/usage/", query)
    assert page.status_code == 400 and "Malformed cursor" in page.content.decode()


def test_total_is_capped(staff, factories, settings):
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 5}
    factories["system"].create_batch(7)
    listing = selectors.log_list(registry["system"], staff, {})
    assert (listing.total.count, listing.total.capped) == (5, True)
    if connection.vendor == "postgresql":  # the planner's guess, never below the cap
        assert listing.total.approximate >= 6
    else:  # SQLite has no planner estimate to show
        assert listing.total.approximate is None


def test_a_capped_total_is_labelled_with_the_planners_estimate(staff, factories, settings,
                                                               staff_client, api_client):
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 5}
    factories["system"].create_batch(7)
    body = api_client.get("/api/v1/system-events/").json()
    assert body["estimated_total"] == 5 and body["estimated_total_capped"] is True
    page = staff_client.get("/logs/system/").content.decode()
    assert "5+ matching rows" in page
    if connection.vendor == "postgresql":
        assert isinstance(body["approximate_total"], int) and "estimated)" in page
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": 50}
    assert api_client.get("/api/v1/system-events/").json()["approximate_total"] is None


@pytest.mark.parametrize("walk_entry_cost, probe_entries", [
    (1e12, 2000),  # the matches ranked at once
    (0, 2000),  # one probe of the sort's index holds every row
    (0, 1),  # probes of 1, 4, 16 … entries, some of them holding no match
    (1.0, 1),  # the walk stops after the first probes and ranks the rest
])
@pytest.mark.parametrize("ordering", ["-cost", "cost", "-latency_ms"])
def test_sorts_across_months_walk_the_index_in_probes_or_rank_the_matches(
        staff, factories, monkeypatch, ordering, walk_entry_cost, probe_entries):
    """Sorts other than time either walk the sort key's index in bounded probes or rank
    the matches (PostgreSQL, by the planner's estimate of them), or first one then the
    other: walking every page forwards and back yields each row once, in order, any way."""
    from datetime import timedelta

    from logcenter.engines.postgres import keyset, partitions

    monkeypatch.setattr(keyset, "PROBE_ENTRIES", probe_entries)
    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", walk_entry_cost)

    now = timezone.now()
    partitions.ensure_usage_partitions(now - timedelta(days=80), now)
    rows = [factories["usage"](occurred_at=now - timedelta(days=days, minutes=i),
                               api_key_name=key, cost=Decimal(i % 4), latency_ms=i % 3)
            for i, (days, key) in enumerate([(d, k) for d in (2, 35, 70) for k in ("a", "b")] * 2)]
    if connection.vendor == "postgresql":
        assert len(partitions.bounds_within(now - timedelta(days=90), now)) >= 2
    params = {"ordering": ordering, "range": "90d", "api_key": "a"}
    pages = walk(staff, params)
    key = ordering.lstrip("-")
    expected = sorted([r for r in rows if r.api_key_name == "a"],
                      key=lambda r: (getattr(r, key), r.pk), reverse=ordering.startswith("-"))
    assert [row.pk for page in pages for row in page.rows] == [r.pk for r in expected]
    back = selectors.log_list(registry["usage"], staff, {
        **params, "page_size": "4", "cursor": pages[-1].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[-2].rows]


@pytest.mark.postgres
@pytest.mark.parametrize("anchor_batch, ranked, rounds, max_batch", [
    (500, 2000, 2, 8000), (1, 2000, 2, 8000), (1, 2000, 2, 1), (2, 2, 1, 8000),
    (1, 1, 50, 8000), (1, 3, 2, 8000)])
@pytest.mark.parametrize("ordering", ["-cost", "latency_ms"])
def test_combined_filters_rank_one_filters_entries_and_check_the_rest_by_row(
        staff, factories, monkeypatch, ordering, anchor_batch, ranked, rounds, max_batch):
    """Two filters and a sort: the matches of the filter with fewer of them ranked on its
    index entries, `ranked` keys at a time, the candidates' rows checked against the other
    filter in batches (of 1 and 2: some without a match; a next batch sized by the share
    of matches so far, none past `max_batch`; after `rounds` rankings the rest is ranked
    as without an anchor): every page forwards and back, each row once, in order."""
    from datetime import timedelta

    from logcenter.engines.postgres import keyset, partitions

    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", 1e12)  # no walk: rank at once
    monkeypatch.setattr(keyset, "ANCHOR_BATCH", anchor_batch)
    monkeypatch.setattr(keyset, "ANCHOR_RANKED", ranked)
    monkeypatch.setattr(keyset, "ANCHOR_ROUNDS", rounds)
    monkeypatch.setattr(keyset, "ANCHOR_MAX_BATCH", max_batch)
    monkeypatch.setattr(keyset, "planned_cost", lambda queryset, **_: (  # one filter: cheaper
        1e9 if all(f in str(queryset.query) for f in ("api_key_name", "platform_model"))
        else 1.0))
    used, anchored_rows = [], keyset._anchored_rows
    monkeypatch.setattr(keyset, "_anchored_rows", lambda *args: used.append(args[0])
                        or anchored_rows(*args))
    now = timezone.now()
    partitions.ensure_usage_partitions(now - timedelta(days=80), now)
    rows = [factories["usage"](occurred_at=now - timedelta(days=days, minutes=i),
                               api_key_name=key, platform_model=model, cost=Decimal(i % 5),
                               latency_ms=i % 3)
            for i, (days, key, model) in enumerate(
                [(d, k, m) for d in (2, 35, 70) for k in ("a", "b") for m in ("gpt-4o", "o3")]
                * 2)]
    params = {"ordering": ordering, "range": "90d", "api_key": "a", "platform_model": "o3"}
    pages = walk(staff, params)
    assert len(used) == len(pages)  # every page through the anchor
    key = ordering.lstrip("-")
    expected = sorted([r for r in rows if r.api_key_name == "a" and r.platform_model == "o3"],
                      key=lambda r: (getattr(r, key), r.pk), reverse=ordering.startswith("-"))
    assert [row.pk for page in pages for row in page.rows] == [r.pk for r in expected]
    back = selectors.log_list(registry["usage"], staff, {
        **params, "page_size": "4", "cursor": pages[-1].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[-2].rows]


@pytest.mark.postgres
def test_the_anchors_candidates_are_checked_for_as_many_rows_as_the_page_needs(
        staff, factories, monkeypatch):
    """A batch of the anchor's candidates is checked by primary key in the sort's order,
    LIMITed to the rows the page still needs: a batch of 500 matches made into rows cost
    more than the page's reads."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from logcenter.engines.postgres import keyset

    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", 1e12)  # no walk: rank at once
    monkeypatch.setattr(keyset, "planned_cost", lambda queryset, **_: (
        1e9 if all(f in str(queryset.query) for f in ("api_key_name", "platform_model"))
        else 1.0))
    rows = [factories["usage"](api_key_name="a", platform_model="o3", cost=Decimal(i))
            for i in range(12)]
    with CaptureQueriesContext(connection) as queries:
        page = selectors.log_list(registry["usage"], staff, {
            "ordering": "-cost", "api_key": "a", "platform_model": "o3",
            "page_size": "4"}).page
    assert [r.pk for r in page.rows] == [r.pk for r in rows[::-1][:4]]
    checks = [q["sql"] for q in queries.captured_queries
              if '"id" IN (' in q["sql"] and "LIMIT" in q["sql"]]
    assert checks and all(check.rstrip().endswith("LIMIT 5") for check in checks), checks


def test_a_sorted_page_with_an_end_far_ahead_cuts_only_at_partitions(
        staff, factories, monkeypatch, api_client, staff_client):
    from logcenter.engines.postgres import keyset, partitions

    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", 0)  # walk the index
    factories["usage"].create_batch(3)
    params = {"ordering": "-cost", "start_time": "1970-01-01T00:00",
              "end_time": "2099-12-31T00:00"}  # the latest a query may name
    assert api_client.get("/api/v1/usage-records/", params).json()["estimated_total"] == 3
    assert staff_client.get("/logs/usage/", params).status_code == 200
    if connection.vendor == "postgresql":
        far = timezone.now().replace(year=9999)
        existing = {b for _, first, last in partitions.usage_partitions() for b in (first, last)}
        assert set(partitions.bounds_within(None, far)) == existing


@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
@pytest.mark.parametrize("filter_name, ordering", [
    ("api_key_name", "-cost"), ("platform_model", "total_tokens"), ("endpoint", "-latency_ms"),
    ("status", "cost")])
def test_a_filters_matches_are_ranked_on_index_entries_alone(
        staff, factories, on_postgres, filter_name, ordering):
    """Sorting one filter's matches by cost, tokens or latency reads their keys from the
    filter's index (it carries the sort keys): index-only, whatever the table holds. The
    page's rows are then read by primary key."""
    from logcenter.core.pagination import Cursor, keyset_queryset

    rows = factories["usage"].create_batch(6, api_key_name="k", platform_model="m",
                                           endpoint="chat", status="success")
    vacuumed_usage_table()
    filterset = LogQuery.parse(registry["usage"], staff,
                                     {filter_name: getattr(rows[0], filter_name)}).filterset
    key = ordering.lstrip("-")
    expected = sorted(rows, key=lambda r: (getattr(r, key), r.pk),
                      reverse=ordering.startswith("-"))
    # After the first row: the keyset condition is checked on index entries too.
    cursor = Cursor(ordering, getattr(expected[0], key), expected[0].pk, "next")
    ranked = keyset_queryset(filterset.qs, ordering, cursor, sort_matches=True)
    scans = scan_nodes(ranked.values_list("pk", "occurred_at")[:51])
    # Only the filter's index holds the filtered field with the sort key and the keyset.
    assert scans and all(node == "Index Only Scan" for node, _ in scans), scans
    # And the page itself: the rows after the cursor, in order.
    listing = selectors.log_list(registry["usage"], staff, {
        filter_name: getattr(rows[0], filter_name), "ordering": ordering})
    assert [r.pk for r in listing.page.rows] == [r.pk for r in expected]


@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
def test_a_filtered_page_in_time_order_reads_its_keys_from_the_filters_index(
        staff, factories, on_postgres):
    """A binding code whose newest call is older than every other call: the page's keys
    come from the filter's index alone (index-only), not from a walk down the time index
    checking each newer row; then the page's rows by primary key."""
    now = timezone.now()
    old = [factories["usage"](binding_code="b-old",
                              occurred_at=now - timedelta(hours=5, minutes=i)) for i in range(3)]
    factories["usage"].create_batch(20, binding_code="", occurred_at=now - timedelta(minutes=5))
    vacuumed_usage_table()
    with CaptureQueriesContext(connection) as queries:
        listing = selectors.log_list(registry["usage"], staff, {"binding_code": "b-old"})
    assert [r.pk for r in listing.page.rows] == [r.pk for r in old]
    keys = [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith('SELECT "logcenter_usagerecord"."id" AS "pk", '
                                   '"logcenter_usagerecord"."occurred_at" AS "occurred_at"')]
    assert len(keys) == 1
    scans = scan_nodes_of_sql(keys[0])
    assert scans and all(node == "Index Only Scan" and "(binding_code, occurred_at, id)"
                         in _index_definition(name) for node, name in scans), scans


def scan_nodes(queryset):
    """[(node type, index name)] of the usage table's scans in the plan of `queryset`, the
    planner choosing among index scans (a handful of rows: the cheapest is otherwise a
    sequential scan, whatever the indexes)."""
    return scan_nodes_of_sql(*queryset.query.sql_with_params())


def scan_nodes_of_sql(sql, params=()):
    """scan_nodes() of a query's SQL."""
    import json as json_module

    from django.db import transaction

    with transaction.atomic(), connection.cursor() as db:
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_bitmapscan = off")
        db.execute("EXPLAIN (FORMAT JSON) " + sql, params or None)
        plan = db.fetchone()[0]
    plan = json_module.loads(plan) if isinstance(plan, str) else plan
    scans = []

    def collect(node):
        if node.get("Relation Name", "").startswith("logcenter_usagerecord"):
            scans.append((node["Node Type"], node.get("Index Name", "")))
        for child in node.get("Plans", []):
            collect(child)

    collect(plan[0]["Plan"])
    return scans


def vacuumed_usage_table():
    """As autovacuum would leave it: earlier tests' rolled-back rows leave the indexes
    bloated, which changes the planner's costs; the pages become all-visible."""
    from logcenter.engines.postgres import db_roles

    with db_roles.as_owner(), connection.cursor() as db:  # the owner's maintenance
        db.execute("REINDEX TABLE logcenter_usagerecord")
        db.execute("VACUUM ANALYZE logcenter_usagerecord")


@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
@pytest.mark.parametrize("filters", [
    {"platform_model": "m", "endpoint": "chat", "status": "success"},
    {"upstream_model": "u", "protocol": "gemini", "is_stream": "true"},
    {"protocol": "gemini", "endpoint": "chat", "exclude_status": "error"},
    {"api_key": "k", "endpoint": "chat", "exclude_status": "error"}])
def test_combined_filters_check_the_carried_ones_on_the_anchors_index_entries(
        staff, factories, on_postgres, filters):
    """Two or three filters: the anchor (the most selective) is applied with the other
    filters its index carries (the few-valued columns), so its candidates rank index-only
    with every such filter checked on the entries, and the page holds exactly the rows
    matching them all. The API key filter (name or id) anchors on the column holding it."""
    from logcenter.core.pagination import keyset_queryset
    from logcenter.engines.postgres import keyset

    matching = factories["usage"].create_batch(
        4, upstream_model="u", platform_model="m", endpoint="chat", status="success",
        protocol="gemini", is_stream=True, api_key_name="k")
    factories["usage"].create_batch(3, upstream_model="u", platform_model="m", api_key_name="k",
                                    endpoint="embedding", status="error", protocol="openai",
                                    is_stream=False)
    vacuumed_usage_table()
    filterset = LogQuery.parse(registry["usage"], staff,
                               {**filters, "ordering": "-cost"}).filterset
    window = filterset.within_window(UsageRecord.objects.all(), margin=keyset.WINDOW_MARGIN)
    anchor = keyset._anchor(filterset, window)
    where = str(anchor.query).split("WHERE", 1)[1]
    columns = {"api_key": "api_key_name"}
    applied = {name for name in filters if '"logcenter_usagerecord"."{}"'.format(
        columns.get(name, filterset.filters[name].field_name)) in where}
    carried = {"endpoint", "protocol", "is_stream", "status", "exclude_status"}
    # The anchor, with every few-valued filter (each filter index carries their columns).
    assert applied >= carried & set(filters) and len(applied) >= len(filters) - 1, where
    ranked = keyset_queryset(anchor, "-cost", None, sort_matches=True)
    scans = scan_nodes(ranked.values_list("cost", "pk", "occurred_at")[:500])
    assert scans and all(node == "Index Only Scan" for node, _ in scans), scans
    listing = selectors.log_list(registry["usage"], staff, {**filters, "ordering": "-cost"})
    expected = sorted(matching, key=lambda r: (r.cost, r.pk), reverse=True)
    assert [r.pk for r in listing.page.rows] == [r.pk for r in expected]


@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
@pytest.mark.parametrize("ordering", ["-occurred_at", "occurred_at"])
def test_combined_filters_in_time_order_read_the_keys_first(
        staff, factories, on_postgres, ordering):
    """Time order under combined filters: the page's keys come from one filter's index
    entries with the carried filters checked on them (index-only), then its rows by primary
    key; every page forwards and back holds each matching row once, in order."""
    from logcenter.core.pagination import keyset_queryset

    now = timezone.now()
    rows = [factories["usage"](occurred_at=now - timedelta(minutes=i), upstream_name="u",
                               is_stream=i % 3 == 0, endpoint=("chat", "embedding")[i % 2])
            for i in range(40)]
    vacuumed_usage_table()
    # Each of the three filters' indexes carries the other two's columns.
    params = {"upstream_name": "u", "is_stream": "true", "endpoint": "chat",
              "ordering": ordering}
    filterset = LogQuery.parse(registry["usage"], staff, params).filterset
    keys = keyset_queryset(filterset.qs, ordering, None).values_list("pk", "occurred_at")[:5]
    scans = scan_nodes(keys)
    assert scans and all(node == "Index Only Scan" for node, _ in scans), scans
    with CaptureQueriesContext(connection) as queries:
        pages = walk(staff, params)
    # The keys, then the rows: no page reads whole rows in the walk of an index.
    keys_read = [q for q in queries.captured_queries if q["sql"].startswith(
        'SELECT "logcenter_usagerecord"."id" AS "pk", "logcenter_usagerecord"."occurred_at" '
        'AS "occurred_at" FROM')]
    assert len(keys_read) == len(pages) > 1
    expected = sorted([r for r in rows if r.is_stream and r.endpoint == "chat"],
                      key=lambda r: (r.occurred_at, r.pk), reverse=ordering.startswith("-"))
    assert [row.pk for page in pages for row in page.rows] == [r.pk for r in expected]
    back = selectors.log_list(registry["usage"], staff, {
        **params, "page_size": "4", "cursor": pages[-1].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[-2].rows]


def test_deeper_sorted_pages_take_their_total_from_the_cursor(
        staff, factories, api_client, on_postgres, monkeypatch):
    """A page sorted by cost asks the planner how many rows match, for its total (on the
    first page, from the ranking's plan); the pages after it show the total their cursor
    carries, and do not ask again."""
    from logcenter.engines.postgres import keyset

    asked = []
    for name in ("_matches", "planned_rows"):
        monkeypatch.setattr(keyset, name, lambda *args, real=getattr(keyset, name), name=name:
                            asked.append(name) or real(*args))
    factories["usage"].create_batch(5)
    params = {"page_size": "2", "ordering": "-cost"}
    first = api_client.get("/api/v1/usage-records/", params).json()
    assert asked == ["_matches"]
    second = api_client.get(first["next"]).json()
    assert asked == ["_matches"]
    third = api_client.get(second["next"]).json()
    costs = [r["cost"] for page in (first, second, third) for r in page["results"]]
    assert [Decimal(c) for c in costs] == sorted((Decimal(c) for c in costs), reverse=True)
    assert len(costs) == 5 and second["estimated_total"] == 5
    # Under other filters the carried total is not theirs: the planner is asked again.
    api_client.get("/api/v1/usage-records/", {
        "cursor": first["next"].split("cursor=")[1].split("&")[0], "ordering": "-cost",
        "status": "error"})
    assert asked == ["_matches", "planned_rows"]


def test_a_sorted_row_purged_between_ranking_and_reading_keeps_the_next_link(
        staff, factories, monkeypatch):
    """Sorted matches are ranked on their keys, then read: a row purged in between is
    left out, and the page still links on to the rows after it."""
    from logcenter.core import pagination
    from logcenter.models import UsageRecord

    rows = factories["usage"].create_batch(5)
    real = pagination.sorted_matches

    def one_purged(ordered, limit):
        found, ranked = real(ordered, limit)
        return found[1:], ranked  # the first ranked row was gone when the rows were read

    monkeypatch.setattr(pagination, "sorted_matches", one_purged)
    page = pagination.keyset_page(UsageRecord.objects.filter(pk__in=[r.pk for r in rows]),
                                  "-cost", None, 2, sort_matches=True)
    assert len(page.rows) == 2 and page.has_next


def test_a_forged_total_in_a_cursor_is_not_believed(staff, factories, api_client):
    """A cursor's total is sealed with the server's key: one edited by hand (a small
    count, to make a deeper sorted page sort every match) is counted afresh."""
    factories["usage"].create_batch(5)
    first = api_client.get("/api/v1/usage-records/", {"page_size": "2",
                                                      "ordering": "-cost"}).json()
    token = first["next"].split("cursor=")[1].split("&")[0]
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["t"] = [1, False, None]
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    page = api_client.get("/api/v1/usage-records/", {"page_size": "2", "ordering": "-cost",
                                                     "cursor": forged}).json()
    assert page["estimated_total"] == 5  # counted, not the forged 1


def _three_bands(factories, now):
    """A "mid" model whose calls lie between cheaper and dearer calls of other models, in
    every sort key: a walk down the sort's own index meets the others first."""
    rows = {}
    for model, base in (("low", 0), ("mid", 1000), ("high", 5000)):
        rows[model] = [factories["usage"](
            occurred_at=now - timedelta(hours=i), platform_model=model, upstream_model=model,
            status="success", api_key_name=f"key-{model}", cost=Decimal(base + i),
            latency_ms=base + i, prompt_tokens=base + i, completion_tokens=0,
            total_tokens=base + i) for i in range(12)]
    return rows


def _index_definition(name):
    with connection.cursor() as db:
        db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        return db.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.parametrize("params, field, ordering", [
    ({"platform_model": "mid"}, "platform_model", "-cost"),
    ({"platform_model": "mid", "status": "success"}, "platform_model", "total_tokens"),
    ({"api_key": "key-mid"}, "api_key_name", "-total_tokens"),
    ({"upstream_model": "mid"}, "upstream_model", "cost"),
])
def test_a_filter_whose_index_holds_its_rows_in_the_sorts_order_is_walked_down_that_index(
        staff, factories, monkeypatch, params, field, ordering):
    """A model's (or key's) costliest calls, the model's calls lying between other models'
    in every sort key: the walk goes down the model's own index in cost order (envelope_
    indexes `paired`), meeting its calls only; the pages are those of the sort, forwards
    and back."""
    from logcenter.engines.postgres import keyset

    monkeypatch.setattr(keyset, "PROBE_ENTRIES", 2)
    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", 0)  # walk the index
    rows = _three_bands(factories, timezone.now())
    key = ordering.lstrip("-")
    filterset = LogQuery.parse(registry["usage"], staff, {**params, "range": "7d"}).filterset
    window = keyset._paired_window(filterset, UsageRecord.objects.all(), key)
    assert window is not None
    scans = scan_nodes(keyset_queryset(window, ordering, None).values_list(key, "id")[:3])
    assert scans and all(f"({field}, {key}, id, occurred_at)" in _index_definition(name)
                         for _, name in scans), scans
    pages = walk(staff, {**params, "ordering": ordering, "range": "7d"})
    expected = sorted(rows["mid"], key=lambda r: (getattr(r, key), r.pk),
                      reverse=ordering.startswith("-"))
    assert [row.pk for page in pages for row in page.rows] == [r.pk for r in expected]
    back = selectors.log_list(registry["usage"], staff, {
        **params, "ordering": ordering, "range": "7d", "page_size": "4",
        "cursor": pages[-1].prev_cursor.encode()})
    assert [r.pk for r in back.page.rows] == [r.pk for r in pages[-2].rows]


@pytest.mark.postgres
@pytest.mark.parametrize("params", [{"platform_model": ["mid", "low"]},
                                    {"exclude_platform_model": "mid"},
                                    {"platform_model": "mid"}])
def test_only_a_filter_of_one_value_walks_its_own_sorted_index(staff, params):
    """Several values' rows are not in one order in the index, nor are a negation's; nor has
    latency such an index."""
    from logcenter.engines.postgres import keyset

    filterset = LogQuery.parse(registry["usage"], staff, params).filterset
    paired = keyset._paired_window(filterset, UsageRecord.objects.all(), "cost")
    assert (paired is not None) == (params == {"platform_model": "mid"})
    assert keyset._paired_window(filterset, UsageRecord.objects.all(), "latency_ms") is None


@pytest.mark.postgres
def test_a_walk_reads_what_its_budget_has_left_in_its_last_probe(
        staff, factories, monkeypatch):
    """Probes of 2 then 8 entries, within a budget of 7: the second probe reads 5 (not
    none), and the pages are the sort's, forwards and back."""
    from logcenter.engines.postgres import keyset

    monkeypatch.setattr(keyset, "PROBE_ENTRIES", 2)
    monkeypatch.setattr(keyset, "WALK_ENTRY_COST", 1.0)
    monkeypatch.setattr(keyset, "WALK_SHARE", 1.0)
    monkeypatch.setattr(keyset, "PAIRED_ENTRY_FACTOR", 1.0)
    monkeypatch.setattr(keyset, "planned_cost", lambda queryset, **_: 7.0)
    rows = _three_bands(factories, timezone.now())
    params = {"platform_model": "low", "ordering": "-cost", "range": "7d"}
    with CaptureQueriesContext(connection) as queries:
        first = selectors.log_list(registry["usage"], staff, {**params, "page_size": "4"})
    probes = [q["sql"] for q in queries.captured_queries if "LIMIT 1 OFFSET" in q["sql"]]
    assert [sql.rsplit("OFFSET", 1)[1].strip() for sql in probes] == ["1", "4"]
    assert [r.pk for r in first.page.rows] == [
        r.pk for r in sorted(rows["low"], key=lambda r: (r.cost, r.pk), reverse=True)[:4]]
    pages = walk(staff, params)
    expected = sorted(rows["low"], key=lambda r: (r.cost, r.pk), reverse=True)
    assert [row.pk for page in pages for row in page.rows] == [r.pk for r in expected]


@pytest.mark.parametrize("params", [{"platform_model": "m"},
                                    {"platform_model": "m", "status": "success"},
                                    {"platform_model": "m", "q": "m"}])
@pytest.mark.parametrize("created, cap", [(7, 5), (3, 5)])
def test_a_lists_count_stops_at_the_cap(staff, factories, settings, params, created, cap):
    """The total beside a page counts up to the cap: on PostgreSQL the first matches in
    page order where that plan reads a filter's index, which holds them so (not with a
    search, whose text index hands over its candidates unordered)."""
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": cap}
    factories["usage"].create_batch(created, platform_model="m", status="success")
    factories["usage"].create_batch(2, platform_model="other", status="success")
    with CaptureQueriesContext(connection) as queries:
        listing = selectors.log_list(registry["usage"], staff, {**params, "page_size": "2"})
        total = listing.total
    assert (total.count, total.capped) == (min(created, cap), created > cap)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    if "q" in params or connection.vendor != "postgresql":
        assert "ORDER BY" not in counts[0]


def _merge_counted(user, params, cap, monkeypatch):
    """(the list's total, the COUNT statements it ran) where the plan in page order would
    walk the time index (as on the 10M-row table, for filters that keep few of each
    other's matches; a small table's plans differ)."""
    from logcenter.engines.postgres import keyset

    monkeypatch.setattr(keyset, "_walks_time_index", lambda plan: True)
    with CaptureQueriesContext(connection) as queries:
        total = selectors.log_list(registry["usage"], user, {**params, "page_size": "2"}).total
    return total, [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.postgres
@pytest.mark.parametrize("created, cap", [(7, 5), (5, 5), (3, 5)])
def test_filters_that_keep_few_of_each_others_matches_are_counted_on_index_entries(
        staff, factories, settings, monkeypatch, created, cap):
    """A key, a channel and streamed: the key's and the channel's index entries (which
    carry `is_stream`) merged in page order, stopping at the cap; rows that match one side
    only, or not streamed, are not counted."""
    settings.LOGCENTER = {**settings.LOGCENTER, "COUNT_CAP": cap}
    usage = factories["usage"]
    usage.create_batch(created, api_key_name="k", channel_id="ch", is_stream=True)
    usage.create_batch(3, api_key_name="k", channel_id="other", is_stream=True)
    usage.create_batch(3, api_key_name="other", channel_id="ch", is_stream=True)
    usage.create_batch(2, api_key_name="k", channel_id="ch", is_stream=False)
    total, counts = _merge_counted(staff, {"api_key": "k", "channel_id": "ch",
                                           "is_stream": "true"}, cap, monkeypatch)
    assert (total.count, total.capped) == (min(created, cap), created > cap)
    assert len(counts) == 1 and " JOIN " in counts[0]


@pytest.mark.postgres
def test_the_merged_count_reads_its_sides_indexes_in_page_order_and_restores_the_settings(
        staff, factories, monkeypatch):
    """Its plan merges the two indexes' entries (no hash, no sort, no bitmap: each of those
    reads every candidate first), and the settings it takes last for that statement only,
    inside the caller's transaction too."""
    from django.db import transaction

    from logcenter.engines.postgres import keyset

    factories["usage"].create_batch(3, api_key_name="k", channel_id="ch")
    with transaction.atomic():
        total, counts = _merge_counted(staff, {"api_key": "k", "channel_id": "ch"}, 5,
                                       monkeypatch)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_hashjoin'), "
                           "current_setting('enable_sort')")
            assert cursor.fetchone() == ("on", "on")
    assert total.count == 3 and len(counts) == 1
    with keyset._merged_in_order() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + counts[0])
        plan = cursor.fetchone()[0]
    nodes = {node["Node Type"] for node in keyset._nodes(
        (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])}
    assert "Merge Join" in nodes
    assert not nodes & {"Hash Join", "Sort", "Bitmap Heap Scan", "Seq Scan"}, nodes


@pytest.mark.postgres
@pytest.mark.parametrize("params", [
    {"api_key": "k"},  # one side: the plan in page order reads its index already
    {"api_key": "k", "channel_id": ["ch", "other"]},  # several values: no order of their own
    {"api_key": "k", "channel_id": "ch", "metadata": "env=prod"},  # no index carries it
])
def test_a_count_no_merge_can_check_is_counted_as_before(staff, factories, monkeypatch,
                                                         params):
    factories["usage"].create_batch(3, api_key_name="k", channel_id="ch",
                                    metadata={"env": "prod"})
    total, counts = _merge_counted(staff, params, 5, monkeypatch)
    assert total.count == 3 and len(counts) == 1 and " JOIN " not in counts[0]


@pytest.mark.postgres
def test_a_scoped_viewers_count_is_not_merged(factories, monkeypatch):
    """An organization's admin sees their organization's rows only: no side's index holds
    that scope, so their count stays the list's own (and never counts another's rows)."""
    from tests.factories import MembershipFactory, OrganizationFactory

    admin = MembershipFactory(role="admin", organization=OrganizationFactory(
        plan="enterprise")).user
    ours = admin.membership.organization.public_id
    factories["usage"].create_batch(3, api_key_name="k", channel_id="ch", organization_id=ours)
    factories["usage"].create_batch(3, api_key_name="k", channel_id="ch",
                                    organization_id="org_other")
    total, counts = _merge_counted(admin, {"api_key": "k", "channel_id": "ch"}, 5, monkeypatch)
    assert total.count == 3 and len(counts) == 1 and " JOIN " not in counts[0]


@pytest.mark.postgres
def test_another_kinds_count_is_not_merged(staff, factories, monkeypatch):
    """The audit tab leaves out record views, a rule of its list that no filter's index
    checks: its count stays the list's own."""
    from logcenter.core.filters import RECORD_VIEWED
    from logcenter.engines.postgres import keyset

    monkeypatch.setattr(keyset, "_walks_time_index", lambda plan: True)
    factories["audit"].create_batch(3, actor_name="a", actor_id="1", action="user.updated")
    factories["audit"].create_batch(3, actor_name="a", actor_id="1", action=RECORD_VIEWED)
    with CaptureQueriesContext(connection) as queries:
        total = selectors.log_list(registry["audit"], staff, {
            "actor_name": "a", "actor_id": "1", "page_size": "2"}).total
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert total.count == 3 and len(counts) == 1 and " JOIN " not in counts[0]


@pytest.mark.postgres
def test_a_plan_walking_the_time_index_is_told_from_one_reading_a_filters_index():
    """What count_listed checks before counting in page order: a scan whose index
    condition starts with the time is the time index's (every filter's index leads with its
    own column), wherever it lies in the plan."""
    from logcenter.engines.postgres.keyset import _walks_time_index

    time_walk = {"Node Type": "Index Scan",
                 "Index Cond": "((occurred_at >= '2026-11-05') AND (occurred_at < '2026-12-05'))",
                 "Filter": "((api_key_name)::text = 'k'::text)"}
    filter_walk = {"Node Type": "Index Scan",
                   "Index Cond": "(((api_key_name)::text = 'k'::text) AND (occurred_at >= x))"}
    appended = {"Node Type": "Limit", "Plans": [{"Node Type": "Append",
                                                  "Plans": [filter_walk, time_walk]}]}
    assert _walks_time_index(time_walk) and _walks_time_index(appended)
    assert not _walks_time_index(filter_walk)
    assert not _walks_time_index({"Node Type": "Limit", "Plans": [filter_walk]})


def test_a_first_page_holding_every_match_is_its_own_count(factories, api_client):
    """Its rows are the count: no second read of the matches (which, for filters that
    match nothing together, read every candidate again)."""
    factories["system"].create_batch(3)

    def counted(params):
        with CaptureQueriesContext(connection) as queries:
            body = api_client.get("/api/v1/system-events/", params).json()
        return body["estimated_total"], body["estimated_total_capped"], any(
            "COUNT(" in q["sql"].upper() for q in queries.captured_queries)

    assert counted({}) == (3, False, False)
    assert counted({"page_size": "2"}) == (3, False, True)  # a next page: counted


def test_a_parallel_plans_cost_counts_every_process_when_asked(monkeypatch):
    """A parallel plan's cost is each process's share (PostgreSQL divides it by 2.4 for two
    workers and the leader); a walk is one process's work, so a page of one filter compares
    it with the work of them all."""
    from logcenter.engines.postgres import keyset

    plans = {"serial": {"Total Cost": 100.0, "Plans": [{"Node Type": "Index Only Scan"}]},
             "parallel": {"Total Cost": 100.0, "Plans": [
                 {"Node Type": "Gather Merge", "Workers Planned": 2, "Plans": []}]}}
    monkeypatch.setattr(keyset, "_plan", lambda queryset: plans[queryset])
    assert keyset.planned_cost("serial", every_process=True) == 100.0
    assert keyset.planned_cost("parallel") == 100.0
    assert keyset.planned_cost("parallel", every_process=True) == pytest.approx(240.0)


@pytest.mark.postgres
@pytest.mark.parametrize("parallel", [False, True])
def test_the_rankings_plan_gives_the_first_pages_estimate(staff, factories, parallel):
    """A sorted first page takes its estimate of the matches from the ranking's plan (one
    EXPLAIN fewer): the rows under its LIMIT, a parallel plan's counted for every process,
    as planned_rows() estimates them."""
    from django.db import connection

    from logcenter.core.pagination import keyset_queryset
    from logcenter.core.query import LogQuery
    from logcenter.engines.postgres import keyset

    for i in range(300):
        factories["usage"](platform_model="o3" if i % 3 else "gpt-4o", cost=Decimal(i))
    with connection.cursor() as cursor:  # the planner knows the rows (the owner's ANALYZE)
        cursor.execute("SELECT logcenter_analyze(inhrelid::regclass::text) FROM pg_inherits "
                       "WHERE inhparent = 'logcenter_usagerecord'::regclass")
        if parallel:  # a parallel plan however small the table
            for setting in PARALLEL_ANYWAY:
                cursor.execute(f"SET {setting} = 0")
    try:
        query = LogQuery.parse(registry["usage"], staff, {"platform_model": "o3",
                                                          "ordering": "-cost"})
        ranking = keyset_queryset(query.queryset, "-cost", None, sort_matches=True)
        plan = keyset._plan(ranking.values_list("pk", "occurred_at")[:51])
        gathered = plan["Plans"][0]["Node Type"] in ("Gather", "Gather Merge")
        assert gathered == parallel, plan
        assert keyset._matches(plan) == pytest.approx(keyset.planned_rows(query.queryset),
                                                      abs=2)
    finally:
        with connection.cursor() as cursor:  # only these: the session's other settings stay
            for setting in PARALLEL_ANYWAY:
                cursor.execute(f"RESET {setting}")


PARALLEL_ANYWAY = ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size",
                   "min_parallel_index_scan_size")
