"""Tables of the four list pages (django-tables2), on one console-wide base table.

Sorting is not done by the table: the rows arrive already sorted and paged by the
keyset paginator; `orderable` only marks which headers link to a whitelisted sort.
"""

import django_tables2 as tables
from django.utils.html import format_html

from .models import AuditEvent, AuthEvent, SystemEvent, UsageRecord


class LogTable(tables.Table):
    occurred_at = tables.DateTimeColumn(
        verbose_name="Time", format="Y-m-d H:i:s", linkify=True, attrs={"td": {"class": "nowrap"}}
    )

    class Meta:
        template_name = "logcenter/_table.html"
        orderable = False
        attrs = {"class": "log-table", "id": "log-rows"}
        empty_text = "No rows match this filter and time range."

    def __init__(self, *args, sorts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sorts = set(sorts)


class BadgeColumn(tables.Column):
    """A choice shown as a coloured badge; the colour follows the stored value."""

    def render(self, value, record, bound_column):
        raw = getattr(record, bound_column.accessor)
        return format_html('<span class="badge badge-{}">{}</span>', raw, value)


class AuditEventTable(LogTable):
    result = BadgeColumn()
    request_id = tables.Column(attrs={"td": {"class": "col-request"}})

    class Meta(LogTable.Meta):
        model = AuditEvent
        fields = ("occurred_at", "actor_name", "action", "resource_type", "resource_name",
                  "result", "request_id")


class UsageRecordTable(LogTable):
    total_tokens = tables.Column(verbose_name="Tokens", attrs={"td": {"class": "num"}})
    cost = tables.Column(verbose_name="Cost (USD)", attrs={"td": {"class": "num"}})
    latency_ms = tables.Column(verbose_name="Latency (ms)", attrs={"td": {"class": "num"}})
    status = BadgeColumn()
    is_stream = tables.BooleanColumn(verbose_name="Stream")

    class Meta(LogTable.Meta):
        model = UsageRecord
        fields = ("occurred_at", "username", "api_key_name", "endpoint", "platform_model",
                  "upstream_name", "total_tokens", "cost", "latency_ms", "is_stream", "status")

    def render_cost(self, value):
        return f"{value:.6f}"

    def render_latency_ms(self, value):
        return f"{value:,}"

    def render_total_tokens(self, value, record):
        return format_html('<span title="prompt {} / completion {} / cached {}">{}</span>',
                           record.prompt_tokens, record.completion_tokens,
                           record.cached_tokens, f"{value:,}")


class AuthEventTable(LogTable):
    result = BadgeColumn()

    class Meta(LogTable.Meta):
        model = AuthEvent
        fields = ("occurred_at", "event", "username_attempted", "result", "failure_reason",
                  "identity_provider", "ip")


class SystemEventTable(LogTable):
    level = BadgeColumn()
    message = tables.Column(attrs={"td": {"class": "truncate"}})

    class Meta(LogTable.Meta):
        model = SystemEvent
        fields = ("occurred_at", "level", "source", "event", "resource_type", "resource_id",
                  "message")
