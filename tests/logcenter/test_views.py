"""The generic list and detail pages, for every kind."""

import re
from html import escape

import pytest
from django.urls import reverse
from django.utils.html import conditional_escape

from logcenter.core.registry import registry

KINDS = [kind.slug for kind in registry]
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", KINDS)
def test_list_page_shows_rows_and_window(staff_client, factories, slug):
    rows = factories[slug].create_batch(3)
    # metadata=env=prod: only the factory's rows (signing up users writes audit rows too)
    response = staff_client.get(reverse("logcenter:list", args=[slug]) + "?metadata=env%3Dprod")
    assert response.status_code == 200
    html = response.content.decode()
    for row in rows:
        assert str(row.get_absolute_url()) in html
    assert "(default)" in html  # the default window is stated
    assert "3 matching rows" in html


@pytest.mark.parametrize("slug", KINDS)
def test_detail_page_groups_sections_and_lists_same_request(staff_client, factories, slug):
    row = factories[slug](request_id="req_shared")
    others = [factories[other](request_id="req_shared") for other in KINDS if other != slug]
    response = staff_client.get(row.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    for section in registry[slug].sections:
        assert f"<h2>{escape(section.title)}</h2>" in html
    assert "<h2>Raw JSON</h2>" in html
    for other in others:
        assert other.get_absolute_url() in html
    assert row.get_absolute_url() not in html.split('id="related"')[1].split("Raw JSON")[0]


def test_detail_of_unknown_event_is_404(staff_client):
    url = reverse("logcenter:detail", args=["audit", "00000000-0000-0000-0000-000000000000"])
    assert staff_client.get(url).status_code == 404


def test_unknown_kind_is_404(staff_client):
    assert staff_client.get("/logs/nonsense/").status_code == 404


def test_pages_require_sign_in(client):
    response = client.get(reverse("logcenter:list", args=["usage"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_tab_the_role_may_not_see_is_403(client, member):
    client.force_login(member)
    assert client.get(reverse("logcenter:list", args=["audit"])).status_code == 403


def test_filter_narrows_rows_and_is_kept_in_url(staff_client, factories):
    keep = factories["usage"](platform_model="gpt-4o")
    drop = factories["usage"](platform_model="claude-sonnet-4")
    response = staff_client.get("/logs/usage/?platform_model=gpt-4o")
    html = response.content.decode()
    assert keep.get_absolute_url() in html
    assert drop.get_absolute_url() not in html
    # the sort links carry the filter along
    assert "platform_model=gpt-4o" in html.split("<thead>")[1].split("</thead>")[0]


def test_usage_summary_line(staff_client, factories):
    factories["usage"](cost="1.25000000", prompt_tokens=100, completion_tokens=50, total_tokens=150)
    factories["usage"](cost="0.75000000", prompt_tokens=10, completion_tokens=5, total_tokens=15)
    page = staff_client.get("/logs/usage/").content.decode()
    assert 'hx-get="/logs/usage/panels/?"' in page  # the figures load beside the rows
    html = staff_client.get("/logs/usage/panels/").content.decode()
    summary = html.split('id="usage-summary"')[1].split("</dl>")[0]
    assert "<dt>Requests</dt><dd>2</dd>" in summary
    assert ">165</dd>" in summary
    assert "<dd>$2.0000</dd>" in summary


@pytest.mark.parametrize("query, field", [
    ("start_time=yesterday", "start_time"),
    ("ordering=-password", "ordering"),
    ("page_size=500", "page_size"),
    ("cursor=not-a-cursor", "cursor"),
    ("cost_min=5&cost_max=1", "cost_max"),
    ("event_id=123", "event_id"),
    ("metadata=novalue", "metadata"),
])
def test_bad_input_is_a_form_error_not_a_500(staff_client, query, field):
    response = staff_client.get(f"/logs/usage/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Check the filters" in html
    assert f"<code>{field}</code>" in html


def test_sorting_by_cost_descending(staff_client, factories):
    for cost in ("0.5", "3.0", "1.5"):
        factories["usage"](cost=cost)
    html = staff_client.get("/logs/usage/?ordering=-cost").content.decode()
    positions = [html.index(f"${c:.4f}") for c in (3.0, 1.5, 0.5)]
    assert positions == sorted(positions)


def test_htmx_request_renders_only_results(staff_client, factories):
    factories["audit"]()
    response = staff_client.get("/logs/audit/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<table" in html
    assert "<form id=\"filters\"" not in html


def test_control_characters_are_shown_escaped(staff_client, factories):
    row = factories["auth"](user_agent="curl\r\nFAKE login.succeeded\x1b[31m",
                            username_attempted="eve\nadmin")
    html = staff_client.get("/logs/auth/?range=all").content.decode()
    assert "eve\\nadmin" in html and "eve\nadmin" not in html
    detail = staff_client.get(row.get_absolute_url()).content.decode()
    assert "curl\\r\\nFAKE login.succeeded\\x1b[31m" in detail
    assert "\x1b" not in detail and "curl\r\n" not in detail


def test_usage_charts_cards_and_top_spenders(staff_client, factories):
    factories["usage"](platform_model="gpt-4o", username="big", cost="5", status="error",
                       latency_ms=900)
    factories["usage"](platform_model="qwen-max", username="small", cost="1", latency_ms=100)
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert '<svg class="chart"' in html and "Cost per hour by model" in html
    assert "times in UTC" in html and "USD" in html
    assert "platform_model=gpt-4o" in html.split('<svg class="chart"')[1].split("</svg>")[0]
    top = html.split('id="top-spenders"')[1]
    assert top.index(">big<") < top.index(">small<")  # biggest spender first
    assert "50.0%" in html  # error rate: one of two calls failed
    by_requests = staff_client.get("/logs/usage/panels/?top_by=requests").content.decode()
    assert "Requests ▼" in by_requests


def test_top_api_keys_are_named_as_in_the_table(staff_client, factories):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    factories["usage"](api_key_id="lc_k1", api_key_name="old-name", cost="3",
                       occurred_at=now - timedelta(hours=2))
    factories["usage"](api_key_id="lc_k1", api_key_name="slack-bot", cost="3",
                       occurred_at=now - timedelta(minutes=1))
    html = staff_client.get("/logs/usage/panels/").content.decode()
    top = html.split('id="top-spenders"')[1]
    assert 'slack-bot <code class="muted">lc_k1</code>' in top  # its newest name, and its id
    assert "old-name" not in top


def test_a_members_top_keys_are_named_from_their_own_rows_only(client, factories):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import MemberFactory

    member, now = MemberFactory(username="mina"), timezone.now()
    factories["usage"](user_id=str(member.pk), username="mina", api_key_id="lc_shared",
                       api_key_name="mine", cost="1", occurred_at=now - timedelta(hours=1))
    factories["usage"](user_id="someone-else", username="other", api_key_id="lc_shared",
                       api_key_name="SECRET-other-name", cost="1",
                       occurred_at=now - timedelta(minutes=1))  # newer, not theirs
    client.force_login(member)
    top = client.get("/logs/usage/panels/").content.decode().split('id="top-spenders"')[1]
    assert "mine" in top and "SECRET" not in top


def test_the_rest_of_the_models_is_no_link_in_the_usage_chart(staff_client, factories):
    for n in range(10):  # more models than the chart names: the rest sum up as "other"
        factories["usage"](platform_model=f"model-{n}", cost=str(n + 1))
    chart = staff_client.get("/logs/usage/panels/").content.decode().split("<svg")[1]
    assert "<title>other (the rest, together)" in chart
    assert not re.search(r"<a [^>]*><rect [^>]*><title>other", chart)


@pytest.mark.parametrize("slug, title, row", [
    ("auth", "Sign-in failures and lockouts", {"event": "login.failed", "result": "failure"}),
    ("system", "Events by level", {"level": "critical"}),
])
def test_event_charts(staff_client, factories, slug, title, row):
    factories[slug](**row)
    html = staff_client.get(f"/logs/{slug}/panels/").content.decode()
    chart = html.split('<svg class="chart"')[1].split("</svg>")[0]
    assert title in html and "<rect" in chart
    key, value = next(iter(row.items()))
    assert f"{key}={value}" in chart  # each segment links to its filtered list


def test_panels_for_a_range_too_long_for_day_buckets_say_so(staff_client, factories):
    from datetime import timedelta

    from django.utils import timezone

    factories["usage"](occurred_at=timezone.now() - timedelta(days=500))
    response = staff_client.get("/logs/usage/panels/?range=all")
    assert response.status_code == 200
    assert "No charts for this range" in response.content.decode()


@pytest.mark.parametrize("slug", ["audit", "usage", "auth", "system"])
def test_table_body_renders_every_cell_as_django_tables2_would(factories, slug):
    """LogTable.body_html resolves each column's rendering once; the cells must equal
    django-tables2's own per-cell rendering (labels, empty defaults, links, escaping)."""
    kind = registry[slug]
    rows = [factories[slug](), factories[slug]()]
    for field in ("request_id", "resource_name", "upstream_name", "message", "ip"):
        if hasattr(rows[1], field):
            setattr(rows[1], field, "" if field != "message" else "<b>&amp;</b>")
    table = kind.table(rows, sorts=kind.sorts)
    for bound in table.columns:
        render = table.cell_renderer(bound)
        for row in table.rows:
            assert render(row.record) == conditional_escape(row.get_cell(bound.name)), bound.name
    assert table.body_html().count("<tr>") == 2


def test_p95_latency_reads_the_latest_calls_and_says_so_when_sampled(staff_client, factories,
                                                                    monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from logcenter.analytics import stats

    now = timezone.now()
    for minutes, latency in ((1, 100), (2, 200), (3, 300), (4, 400), (50, 9000)):
        factories["usage"](occurred_at=now - timedelta(minutes=minutes), latency_ms=latency)
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "9,000 ms" in html and "of this filter" in html
    monkeypatch.setattr(stats, "LATEST_SAMPLE", 3)  # the latest 3 (+1) calls: 100–400 ms
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "400 ms" in html and "of the latest 3 calls" in html


def test_usage_panels_chart_takes_no_savepoint_inside_the_panels_snapshot(staff_client,
                                                                           factories):
    """The chart's statement sets its work_mem inside the panel's one transaction without a
    savepoint of its own (two round trips a chart, each a wait on a busy machine)."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    if connection.vendor != "postgresql":
        pytest.skip("the chart's SQL is PostgreSQL's (Engine.buckets)")
    now = timezone.now()
    for hours in (1, 5, 30):
        factories["usage"](occurred_at=now - timedelta(hours=hours), platform_model="gpt-4o")
    with CaptureQueriesContext(connection) as queries:
        html = staff_client.get("/logs/usage/panels/?range=7d").content.decode()
    statements = [q["sql"] for q in queries.captured_queries]
    assert "<svg" in html and "gpt-4o" in html
    assert any("string_agg" in sql for sql in statements)  # the chart was read in SQL
    assert any(sql.startswith("SET LOCAL work_mem") for sql in statements)
    assert not [sql for sql in statements if "SAVEPOINT" in sql]


# --- what the QA pass found: layout, detail values, retention, exports, pager --------------

def test_top_spenders_tables_scroll_in_boxes_of_their_own(staff_client, factories):
    factories["usage"](username="someone-with-a-rather-long-name@example.com")
    html = staff_client.get("/logs/usage/panels/").content.decode()
    top = html.split('id="top-spenders"')[1]
    # Users, keys, models and, for staff, organizations.
    assert top.count('<table class="log-table top">') == 4
    assert top.count('<div class="table-wrap">\n      <table class="log-table top">') == 4
    assert "Top organizations" in top


def test_billing_items_are_a_full_width_table_with_readable_headers(staff_client, factories):
    row = factories["usage"](billing_items=[
        {"name": "input", "quantity": 3748, "unit_price": "0.000003", "amount": "0.01124400"},
        {"name": "output", "quantity": 1443, "unit_price": "0.000015", "amount": "0.02164500"}])
    html = staff_client.get(row.get_absolute_url()).content.decode()
    cell = html.split('<dd class="field-billing_items records">')[1].split("</dd>")[0]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", cell)
    assert sorted(headers) == ["Amount", "Name", "Quantity", "Unit price"]  # in stored order
    assert '<td class="num">0.01124400</td>' in cell and "<td>input</td>" in cell


def test_metadata_numbers_are_shown_as_given_and_counts_with_separators(staff_client,
                                                                         factories):
    row = factories["usage"](metadata={"trace": 253238103, "env": "prod"},
                             prompt_tokens=12000, completion_tokens=345, total_tokens=12345,
                             latency_ms=19483)
    html = staff_client.get(row.get_absolute_url()).content.decode()
    metadata = html.split("<h2>Metadata</h2>")[1].split("</section>")[0]
    assert "<dd>253238103</dd>" in metadata and "253,238,103" not in html
    # The row's own counts keep their separators.
    total = html.split('<dd class="field-total_tokens">')[1].split("</dd>")[0]
    latency = html.split('<dd class="field-latency_ms">')[1].split("</dd>")[0]
    assert total.strip() == "12,345" and latency.strip() == "19,483 ms"


def test_delete_history_asks_first_and_reads_the_time_in_the_users_timezone(staff,
                                                                            staff_client):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from logcenter.models import DeletionJob

    staff.timezone = "Europe/Berlin"
    staff.save(update_fields=["timezone"])
    html = staff_client.get("/retention/").content.decode()
    form = html.split('id="delete-history"')[1].split("</form>")[0]
    assert 'data-timezone="Europe/Berlin"' in form
    assert "return confirm(" in form and "f.kind.selectedOptions[0].text" in form
    assert "f.before.value" in form and "This cannot be undone." in form
    assert 'placeholder="YYYY-MM-DD HH:MM"' in form and "In your timezone (Europe/Berlin)." in form
    response = staff_client.post("/retention/", {"action": "delete", "kind": "system",
                                                 "before": "2026-01-15 10:00"})
    assert response.status_code == 302
    job = DeletionJob.objects.get()
    assert job.before == datetime(2026, 1, 15, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    jobs = staff_client.get("/retention/").content.decode().split("Deletion jobs")[1]
    assert "2026-01-15 10:00 CET" in jobs


def test_jobs_page_shows_the_filter_decoded_counts_grouped_and_expiry(staff, staff_client):
    from datetime import datetime
    from datetime import timezone as dt_timezone

    from logcenter.models import ExportJob

    staff.timezone = "Europe/Berlin"
    staff.save(update_fields=["timezone"])
    ExportJob.objects.create(
        user=staff, kind="audit", params={"action": ["user.*"], "range": ["7d"]},
        status="completed", rows_written=5061, estimated_total=5061, file_name="x.csv",
        expires_at=datetime(2026, 3, 1, 11, 30, tzinfo=dt_timezone.utc))
    html = staff_client.get("/exports/").content.decode()
    row = html.split('<tr id="job-')[1].split("</tr>")[0]
    assert "<code>action=user.*</code>" in row and "%2A" not in row
    assert "<code>range=7d</code>" in row
    assert "5,061 / 5,061" in row
    assert "<th>Expires</th>" in html and "2026-03-01 12:30" in row  # in the user's zone


@pytest.mark.parametrize("roles, says, never", [
    (["Administrator"], "use the Export button on the", "cannot export"),
    (["Finance"], 'Export button on the <a href="/logs/usage/">Usage</a> tab.', "cannot export"),
    (["Support"], "Your role cannot export logs", "Export button"),
])
def test_jobs_page_says_how_to_export_per_role(client, roles, says, never):
    from tests.factories import MemberFactory

    client.force_login(MemberFactory(username=f"jobs-{roles[0].lower()}", roles=roles))
    html = client.get("/exports/").content.decode()
    empty = html.split('<td class="empty"')[1].split("</td>")[0]
    assert says in empty and never not in empty


@pytest.mark.parametrize("ordering, previous, following", [
    ("", "← Newer", "Older →"),
    ("-occurred_at", "← Newer", "Older →"),
    ("occurred_at", "← Older", "Newer →"),
    ("-cost", "← Previous", "Next →"),
    ("total_tokens", "← Previous", "Next →"),
    ("-latency_ms", "← Previous", "Next →"),
])
def test_pager_says_newer_and_older_only_in_time_order(staff_client, factories, ordering,
                                                       previous, following):
    factories["usage"].create_batch(3)
    html = staff_client.get(f"/logs/usage/?page_size=25&ordering={ordering}").content.decode()
    pager = html.split('<nav class="pager"')[1].split("</nav>")[0]
    assert previous in pager and following in pager
    if ordering.lstrip("-") not in ("", "occurred_at"):
        assert "Newer" not in pager and "Older" not in pager


@pytest.mark.parametrize("slug", [kind.slug for kind in registry])
def test_a_rows_detail_link_is_what_reverse_writes_under_any_script_prefix(slug):
    """The list links each row's time to its detail page from a URL reversed once per kind
    (models.detail_url): the same URL reverse() writes, under a mounted prefix too."""
    import uuid

    from django.urls import set_script_prefix

    from logcenter.models import detail_url

    event_id = uuid.uuid4()
    try:
        for prefix in ("/", "/logcenter/"):
            set_script_prefix(prefix)
            expected = reverse("logcenter:detail", args=[slug, event_id])
            assert detail_url(slug, event_id) == detail_url(slug, str(event_id)) == expected
            assert expected.startswith(prefix)
    finally:
        set_script_prefix("/")
    with pytest.raises(ValueError):
        detail_url(slug, "not-an-id")
