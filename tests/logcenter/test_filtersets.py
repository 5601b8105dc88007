"""The FilterSets: one definition of every filter, shared by page, API and export."""

from datetime import timedelta

import pytest
from django.utils import timezone

from logcenter.core import selectors
from logcenter.core.query import LogQuery
from logcenter.core.registry import registry

pytestmark = pytest.mark.django_db
KINDS = list(registry)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_every_model_field_has_a_filter_or_a_stated_reason(kind):
    """Fails when a field is added to a kind without deciding how it is filtered."""
    filterset = kind.filterset()
    filtered = {f.field_name for f in filterset.filters.values()}
    # Filters that match several fields at once.
    filtered |= {"occurred_at", "id"}
    missing = []
    for field in kind.model._meta.concrete_fields:
        if field.name in filtered or field.name in kind.filterset.unfiltered_fields:
            continue
        if field.name == "metadata" and "metadata" in filterset.filters:
            continue
        missing.append(field.name)
    assert missing == [], f"{kind.slug}: fields without a filter: {missing}"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_page_filters_exist_on_the_filterset(kind):
    assert set(kind.page_filters) <= set(kind.filterset.base_filters)


def ids(queryset):
    return {row.pk for row in queryset}


def run(kind_slug, params, user=None):
    kind = registry[kind_slug]
    return LogQuery.parse(kind, user or _staff(), params).filterset.qs


def _staff():
    from tests.factories import StaffFactory

    return StaffFactory(username="filter-staff")


# (kind, filter params, field overrides of the row that must match)
NARROWING_CASES = [
    ("audit", {"actor": "alice@example.com"}, {"actor_name": "alice@example.com"}),
    ("audit", {"actor": "u-77"}, {"actor_id": "u-77"}),
    ("audit", {"action": "user.role_changed"}, {"action": "user.role_changed"}),
    ("audit", {"action": "api_key.*"}, {"action": "api_key.revoked"}),
    ("audit", {"resource_type": "organization"}, {"resource_type": "organization"}),
    ("audit", {"resource_id": "org-9"}, {"resource_id": "org-9"}),
    ("audit", {"result": "failure"}, {"result": "failure"}),
    ("audit", {"category": "billing"}, {"category": "billing"}),
    ("usage", {"user": "bob"}, {"username": "bob"}),
    ("usage", {"user": "u-5"}, {"user_id": "u-5"}),
    ("usage", {"api_key": "ci-key"}, {"api_key_name": "ci-key"}),
    ("usage", {"group": "vip"}, {"group": "vip"}),
    ("usage", {"endpoint": "rerank"}, {"endpoint": "rerank"}),
    ("usage", {"platform_model": "qwen-max"}, {"platform_model": "qwen-max"}),
    ("usage", {"upstream_model": "qwen-max-0919"}, {"upstream_model": "qwen-max-0919"}),
    ("usage", {"upstream_name": "aliyun"}, {"upstream_name": "aliyun"}),
    ("usage", {"channel_id": "ch-9"}, {"channel_id": "ch-9"}),
    ("usage", {"binding_code": "bind-9"}, {"binding_code": "bind-9"}),
    ("usage", {"protocol": "anthropic"}, {"protocol": "anthropic"}),
    ("usage", {"billing_mode": "per_call"}, {"billing_mode": "per_call"}),
    ("usage", {"status": "error"}, {"status": "error"}),
    ("usage", {"is_stream": "true"}, {"is_stream": True}),
    ("usage", {"cost_min": "50"}, {"cost": "99.5"}),
    ("usage", {"cost_max": "0.00000001"}, {"cost": "0"}),
    ("usage", {"total_tokens_min": "900000"}, {"total_tokens": 999999}),
    ("usage", {"latency_ms_min": "60000"}, {"latency_ms": 70000}),
    ("auth", {"user": "mallory"}, {"username_attempted": "mallory"}),
    ("auth", {"event": "account.locked"}, {"event": "account.locked"}),
    ("auth", {"event": "mfa.*"}, {"event": "mfa.challenged"}),
    ("auth", {"result": "failure"}, {"result": "failure"}),
    ("auth", {"ip": "198.51.100.23"}, {"ip": "198.51.100.23"}),
    ("auth", {"identity_provider": "github"}, {"identity_provider": "github"}),
    ("auth", {"failure_reason": "locked"}, {"failure_reason": "locked"}),
    ("system", {"source": "file_processing"}, {"source": "file_processing"}),
    ("system", {"event": "export.*"}, {"event": "export.failed"}),
    ("system", {"level": "critical"}, {"level": "critical"}),
    ("system", {"resource_type": "file"}, {"resource_type": "file"}),
    ("system", {"resource_id": "file-1"}, {"resource_id": "file-1"}),
    ("system", {"request_id": "req_x"}, {"request_id": "req_x"}),
    ("audit", {"metadata": "tenant=acme"}, {"metadata": {"tenant": "acme"}}),
    ("usage", {"q": "special-model"}, {"platform_model": "special-model"}),
    ("usage", {"q": "req_abc"}, {"request_id": "req_abc"}),
    ("auth", {"q": "okta"}, {"identity_provider": "okta-sso"}),
    ("audit", {"actor_type": "service"}, {"actor_type": "service"}),
]


@pytest.mark.parametrize("slug, params, overrides", NARROWING_CASES)
def test_filter_keeps_matching_rows_and_drops_others(factories, slug, params, overrides):
    match = factories[slug](**overrides)
    others = factories[slug].create_batch(3)
    result = ids(run(slug, params))
    assert match.pk in result
    assert not result & {o.pk for o in others}


def test_default_window_hides_old_rows_and_range_all_shows_them(factories):
    old = factories["usage"](occurred_at=timezone.now() - timedelta(days=3))
    new = factories["usage"]()
    assert ids(run("usage", {})) == {new.pk}  # usage defaults to the last 24 hours
    assert ids(run("usage", {"range": "all"})) == {old.pk, new.pk}
    assert ids(run("usage", {"range": "7d"})) == {old.pk, new.pk}
    assert ids(run("usage", {"range": "1h"})) <= {new.pk}


def test_method_filters_read_their_own_filterset_not_another_instances(factories):
    """FilterSets share their filters' definitions (no deep copy per request): a method
    filter must still read the query of the instance it belongs to."""
    two_hours_ago = factories["usage"](occurred_at=timezone.now() - timedelta(hours=2))
    recent = factories["usage"](occurred_at=timezone.now() - timedelta(minutes=5))
    kind, user = registry["usage"], _staff()
    start = (timezone.now() - timedelta(hours=3)).isoformat()
    explicit = LogQuery.parse(kind, user, {"range": "1h", "start_time": start}).filterset
    preset = LogQuery.parse(kind, user, {"range": "1h"}).filterset
    # Evaluated after the other instance was built: an explicit start wins over the
    # preset only in the instance that has one.
    assert ids(explicit.qs) == {two_hours_ago.pk, recent.pk}
    assert ids(preset.qs) == {recent.pk}
    assert ids(LogQuery.parse(kind, user, {"range": "1h", "start_time": start}).filterset.qs) \
        == {two_hours_ago.pk, recent.pk}


def test_time_range_accepts_iso_and_unix_start_inclusive_end_exclusive(factories):
    at = timezone.now().replace(microsecond=0) - timedelta(days=10)
    row = factories["system"](occurred_at=at)
    unix = int(at.timestamp())
    assert ids(run("system", {"start_time": str(unix), "end_time": str(unix + 1)})) == {row.pk}
    assert ids(run("system", {"start_time": str(unix + 1)})) == set()
    assert ids(run("system", {"end_time": str(unix), "start_time": str(unix - 60)})) == set()
    iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(run("system", {"start_time": iso, "end_time": str(unix + 60)})) == {row.pk}


@pytest.mark.parametrize("params, field", [
    ({"start_time": "not-a-date"}, "start_time"),
    ({"start_time": "1700000100", "end_time": "1700000000"}, "end_time"),
    ({"ordering": "-user_agent"}, "ordering"),
    ({"page_size": "201"}, "page_size"),
    ({"page_size": "0"}, "page_size"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cost_min": "2", "cost_max": "1"}, "cost_max"),
    ({"cost_min": "cheap"}, "cost_min"),
    ({"ip": "999.1.1.1"}, "ip"),
    ({"metadata": "bad key=1"}, "metadata"),
    ({"endpoint": "fax"}, "endpoint"),
    ({"range": "5y"}, "range"),
])
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(selectors.InvalidLogQuery) as info:
        LogQuery.parse(registry["usage"], _staff(), params).filterset
    assert field in info.value.errors
    assert info.value.errors[field][0]["message"]


def test_the_search_box_says_where_it_looks_for_this_viewer(staff):
    from logcenter.core.access import access_for
    from tests.factories import MemberFactory

    usage = registry["usage"]
    finance = MemberFactory(username="fin", roles=["Finance"])
    hints = {user.username: usage.filterset(data={}, access=access_for(user, usage))
             .form.fields["q"].help_text for user in (staff, finance)}
    assert "error message" in hints[staff.username] and "whole ID" in hints["fin"]
    # Finance sees error messages masked, so its search does not look there either.
    assert "error message" not in hints["fin"]
    auth = registry["auth"].filterset(data={}).form.fields["q"].help_text
    assert "identity provider" in auth and "failure reason" in auth


def test_a_pasted_identifier_is_looked_up_whole_in_its_index():
    """A request ID, event ID, IP address or API key id that a row holds whole is looked up
    in that column alone; any other text is searched in the text fields as before."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import FACTORIES

    usage = FACTORIES["usage"]
    target = usage(request_id="req_0123456789abcdef", error_message="")
    # Its request ID inside another row's error text: a text search would find this one too.
    other = usage(request_id="req_other", error_message="upstream said req_0123456789abcdef failed")
    assert ids(run("usage", {"q": "req_0123456789abcdef"})) == {target.pk}
    assert ids(run("usage", {"q": str(target.event_id)})) == {target.pk}
    key = usage(api_key_id="lc_Key0123abcd", api_key_name="billing key")
    assert ids(run("usage", {"q": "lc_Key0123abcd"})) == {key.pk}
    sign_in = FACTORIES["auth"](ip="198.51.100.23", user_agent="curl")
    assert ids(run("auth", {"q": "198.51.100.23"})) == {sign_in.pk}
    # Nothing holds it whole: searched as text, in the fields the search names.
    assert ids(run("usage", {"q": "req_01234567"})) == {other.pk}
    assert ids(run("usage", {"q": "said req_0123"})) == {other.pk}
    with CaptureQueriesContext(connection) as queries:
        list(run("usage", {"q": "req_0123456789abcdef"}))
    assert not any("LIKE" in q["sql"].upper() for q in queries.captured_queries)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_free_text_finds_exactly_what_each_searched_field_holds(kind, staff):
    """Through the text index on PostgreSQL, through the condition alone elsewhere: the
    same rows. Case is ignored, LIKE's wildcards are plain characters, and text spanning
    two fields (which the index's joined text holds) is not a match."""
    from tests.factories import FACTORIES

    fields = kind.filterset.search_fields
    first, second = fields[0], fields[-1]
    make = FACTORIES[kind.slug]
    hit = make(**{first: "Needle_Upper"})
    other_field = make(**{second: "x 100% needle_upper y"})
    make(**{first: "NeedleXUpper"})  # `_` is a character, not a wildcard
    spans = make(**{first: "alpha", fields[1]: "beta"})  # neighbours in the joined text
    assert ids(run(kind.slug, {"q": "needle_upper"}, staff)) == {hit.pk, other_field.pk}
    assert ids(run(kind.slug, {"q": "100% NEEDLE"}, staff)) == {other_field.pk}
    assert ids(run(kind.slug, {"q": "alpha beta"}, staff)) == set()
    assert spans.pk in ids(run(kind.slug, {"q": "alpha"}, staff))


@pytest.mark.postgres
@pytest.mark.parametrize("kind", [k for k in KINDS if k.slug in ("audit", "usage", "auth",
                                                                 "system")],
                         ids=lambda k: k.slug)
def test_free_text_is_answered_by_the_text_index(kind):
    """Each log table's trigram index covers exactly the fields `q` searches, and the
    search's condition is one the index answers (else every search would read the window)."""
    from django.db import connection

    from logcenter.engines import engine_for
    from logcenter.engines.postgres.search import index_name

    table, name = kind.model._meta.db_table, index_name(kind.model)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname = %s",
                       [table, name])
        definition = cursor.fetchone()[0]
    assert "gin_trgm_ops" in definition
    for field in kind.filterset.search_fields:
        assert field in definition, f"{name} lacks {field}: add it in a migration"
    fields = kind.filterset.search_fields
    candidates = engine_for(kind.model).text_candidates(kind.model, fields, "timeout")
    sql, params = kind.model.objects.filter(candidates).query.sql_with_params()
    with connection.cursor() as cursor:  # no other way than an index's bitmap
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Bitmap Index Scan on {name}" in plan, plan
    # Two letters make no trigram: no index condition, the search's own condition alone.
    assert engine_for(kind.model).text_candidates(kind.model, fields, "ab") is None


def test_a_whole_name_is_its_fields_filter_and_part_of_one_is_text():
    """A model name (or user name, action …) that some row holds whole is looked up in that
    column's index alone, as its filter would; part of one is searched as text."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import FACTORIES

    usage = FACTORIES["usage"]
    model = usage(platform_model="gemini-flash", error_message="")
    longer = usage(platform_model="gemini-flash-lite", error_message="")
    mentioned = usage(platform_model="gpt-4o", error_message="gemini-flash was busy")
    assert ids(run("usage", {"q": "gemini-flash"})) == {model.pk}
    assert ids(run("usage", {"q": "gemini-fl"})) == {model.pk, longer.pk, mentioned.pk}
    with CaptureQueriesContext(connection) as queries:
        list(run("usage", {"q": "gemini-flash"}))
    assert not any("LIKE" in q["sql"].upper() for q in queries.captured_queries)
    actor = FACTORIES["audit"](action="dataset.archived")
    FACTORIES["audit"](action="dataset.archived_twice")
    assert ids(run("audit", {"q": "dataset.archived"})) == {actor.pk}


def test_a_name_held_only_outside_the_window_is_searched_as_text():
    """The whole-name and pasted-ID lookups probe the window's rows: a model name held whole
    only by an older row is text here, and finds the longer names the window holds."""
    from tests.factories import FACTORIES

    usage = FACTORIES["usage"]
    usage(platform_model="gemini-flash", error_message="",
          occurred_at=timezone.now() - timedelta(days=20))
    recent = usage(platform_model="gemini-flash-lite", error_message="")
    assert ids(run("usage", {"q": "gemini-flash"})) == {recent.pk}
    assert ids(run("usage", {"q": "gemini-flash", "range": "30d"})) != {recent.pk}


@pytest.mark.postgres
def test_a_filter_over_two_fields_probes_each_field_once_per_page():
    """`api_key` matches a key's name or id: which of them holds the value is probed once
    per list (the engine's windows reuse the answer) and the page holds the same rows; a
    filter applied on its own probes each time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from logcenter.engines import engine_for
    from tests.factories import FACTORIES

    usage = FACTORIES["usage"]
    wanted = {usage(api_key_name="billing", api_key_id="lc_Billing01", upstream_name="google",
                    cost=cost).pk for cost in ("0.5", "0.2")}
    usage(api_key_name="billing", upstream_name="openai")
    usage(api_key_name="other", api_key_id="lc_Other0001", upstream_name="google")
    kind = registry["usage"]
    # The same filter again is another list: probed afresh (the answer is kept on its
    # FilterSet, never on the class's filters).
    for params in ({"api_key": "billing"}, {"api_key": "lc_Billing01"}, {"api_key": "billing"}):
        query = LogQuery.parse(kind, _staff(), {**params, "upstream_name": "google",
                                                "ordering": "-cost"})
        with CaptureQueriesContext(connection) as queries:
            page, _ = engine_for(kind.model).page(kind, query.filterset, query.filterset.qs)
        assert {row.pk for row in page.rows} == wanted
        probes = [q["sql"] for q in queries.captured_queries
                  if q["sql"].startswith('SELECT 1 AS "a"') and "api_key_" in q["sql"]]
        assert sorted(p.count('"api_key_name" =') for p in probes) == [0, 1], probes
    alone = kind.filterset.base_filters["api_key"]
    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):
            alone.filter(kind.model.objects.all(), ["billing"])
    assert len(queries.captured_queries) == 4  # two fields, twice: nothing kept on the class


@pytest.mark.postgres
def test_a_member_filtering_by_a_key_name_used_elsewhere_sees_only_their_rows():
    """The probe's answer is of the viewer's own rows: a key id another organization's
    rows hold does not widen what a member's sorted, filtered page matches."""
    from logcenter.engines import engine_for
    from tests.factories import FACTORIES, MembershipFactory

    membership = MembershipFactory(role="member", user__username="probe-member")
    member, organization = membership.user, membership.organization
    usage = FACTORIES["usage"]
    own = usage(api_key_name="shared-name", api_key_id="lc_Own000001", upstream_name="google",
                organization_id=organization.public_id, username=member.username,
                user_id=str(member.pk))
    usage(api_key_id="shared-name", api_key_name="x", upstream_name="google", cost="9")
    kind = registry["usage"]
    query = LogQuery.parse(kind, member, {"api_key": "shared-name", "upstream_name": "google",
                                          "ordering": "-cost"})
    page, _ = engine_for(kind.model).page(kind, query.filterset, query.filterset.qs)
    assert [row.pk for row in page.rows] == [own.pk]
