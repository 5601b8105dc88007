import json
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

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
    """A detail-page value: JSON pretty-printed, times in the user's timezone, blanks dashed."""
    if value is None or value == "" or value == {} or value == []:
        return mark_safe('<span class="muted">—</span>')
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            and len({tuple(v) for v in value}) == 1):
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


def _records_table(records):
    """A list of same-shaped objects (billing items) as a small table."""
    columns = list(records[0])
    head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((r.get(c, ""),) for c in columns)),)
         for r in records))
    return format_html('<table class="kv-table"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
                       "</table>", head, body)


@register.filter
def is_change_set(value):
    """{"field": {"before": .., "after": ..}} as recorded in AuditEvent.changes."""
    return isinstance(value, dict) and value and all(
        isinstance(v, dict) and ("before" in v or "after" in v) for v in value.values()
    )
