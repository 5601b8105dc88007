"""The generic list and detail pages, for every kind."""

from html import escape

import pytest
from django.urls import reverse
from django.utils.html import conditional_escape

from logcenter.registry import registry

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
    summary = html.split('id="usage-summary"')[1].split("</div>\n  </div>")[0]
    assert "<strong>2</strong>" in summary
    assert "<strong>165</strong>" in summary
    assert "$2.0000" in summary


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
    positions = [html.index(f"{c:.6f}") for c in (3.0, 1.5, 0.5)]
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

    from logcenter import charts

    now = timezone.now()
    for minutes, latency in ((1, 100), (2, 200), (3, 300), (4, 400), (50, 9000)):
        factories["usage"](occurred_at=now - timedelta(minutes=minutes), latency_ms=latency)
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "9,000 ms" in html and "of this filter" in html
    monkeypatch.setattr(charts, "P95_SAMPLE", 3)  # the latest 3 (+1) calls: 100–400 ms
    html = staff_client.get("/logs/usage/panels/").content.decode()
    assert "400 ms" in html and "of the latest 3 calls" in html
