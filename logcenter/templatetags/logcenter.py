import json
import re
from datetime import datetime
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from logcenter.core import units

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_link(context, table, column):
    """Header link for a whitelisted sort: descending first, then ascending. Drops the cursor,
    which belongs to the old order."""
    key = column.name
    current = table.current_ordering or "-occurred_at"
    if current == f"-{key}":
        state, target = "desc", key
    elif current == key:
        state, target = "asc", f"-{key}"
    else:
        state, target = "", f"-{key}"
    params = context["request"].GET.copy()
    params.pop("cursor", None)
    params["ordering"] = target
    return {"url": f"?{params.urlencode()}", "state": state}


@register.filter
def render_value(value):
    """A detail-page value: JSON pretty-printed, times in the user's timezone, blanks dashed.

    Numbers are shown as given (a metadata trace ID 253238103 is not "253,238,103");
    render_field groups the digits of the row's own counts."""
    if value is None or value == "" or value == {} or value == []:
        return mark_safe('<span class="muted">—</span>')
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if is_records(value):
        return _records_table(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False,
                                                       default=str))
    if isinstance(value, datetime):
        from django.template.defaultfilters import date as date_filter

        local = timezone.localtime(value)  # the user's timezone, as on the lists
        return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                           date_filter(local, "Y-m-d H:i:s T"))
    return value


@register.filter
def render_field(value):
    """A model field's value: as render_value, but integers, which the log models use only
    for counts and durations (tokens, quota, latency), get thousands separators."""
    if isinstance(value, int) and not isinstance(value, bool):
        return grouped(value)
    return render_value(value)


def grouped(value):
    """An integer with the language's digit grouping (12,345 in each of ours)."""
    return units.grouped(value)


@register.filter
def kind_label(slug):
    """A kind's label (in the user's language) from its slug, as jobs store it."""
    from logcenter.core.registry import registry

    kind = registry.get(slug)
    return kind.label if kind else slug


@register.filter
def is_records(value):
    """A list of same-shaped objects (billing items): shown as a table."""
    return bool(isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
                and len({tuple(v) for v in value}) == 1)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_NUM = mark_safe(' class="num"')


def _is_number(value):
    return (isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)) or (
        isinstance(value, str) and _NUMBER.fullmatch(value) is not None)


def humanize_key(key):
    """unit_price -> "Unit price"."""
    return capfirst(str(key).replace("_", " "))


def _records_table(records):
    """A list of same-shaped objects (billing items) as a small table: readable headers,
    number columns right-aligned, values shown as given."""
    columns = list(records[0])
    numeric = {c: all(_is_number(r[c]) for r in records) for c in columns}
    head = format_html_join("", '<th{} title="{}">{}</th>',
                            ((_NUM if numeric[c] else "", c, humanize_key(c)) for c in columns))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td{}>{}</td>",
                           ((_NUM if numeric[c] else "", "" if r[c] is None else r[c])
                            for c in columns)),)
         for r in records))
    return format_html('<table class="kv-table"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
                       "</table>", head, body)


@register.filter
def is_change_set(value):
    """{"field": {"before": .., "after": ..}} as recorded in AuditEvent.changes."""
    return isinstance(value, dict) and value and all(
        isinstance(v, dict) and ("before" in v or "after" in v) for v in value.values()
    )


@register.filter
def pager_labels(ordering):
    """(previous, next) for the pager: newer/older only when the rows are in time order."""
    if ordering in ("", None, "-occurred_at"):
        return (_("← Newer"), _("Older →"))
    if ordering == "occurred_at":
        return (_("← Older"), _("Newer →"))
    return (_("← Previous"), _("Next →"))


@register.filter
def money(value):
    """A cost as every page shows it (logcenter.core.units.money)."""
    return units.money(value)


@register.filter
def unit(value, name):
    """A value with its unit ("quota", "credits", "ms", "stream"; logcenter.core.units)."""
    shown = units.display(name, value)
    return value if shown is None else shown


@register.filter
def add_hint(bound_field, hint):
    """A compact filter bar's field: its help text as the box's placeholder and tooltip
    (the bar has no room for a line under each box)."""
    attrs = {"title": hint}
    if getattr(bound_field.field.widget, "input_type", "") in ("text", "search", "number"):
        attrs["placeholder"] = hint
    return bound_field.as_widget(attrs=attrs)
