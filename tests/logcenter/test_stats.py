"""Usage stats and buckets: rollups equal the raw rows, local-time buckets, limits, scope."""

import random
import time
import uuid
import zoneinfo
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.db.models import Sum
from django.db.models.functions import TruncDay, TruncHour
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from logcenter.analytics import rollups, stats
from logcenter.engines.orm.engine import OrmEngine
from logcenter.engines.postgres.engine import PostgresEngine
from logcenter.ingest.ingestion import ingest
from logcenter.models import (USAGE_ROLLUPS, UsageHourly, UsageHourlyByKey, UsageHourlyByModel,
                              UsageHourlyByUser, UsageHourlyByUserOnly, UsageRecord,
                              UsageRollupInbox)
from logcenter.analytics.rollups import rollup_rebuild
from tests.factories import MemberFactory, StaffFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db

MODELS = ["gpt-4o", "claude-sonnet-4", "qwen-max"]
USERS = ["ana", "ben", "cai"]


def random_rows(rng, n, days=3):
    now = timezone.now()
    for _ in range(n):
        UsageRecordFactory(
            occurred_at=now - timedelta(seconds=rng.randint(0, days * 86400)),
            platform_model=rng.choice(MODELS), username=rng.choice(USERS),
            user_id=str(rng.randint(1, 3)), group=rng.choice(["default", "vip"]),
            status=rng.choice(["success", "success", "error"]),
            upstream_name=rng.choice(["openai", "aliyun"]),
            cost=Decimal(rng.randint(0, 10**7)) / Decimal(10**8),
            prompt_tokens=rng.randint(0, 5000), completion_tokens=rng.randint(0, 900),
            cached_tokens=rng.randint(0, 100), quota=rng.randint(0, 10**5),
            latency_ms=rng.randint(10, 9000))


def snapshot():
    return {r.__name__: sorted(r.objects.values_list("hour", *r.DIMENSIONS, "requests",
                                                     "cost", "total_tokens"))
            for r in USAGE_ROLLUPS}


def test_rollups_are_kept_current_and_equal_a_rebuild():
    random_rows(random.Random(1), 40)
    live = snapshot()
    rollup_rebuild()
    assert snapshot() == live
    for rows in live.values():
        assert sum(r[-3] for r in rows) == 40


def test_the_narrowest_covering_rollup_is_read(staff):
    assert stats.parse(staff, {}, group_by="model").rollup is UsageHourlyByModel
    assert stats.parse(staff, {}, group_by="user").rollup is UsageHourlyByUserOnly
    assert stats.parse(staff, {}, group_by="api_key").rollup is UsageHourlyByKey
    assert stats.parse(staff, {"api_key": "k"}, group_by="api_key").rollup is UsageHourlyByKey
    assert stats.parse(staff, {}, group_by="api_key,status").rollup is UsageHourly
    assert stats.parse(staff, {}, group_by="user,status").rollup is UsageHourlyByUser
    assert stats.parse(staff, {"status": "error"}, group_by="user").rollup is UsageHourlyByUser
    assert stats.parse(staff, {"platform_model": "x"}, group_by="user").rollup is UsageHourly
    member = MemberFactory(username="narrow")
    assert stats.parse(member, {}, group_by="model").rollup is UsageHourly
    assert stats.parse(member, {}, group_by="api_key").rollup is UsageHourly  # needs user_id
    assert stats.parse(member, {}).rollup is UsageHourlyByUserOnly
    assert stats.parse(member, {}, group_by="status").rollup is UsageHourlyByUser


def test_whole_number_sums_are_read_as_ints_and_money_as_decimals(staff):
    """Every piece of a stats answer (raw rows, the rollup, grouped together or alone) sums
    tokens and requests as ints and cost as Decimal: PostgreSQL sums integers as numeric,
    which came back as Decimals, slower to read, cache and add up."""
    from logcenter.engines import engine_for

    random_rows(random.Random(7), 40)
    query = stats.parse(staff, {"range": "7d"})
    whole, by_model = stats.regroup(query, ""), stats.regroup(query, "model")
    engine = engine_for(UsageRecord)
    seen = 0
    for source in ("auto", "raw"):
        answers = []
        for a, b in zip(stats._pieces(whole, None, source), stats._pieces(by_model, None, source)):
            answers += [stats._grouped(*a, whole), stats._grouped(*b, by_model),
                        *engine.grouped_together([(a, whole), (b, by_model)])]
        for rows in answers:
            for _, _, sums in rows:
                seen += 1
                assert all(type(sums[m]) is int for m in sums
                           if m not in stats.COST_MEASURES), sums
    assert seen


@pytest.mark.parametrize("seed", range(6))
def test_rollup_answers_equal_raw_to_the_cent_for_random_filters_and_ranges(seed, staff):
    rng = random.Random(seed)
    random_rows(rng, 60)
    now = timezone.now()
    for _ in range(5):
        start = now - timedelta(seconds=rng.randint(3600, 3 * 86400))
        end = start + timedelta(seconds=rng.randint(60, 2 * 86400))
        params = {"start_time": start.isoformat(), "end_time": min(end, now).isoformat()}
        for name, values in (("platform_model", MODELS), ("username", USERS),
                             ("group", ["default", "vip"]), ("status", ["error"])):
            if rng.random() < 0.4:
                params[name] = rng.choice(values)
        group_by = rng.choice(["", "model", "user,model", "upstream"])
        query = stats.parse(staff, params, group_by=group_by)
        assert query.rollup_ok
        auto = stats.totals(query)
        raw = stats.totals(stats.parse(staff, params, group_by=group_by), source="raw")
        key = lambda r: tuple(str(r.get(g)) for g in ["model", "user", "upstream"])  # noqa
        assert sorted(auto, key=key) == sorted(raw, key=key)
        width = rng.choice(["1h", "1d"])
        assert (stats.buckets(stats.parse(staff, params, group_by=group_by), width)
                == stats.buckets(stats.parse(staff, params, group_by=group_by), width,
                                 source="raw"))


def test_filters_the_rollup_cannot_answer_fall_back_to_raw(staff):
    UsageRecordFactory(protocol="anthropic", cost=Decimal("1"))
    UsageRecordFactory(protocol="openai", cost=Decimal("2"))
    query = stats.parse(staff, {"protocol": "anthropic"})
    assert not query.rollup_ok
    assert stats.totals(query)[0]["cost"] == "1.00000000"


def test_daily_buckets_follow_the_users_timezone(client):
    user = StaffFactory(username="taipei", timezone="Asia/Taipei")
    taipei_midnight = datetime(2026, 11, 20, 16, 0, tzinfo=dt_timezone.utc)  # 00:00 +08
    UsageRecordFactory(occurred_at=taipei_midnight - timedelta(minutes=1), cost=Decimal("1"))
    UsageRecordFactory(occurred_at=taipei_midnight + timedelta(minutes=1), cost=Decimal("2"))
    client.force_login(user)
    body = client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1d", "start_time": "2026-11-19T16:00:00Z",
        "end_time": "2026-11-21T16:00:00Z"}).json()
    assert [b["start_time"] for b in body["data"]] == ["2026-11-19T16:00:00Z",
                                                       "2026-11-20T16:00:00Z"]
    assert [b["results"][0]["cost"] for b in body["data"]] == ["1.00000000", "2.00000000"]
    assert body["has_more"] is False


def test_empty_buckets_are_zeros_and_grouped_results_name_the_group(api_client):
    at = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    UsageRecordFactory(occurred_at=at + timedelta(minutes=5), platform_model="gpt-4o")
    body = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1h", "start_time": at.isoformat(),
        "end_time": (at + timedelta(hours=3)).isoformat()}).json()
    assert len(body["data"]) == 3
    assert body["data"][0]["results"][0]["requests"] == 1
    assert body["data"][1]["results"] == [{**body["data"][1]["results"][0], "requests": 0}]
    grouped = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1h", "group_by": "model", "start_time": at.isoformat(),
        "end_time": (at + timedelta(hours=3)).isoformat()}).json()
    assert grouped["data"][0]["results"][0]["model"] == "gpt-4o"
    assert grouped["data"][1]["results"] == []


@pytest.mark.parametrize("params, field", [
    ({"bucket_width": "1w"}, "bucket_width"),
    ({"bucket_width": "1h", "start_time": "2026-01-01T00:00:00Z",
      "end_time": "2026-03-01T00:00:00Z"}, "bucket_width"),
    ({"bucket_width": "1m", "start_time": "2026-01-01T00:00:00Z",
      "end_time": "2026-01-03T00:00:00Z"}, "bucket_width"),
    ({"group_by": "planet"}, "group_by"),
    ({"limit": "0"}, "limit"),
    ({"start_time": "soon"}, "start_time"),
])
def test_bad_bucket_parameters_are_400(api_client, params, field):
    response = api_client.get("/api/v1/usage/buckets/", params)
    assert response.status_code == 400 and field in response.json()


def test_paging_through_buckets(api_client):
    body = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1d", "limit": "2", "start_time": "2026-11-01T00:00:00Z",
        "end_time": "2026-11-06T00:00:00Z"}).json()
    assert len(body["data"]) == 2 and body["has_more"]
    second = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1d", "limit": "2", "page": body["next_page"],
        "end_time": "2026-11-06T00:00:00Z"}).json()
    assert second["data"][0]["start_time"] == "2026-11-03T00:00:00Z"


def test_members_see_only_their_own_stats_and_buckets():
    member = MemberFactory(username="me-stats")
    UsageRecordFactory(user_id=str(member.pk), cost=Decimal("1.5"))
    UsageRecordFactory(user_id="other", cost=Decimal("9"))
    api = APIClient()
    api.force_authenticate(member)
    assert api.get("/api/v1/usage/stats/").json()["cost"] == "1.50000000"
    data = api.get("/api/v1/usage/buckets/", {"bucket_width": "1h"}).json()["data"]
    assert sum(Decimal(r["cost"]) for b in data for r in b["results"]) == Decimal("1.5")
    support = StaffFactory(username="sup-stats", roles=["Support"])
    api.force_authenticate(support)
    assert "cost" not in api.get("/api/v1/usage/stats/").json()


def test_all_time_stats_start_at_the_first_visible_row(api_client):
    UsageRecordFactory(occurred_at=timezone.now() - timedelta(days=200), cost=Decimal("2"))
    UsageRecordFactory(cost=Decimal("1"))
    assert api_client.get("/api/v1/usage/stats/?range=all").json()["cost"] == "3.00000000"
    assert api_client.get("/api/v1/usage/stats/").json()["cost"] == "1.00000000"


def ingested_rows(rng, n, hours=30):
    now = timezone.now()
    return [{
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": (now - timedelta(seconds=rng.randint(0, hours * 3600))).isoformat(),
        "platform_model": rng.choice(MODELS), "username": rng.choice(USERS),
        "user_id": str(rng.randint(1, 3)), "status": rng.choice(["success", "error"]),
        "cost": f"{rng.randint(0, 10**7) / 10**8:.8f}", "prompt_tokens": rng.randint(0, 5000),
        "completion_tokens": rng.randint(0, 900), "latency_ms": rng.randint(10, 9000),
    } for _ in range(n)]


@pytest.mark.postgres  # the PostgreSQL engine's rollup inbox (the portable engine adds to the rollups at once)
def test_ingested_sums_wait_in_the_inbox_and_stats_stay_exact_until_and_after_the_fold(
        staff, monkeypatch):
    monkeypatch.setattr(rollups, "_last_fold_request", time.monotonic())  # no fold yet
    rng = random.Random(7)
    assert ingest(ingested_rows(rng, 120), kind_slug="usage").accepted == 120
    assert UsageRollupInbox.objects.aggregate(n=Sum("requests"))["n"] == 120
    assert not UsageHourly.objects.exists()
    params = {"range": "7d"}

    def answers():
        return [stats.totals(stats.parse(staff, params, group_by=g), source=s)
                for g in ("", "model", "user") for s in ("auto", "raw")]

    before = answers()
    assert before[0] == before[1] and before[2] == before[3] and before[4] == before[5]
    assert rollups.rollup_fold() > 0
    assert not UsageRollupInbox.objects.exists()
    for rollup in USAGE_ROLLUPS:
        assert rollup.objects.aggregate(n=Sum("requests"))["n"] == 120
    assert answers() == before
    # A second batch folds into the same hours additively, equal to a rebuild from raw.
    ingest(ingested_rows(rng, 80), kind_slug="usage")
    rollups.rollup_fold()
    folded = snapshot()
    rollup_rebuild()
    assert snapshot() == folded


@pytest.mark.postgres  # the PostgreSQL engine's rollup inbox (the portable engine adds to the rollups at once)
def test_ingestion_asks_for_a_fold_at_most_every_few_seconds(monkeypatch):
    monkeypatch.setattr(rollups, "_last_fold_request", 0.0)
    rng = random.Random(8)
    ingest(ingested_rows(rng, 10), kind_slug="usage")  # tasks run in-process here
    assert not UsageRollupInbox.objects.exists()
    assert UsageHourly.objects.aggregate(n=Sum("requests"))["n"] == 10
    ingest(ingested_rows(rng, 5), kind_slug="usage")  # within FOLD_SECONDS: no fold
    assert UsageRollupInbox.objects.aggregate(n=Sum("requests"))["n"] == 5


def test_empty_buckets_show_money_as_fixed_point(api_client):
    at = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    body = api_client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1h", "start_time": at.isoformat(),
        "end_time": (at + timedelta(hours=2)).isoformat()}).json()
    assert body["data"][0]["results"][0]["cost"] == "0.00000000"
    assert body["data"][0]["results"][0]["credits"] == "0.0000"


@pytest.mark.postgres  # compares PostgreSQL's bucket SQL with the portable Python assembly
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_database_and_python_bucket_assembly_agree(staff, tz):
    """PostgreSQL ranks and formats buckets in SQL; SQLite in Python: same answers."""
    random_rows(random.Random(11), 80, days=4)
    staff.timezone = tz
    now = timezone.now()
    params = {"start_time": (now - timedelta(days=3, minutes=17)).isoformat(),
              "end_time": now.isoformat()}
    with timezone.override(zoneinfo.ZoneInfo(tz)):
        for width, group_by in (("1h", "user"), ("1d", "model,user"), ("1d", "")):
            query = stats.parse(staff, params, group_by=group_by)
            edges = stats.bucket_edges(query, width)
            trunc = {"1h": TruncHour, "1d": TruncDay}[width]
            aligned = all(e.minute == 0 for e in edges)
            bucket_tz = query.tz if width == "1d" or not aligned else dt_timezone.utc
            pieces = stats._pieces(query, trunc, "auto" if aligned else "raw", bucket_tz)
            assert (PostgresEngine().buckets(query, pieces, edges, bucket_tz)
                    == OrmEngine().buckets(query, pieces, edges, bucket_tz))


def test_minute_buckets_keep_the_repeated_hour_of_a_dst_change(client):
    """Berlin, 2025-10-26: 02:00–03:00 local happens twice; both passes are counted."""
    user = StaffFactory(username="berlin", timezone="Europe/Berlin")
    first = datetime(2025, 10, 26, 0, 15, tzinfo=dt_timezone.utc)  # 02:15 CEST
    second = datetime(2025, 10, 26, 1, 15, tzinfo=dt_timezone.utc)  # 02:15 CET
    UsageRecordFactory(occurred_at=first, cost=Decimal("1"))
    UsageRecordFactory(occurred_at=second, cost=Decimal("2"))
    client.force_login(user)
    body = client.get("/api/v1/usage/buckets/", {
        "bucket_width": "1m", "start_time": "2025-10-26T00:00:00Z",
        "end_time": "2025-10-26T02:00:00Z"}).json()
    spent = {b["start_time"]: b["results"][0]["cost"] for b in body["data"]
             if b["results"][0]["requests"]}
    assert spent == {"2025-10-26T00:15:00Z": "1.00000000", "2025-10-26T01:15:00Z": "2.00000000"}


@pytest.mark.postgres  # compares PostgreSQL's bucket SQL with the portable Python assembly
def test_group_names_come_out_of_the_database_json_intact(staff):
    """The database writes each group's JSON as text: names with quotes, backslashes,
    control characters, percent signs or non-ASCII letters must read back unchanged."""
    names = ['say "hi"', "back\\slash", "line\nbreak\ttab", "100%s %d", "Zoë 张"]
    for name in names:
        UsageRecordFactory(username=name, occurred_at=timezone.now() - timedelta(hours=2),
                           cost=Decimal("0.25"))
    query = stats.parse(staff, {"range": "24h"}, group_by="user")
    found = {row["user"] for bucket in stats.buckets(query, "1h") for row in bucket["results"]}
    assert found == set(names)
    width_edges = stats.bucket_edges(query, "1h")
    pieces = stats._pieces(query, TruncHour, "auto", dt_timezone.utc)
    assert (PostgresEngine().buckets(query, pieces, width_edges, dt_timezone.utc)
            == OrmEngine().buckets(query, pieces, width_edges, dt_timezone.utc))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL aggregate")
def test_bigint_sums_are_exact_or_an_error_never_wrapped():
    """Bucket sums of whole numbers use logcenter_sum_int8 (a bigint state, not numeric):
    an overflow must fail loudly rather than wrap around."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT logcenter_sum_int8(x) FROM (VALUES (5::bigint), (NULL), "
                       "(9223372036854775800)) AS v (x)")
        assert cursor.fetchone()[0] == 9223372036854775805
        cursor.execute("SELECT logcenter_sum_int8(x) FROM (VALUES (NULL::bigint)) AS v (x)")
        assert cursor.fetchone()[0] is None  # as sum(): no value, no number
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT logcenter_sum_int8(x) FROM (VALUES (9223372036854775807), "
                       "(1::bigint)) AS v (x)")


def test_decoding_buckets_leaves_the_garbage_collector_as_it_found_it(staff):
    """The cyclic GC is paused while thousands of groups are decoded, and only turned back
    on by the code that paused it."""
    import gc

    random_rows(random.Random(5), 20)
    query = stats.parse(staff, {"range": "24h"}, group_by="user")
    assert stats.buckets(query, "1h") and gc.isenabled()
    gc.disable()
    try:
        assert stats.buckets(query, "1h") and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.postgres  # compares PostgreSQL's bucket SQL with the portable Python assembly
@pytest.mark.parametrize("limit", [1, 3, 100])
def test_wide_groups_keep_the_top_ones_and_sum_the_rest_alike_in_both_engines(staff, limit):
    random_rows(random.Random(7), 120, days=2)
    query = replace(stats.parse(staff, {"range": "7d"}, group_by="user"), limit_groups=limit)
    edges = stats.bucket_edges(query, "1d")
    pieces = stats._pieces(query, TruncDay, "raw", query.tz)
    by_sql = PostgresEngine().buckets(query, pieces, edges, query.tz)
    assert by_sql == OrmEngine().buckets(query, pieces, edges, query.tz)
    every = replace(query, limit_groups=None)
    for when, results in OrmEngine().buckets(every, pieces, edges, query.tz).items():
        kept = by_sql[when]
        assert kept[:limit] == results[:limit]
        if len(results) > limit:  # one more row: the rest, summed, names null
            other = kept[limit]
            assert len(kept) == limit + 1 and other["user"] is None
            assert other["other_groups"] == len(results) - limit
            assert other["requests"] == sum(r["requests"] for r in results[limit:])
            assert Decimal(other["cost"]) == sum(Decimal(r["cost"]) for r in results[limit:])
        else:
            assert kept == results


def test_buckets_by_api_key_keep_ten_groups_unless_asked_for_all(staff_client):
    now = timezone.now().replace(minute=30)
    for n in range(14):
        UsageRecordFactory(api_key_id=f"k{n}", cost=Decimal(n + 1),
                           occurred_at=now - timedelta(hours=1))
    params = {"bucket_width": "1h", "group_by": "api_key", "range": "24h"}
    rows = [r for b in staff_client.get("/api/v1/usage/buckets/", params).json()["data"]
            for r in b["results"] if r["requests"]]
    assert [r["api_key"] for r in rows[:10]] == [f"k{n}" for n in range(13, 3, -1)]
    assert rows[10]["api_key"] is None and rows[10]["other_groups"] == 4
    assert rows[10]["cost"] == "10.00000000"  # 1 + 2 + 3 + 4
    every = staff_client.get("/api/v1/usage/buckets/", {**params, "limit_groups": "0"}).json()
    assert sum(len(b["results"]) for b in every["data"]) == 14
    for hostile in ("-1", "NaN", "1e3", "99999999999999999999", "1001", "\x00", ""):
        bad = staff_client.get("/api/v1/usage/buckets/", {**params, "limit_groups": hostile})
        if hostile == "":  # blank means the default, as for every optional number here
            assert bad.status_code == 200
            continue
        assert bad.status_code == 400 and "limit_groups" in bad.json(), hostile


def test_json_answers_are_compressed_and_pages_are_not(staff_client):
    import gzip
    import json as json_module

    UsageRecordFactory(occurred_at=timezone.now() - timedelta(hours=1))
    params = {"bucket_width": "1h", "group_by": "api_key", "range": "7d"}
    compressed = staff_client.get("/api/v1/usage/buckets/", params, HTTP_ACCEPT_ENCODING="gzip")
    assert compressed["Content-Encoding"] == "gzip"
    assert len(json_module.loads(gzip.decompress(compressed.content))["data"]) > 100
    page = staff_client.get("/logs/usage/", HTTP_ACCEPT_ENCODING="gzip")
    assert page.status_code == 200 and not page.has_header("Content-Encoding")


def _rollup_reads(queries):
    rollup_tables = {r._meta.db_table for r in USAGE_ROLLUPS}
    return [q["sql"] for q in queries if any(t in q["sql"] for t in rollup_tables)]


@pytest.mark.django_db(transaction=True)  # stats' own snapshot, as a request has it
def test_closed_hours_are_read_once_and_late_rows_and_rebuilds_are_seen(staff, monkeypatch):
    """Totals cache what the rollups say about closed hours (CLOSED_HOURS_LAG behind the
    clock): the next answer reads only the open hours from the rollups, and each way the
    closed hours can change (a late row, a rebuild) gives a new answer, equal to the raw
    rows'."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from logcenter.models import UsageRollupEpoch

    monkeypatch.setattr(rollups, "_last_fold_request", time.monotonic())  # folds by hand
    UsageRollupEpoch.objects.all().delete()  # as a flush leaves it: the first late row remakes it
    rng = random.Random(11)
    ingest(ingested_rows(rng, 60, hours=48), kind_slug="usage")
    rollups.rollup_fold()
    params = {"range": "7d"}

    def totals(source="auto"):
        return stats.totals(stats.parse(staff, params, group_by="model"), source=source)

    with CaptureQueriesContext(connection) as first_reads:
        first = totals()
    assert first == totals("raw")
    with CaptureQueriesContext(connection) as next_reads:
        assert totals() == first
    # The closed hours and the open ones the first time; the open ones only the next.
    assert len(_rollup_reads(first_reads.captured_queries)) == 2
    assert len(_rollup_reads(next_reads.captured_queries)) == 1
    # Inside a caller's transaction (READ COMMITTED on PostgreSQL) the reads see no one
    # snapshot: nothing is taken from or put in the cache there.
    if connection.vendor == "postgresql":
        with transaction.atomic(), CaptureQueriesContext(connection) as inside:
            assert totals() == first
        assert len(_rollup_reads(inside.captured_queries)) == 2
    # A late row (a day ago) is in the very next answer: from the inbox before the fold
    # (PostgreSQL), from the rollup under a new version of the closed hours after it.
    version = UsageRollupEpoch.objects.get().closed_hours_version
    late = ingested_rows(rng, 1)[0]
    late.update(occurred_at=(timezone.now() - timedelta(days=1)).isoformat(),
                cost="1.00000000", platform_model=MODELS[0])
    ingest([late], kind_slug="usage")
    assert totals() == totals("raw") != first
    rollups.rollup_fold()
    assert UsageRollupEpoch.objects.get().closed_hours_version != version
    with_late = totals()
    assert with_late == totals("raw") != first
    # A rebuild (what purges and bulk loads end with) makes a new version too.
    version = UsageRollupEpoch.objects.get().closed_hours_version
    rollup_rebuild()
    assert UsageRollupEpoch.objects.get().closed_hours_version != version
    assert totals() == with_late


@pytest.mark.django_db(transaction=True)  # stats' own snapshot, as a request has it
@pytest.mark.parametrize("width, group_by", [("1h", "api_key"), ("1d", "model"), ("1h", "")])
def test_closed_buckets_come_from_the_cache_and_equal_the_raw_rows(staff, monkeypatch, width,
                                                                    group_by):
    """Buckets wholly within closed hours are kept (keyed by their version): the next answer
    reads only the open hours, and a late row or a rebuild is in the very next answer, equal
    to the raw rows' buckets."""
    from logcenter.core.registry import registry
    from logcenter.engines import engine_for
    from logcenter.models import UsageRollupEpoch

    monkeypatch.setattr(rollups, "_last_fold_request", time.monotonic())  # folds by hand
    UsageRollupEpoch.objects.all().delete()  # as a flush leaves it: the first late row remakes it
    rng = random.Random(12)
    rows = ingested_rows(rng, 80, hours=70)
    for row in rows:
        row.update(api_key_id=rng.choice(["k1", "k2", "k3"]))
    ingest(rows, kind_slug="usage")
    rollups.rollup_fold()
    params = {"range": "7d"}

    def buckets(source="auto"):
        query = replace(stats.parse(staff, params, group_by=group_by), limit_groups=2)
        return stats.buckets(query, width, source=source)

    first = buckets()
    assert first == buckets("raw")
    engine = type(engine_for(registry["usage"]))
    read, spans = engine.buckets, []
    monkeypatch.setattr(engine, "buckets", lambda self, query, *args: (
        spans.append(query.end - query.start), read(self, query, *args))[1])
    assert buckets() == first
    if width == "1h":  # 160-odd closed hours are kept; only the few open ones are read again
        assert sum(spans, timedelta()) < timedelta(hours=4)
    late = ingested_rows(rng, 1)[0]
    late.update(occurred_at=(timezone.now() - timedelta(hours=30)).isoformat(),
                cost="2.00000000", api_key_id="k9", platform_model="late-model")
    ingest([late], kind_slug="usage")
    assert buckets() == buckets("raw") != first  # waiting in the inbox (PostgreSQL)
    rollups.rollup_fold()
    assert buckets() == buckets("raw") != first
    rollup_rebuild()
    assert buckets() == buckets("raw")


def test_an_open_range_reads_its_current_hour_whole_from_the_rollup(staff, monkeypatch):
    """Without end_time the range ends now, and its current hour is the rollup's (with the
    inbox's): no raw rows are read for it, however many that hour holds; with an end_time,
    the partial last hour is read row by row, as before."""
    UsageRecordFactory(cost=Decimal("1"), occurred_at=timezone.now() - timedelta(seconds=2))
    UsageRecordFactory(cost=Decimal("2"), occurred_at=timezone.now() - timedelta(hours=3))
    raw_spans, read_raw = [], stats._raw_pieces
    monkeypatch.setattr(stats, "_raw_pieces", lambda query, start, end, *args: (
        raw_spans.append((start, end)) if start < end else None,
        read_raw(query, start, end, *args))[1])
    this_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    assert stats.totals(stats.parse(staff, {"range": "24h"}))[0]["cost"] == "3.00000000"
    assert raw_spans and all(end <= this_hour for _, end in raw_spans)
    raw_spans.clear()
    end = timezone.now()
    query = stats.parse(staff, {"start_time": (end - timedelta(days=1)).isoformat(),
                                "end_time": end.isoformat()})
    assert stats.totals(query)[0]["cost"] == "3.00000000"
    assert any(start >= this_hour for start, _ in raw_spans)


@pytest.mark.parametrize("fold", [False, True])
def test_figures_read_together_equal_each_read_alone_and_the_raw_rows(staff, monkeypatch, fold):
    """The usage panels' figures (by user, API key, model, organization and status) read
    together, the pieces of the same rows summed in one pass (PostgreSQL: GROUPING SETS),
    equal each figure read alone and the raw rows: sums in the rollups, in the inbox not yet
    folded (PostgreSQL) and in the raw partial first hour of the window."""
    monkeypatch.setattr(rollups, "_last_fold_request", time.monotonic())  # no fold yet
    rng = random.Random(11)
    random_rows(rng, 40, days=2)
    assert ingest(ingested_rows(rng, 60), kind_slug="usage").accepted == 60
    if fold:
        rollups.rollup_fold()
    query = stats.parse(staff, {"range": "24h"})
    groups = ("", "user", "api_key", "model", "organization", "status")  # "": the whole's
    with CaptureQueriesContext(connection) as queries:
        together = stats.totals_by(query, groups)
    assert set(together) == set(groups)
    passes = [q["sql"].split("GROUPING SETS")[1] for q in queries.captured_queries
              if "GROUPING SETS" in q["sql"]]
    shared = [sets for sets in passes if "), (" in sets]  # several groupings in one pass
    # One pass each: the raw first hour, the inbox, and the open hours of the rollup by
    # model and status, which the model and status figures and the whole's share; the
    # open hours of the rollups by user, by key and by organization, one grouping each.
    assert len(shared) == (3 if connection.vendor == "postgresql" else 0)
    assert len(passes) == (6 if connection.vendor == "postgresql" else 0)
    assert together[""] == stats.totals(query) == stats.totals(query, source="raw")
    assert together[""][0]["requests"] == sum(row["requests"] for row in together["status"])
    for group in groups[1:]:
        alone = stats.totals(stats.regroup(query, group))
        assert together[group] == alone == stats.totals(stats.regroup(query, group),
                                                        source="raw"), group
        assert sum(row["requests"] for row in alone) == sum(
            row["requests"] for row in together["status"]) > 0


def test_totals_by_ranks_by_the_measure_asked_and_keeps_the_first(staff):
    """A top table ranks its groups by the measure it is sorted by (biggest first, then by
    cost, then by name) and presents only its first rows; the whole's row is one row."""
    now = timezone.now()
    for name, calls, tokens, cost in (("ann", 1, 900, "5"), ("bob", 3, 10, "1"),
                                      ("cy", 2, 500, "9"), ("dee", 2, 500, "2")):
        for _ in range(calls):
            UsageRecordFactory(username=name, total_tokens=tokens, cost=Decimal(cost),
                               occurred_at=now - timedelta(hours=2))
    query = stats.parse(staff, {"range": "24h"})
    by_tokens = stats.totals_by(query, ("", "user"), order="total_tokens", first=3)
    assert [row["user"] for row in by_tokens["user"]] == ["cy", "dee", "ann"]
    assert len(by_tokens[""]) == 1 and by_tokens[""][0]["requests"] == 8
    by_requests = stats.totals_by(query, ("user",), order="requests", first=2)["user"]
    assert [(row["user"], row["requests"]) for row in by_requests] == [("bob", 3), ("cy", 2)]
    every = stats.totals(stats.regroup(query, "user"))
    assert {row["user"] for row in every} == {"ann", "bob", "cy", "dee"}
