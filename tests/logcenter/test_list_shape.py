"""The list page's shape on the server: the filter bar's split comes from the registry,
chips and value links carry the query, history gets whole pages, and costs read one way."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import translation
from django.utils.formats import number_format
from django.utils.html import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from logcenter.core import units
from logcenter.core.registry import registry

KINDS = [kind.slug for kind in registry]
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", KINDS)
def test_the_bar_filters_are_page_filters(slug):
    kind = registry[slug]
    assert 1 <= len(kind.bar_filters) <= 3
    assert set(kind.bar_filters) <= set(kind.page_filters) - {"q"}


def test_each_role_s_most_used_filters_are_in_the_bar(staff_client):
    html = staff_client.get("/logs/usage/").content.decode()
    bar, more = html.split('id="more-filters"', 1)
    for name in ("platform_model", "user", "api_key", "q"):
        assert f'id="id_{name}"' in bar
    assert 'id="id_upstream_name"' in more and 'id="id_upstream_name"' not in bar
    assert 'id="more-filters">' in html  # closed: none of its fields holds a value


def test_more_filters_open_when_one_of_them_holds_a_value(staff_client):
    html = staff_client.get("/logs/usage/?upstream_name=openai").content.decode()
    assert 'id="more-filters" open>' in html
    # A filter the bar does not list at all (from a chart or a pasted API query) shows there.
    html = staff_client.get("/logs/usage/?error_code=rate_limit").content.decode()
    more = html.split('id="more-filters"', 1)[1]
    assert 'id="id_error_code"' in more and 'id="more-filters" open>' in html


def _chips(html):
    section = html.split('id="filter-chips"', 1)[1].split("</ul>", 1)[0]
    return section


def test_chips_name_every_value_applied_and_remove_it(staff_client):
    html = staff_client.get(
        "/logs/usage/?platform_model=gpt-4o&status=error&range=7d&ordering=-cost"
        "&page_size=25").content.decode()
    chips = _chips(html)
    assert "Platform model: <strong>gpt-4o</strong>" in chips
    assert "Status: <strong>Error</strong>" in chips  # the choice's label
    assert "Time: <strong>Last 7 days</strong>" in chips
    assert "Sort: <strong>cost (USD), highest first</strong>" in chips
    assert "page_size" not in chips.split('data-name="')[-1].split('"')[0]
    removes = {}
    for part in chips.split('data-name="')[1:]:
        name = part.split('"', 1)[0]
        href = part.split('class="remove" href="', 1)[1].split('"', 1)[0]
        removes[name] = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
    assert "platform_model" not in removes["platform_model"]
    assert removes["platform_model"]["status"] == ["error"]
    assert "ordering" not in removes["ordering"] and removes["ordering"]["range"] == ["7d"]
    assert "range" not in removes["range"]


def test_the_default_window_is_a_chip_that_cannot_be_removed(staff_client):
    chips = _chips(staff_client.get("/logs/auth/").content.decode())
    assert "Last 7 days (default)" in chips and 'class="remove"' not in chips


def test_a_row_s_values_link_to_the_list_filtered_by_them(staff_client, factories):
    factories["usage"](platform_model="a,b", upstream_name="openai", cost="0.00000042")
    html = staff_client.get("/logs/usage/?status=success&cursor=").content.decode()
    assert escape('/logs/usage/?status=success&platform_model=%22a%2Cb%22') in html
    assert escape('/logs/usage/?status=success&upstream_name=openai') in html
    assert "$0.00000042" in html  # a nonzero cost never reads $0.0000


def test_masked_values_are_not_filter_links(client, factories):
    from tests.factories import MemberFactory

    MemberFactory(username="sup", roles=["Support"])
    client.login(username="sup", password="correct-horse-battery")
    factories["usage"](ip="10.1.2.3")
    factories["auth"](ip="10.1.2.3")
    assert "?ip=" not in client.get("/logs/usage/?range=all").content.decode()


def test_a_detail_page_s_values_filter_the_list(staff_client, factories):
    row = factories["usage"](platform_model="gpt-4o", request_id="req_abc123", cost="1.5",
                             quota=1234567, is_stream=False)
    html = staff_client.get(row.get_absolute_url()).content.decode()
    assert escape("/logs/usage/?platform_model=gpt-4o") in html
    assert escape("/logs/usage/?request_id=req_abc123&range=all") in html
    assert "$1.5000" in html and "1,234,567 quota" in html
    assert "not streamed" in html


def test_history_gets_whole_pages_and_caches_keep_them_apart(staff_client, factories):
    factories["audit"]()
    partial = staff_client.get("/logs/audit/", HTTP_HX_REQUEST="true")
    assert '<form id="filters"' not in partial.content.decode()
    assert "HX-Request" in partial["Vary"]
    # Back to an address htmx's cache no longer holds: the whole page, not the results.
    restore = staff_client.get("/logs/audit/", HTTP_HX_REQUEST="true",
                               HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert '<form id="filters"' in restore.content.decode()
    full = staff_client.get("/logs/audit/")
    assert "HX-Request" in full["Vary"]


def test_a_link_to_this_exact_window(staff_client):
    html = staff_client.get("/logs/usage/?range=7d&platform_model=x").content.decode()
    href = html.split('id="exact-window" href="', 1)[1].split('"', 1)[0]
    query = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
    assert "range" not in query and query["platform_model"] == ["x"]
    assert query["start_time"][0] < query["end_time"][0]
    # An absolute window needs no such link.
    html = staff_client.get("/logs/usage/?start_time=2026-01-01").content.decode()
    assert 'id="exact-window"' not in html


@pytest.mark.parametrize("value,shown", [
    (Decimal("0"), "$0.0000"),
    (Decimal("0.00000042"), "$0.00000042"),
    (Decimal("0.000042"), "$0.000042"),
    (Decimal("0.00012345"), "$0.00012"),
    (Decimal("0.0123"), "$0.0123"),
    (Decimal("1234.5"), "$1,234.5000"),
    (Decimal("-1.2"), "-$1.2000"),
    ("2.5", "$2.5000"),
    (Decimal("0.000000001"), "<$0.00000001"),
])
def test_one_rule_for_costs(value, shown):
    assert units.money(value) == shown


def test_units():
    assert units.quota(1234567) == "1,234,567 quota"
    assert units.credits(Decimal("1.5")) == "1.50 credits"
    assert units.milliseconds(1234) == "1,234 ms"
    assert "not streamed" in units.stream(False) and "stream-no" in units.stream(False)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.integers(-10**15, 10**15),
                       st.decimals(-10**12, 10**12, places=8, allow_nan=False)),
       places=st.sampled_from([None, 0, 2, 4, 8]),
       language=st.sampled_from(["en", "zh-hans", "zh-hant", "de"]))
def test_grouped_digits_read_as_django_formats_them(value, places, language):
    """units.grouped, the console's one digit grouping (costs, tokens, latency, charts), is
    Django's number_format with grouping forced, without its lookups on every number: the
    same text in every language (German: its own separators)."""
    with translation.override(language):
        assert units.grouped(value, places) == number_format(value, places,
                                                             force_grouping=True)
