import json
from datetime import datetime

from django import template
from django.utils.html import format_html
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
    if isinstance(value, (dict, list)):
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False,
                                                       default=str))
    if isinstance(value, datetime):
        from django.template.defaultfilters import date as date_filter

        return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                           date_filter(value, "Y-m-d H:i:s.u T"))
    return value


@register.filter
def is_change_set(value):
    """{"field": {"before": .., "after": ..}} as recorded in AuditEvent.changes."""
    return isinstance(value, dict) and value and all(
        isinstance(v, dict) and ("before" in v or "after" in v) for v in value.values()
    )
