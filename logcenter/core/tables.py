"""Tables of the four list pages (django-tables2), on one console-wide base table.

Sorting is not done by the table: the rows arrive already sorted and paged by the
keyset paginator; `orderable` only marks which headers link to a whitelisted sort.

django-tables2 declares the columns (headers, labels, render methods, links); the body
is rendered by LogTable.body_html, which resolves each column's way of rendering once
instead of once per cell: the generic per-cell path cost 45 ms for a page of 50 rows.
"""

import inspect
from html import escape as html_escape

import django_tables2 as tables
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# What django-tables2 offers a render method, by argument name.
_CELL_ARGUMENTS = ("value", "record", "column", "bound_column", "bound_row", "table")

from logcenter.core import units
from logcenter.models import AuditEvent, AuthEvent, SystemEvent, UsageRecord


class LogTable(tables.Table):
    occurred_at = tables.Column(verbose_name=gettext_lazy("Time"), linkify=True,
                                attrs={"td": {"class": "nowrap"}})

    class Meta:
        template_name = "logcenter/_table.html"
        orderable = False
        attrs = {"class": "log-table", "id": "log-rows"}
        empty_text = gettext_lazy("No rows match this filter and time range.")

    def __init__(self, *args, sorts=(), filter_links=None, filterable=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sorts = set(sorts)
        # A cell whose column is a filter of the same name links to the list filtered by
        # its value (logcenter.web.filterbar.FilterLinks): one click from a row to its kin.
        self.filter_links = filter_links
        self.filterable = frozenset(filterable) if filter_links is not None else frozenset()

    def render_occurred_at(self, value):
        # strftime, not date_format: the same digits, without a locale lookup per row.
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")

    def body_html(self):
        """Every row's <tr>, as django-tables2 would render them (the choice's label, the
        column's default for empty values, render methods, links, td attributes)."""
        cells = [(bound.attrs["td"].as_html(), self.cell_renderer(bound))
                 for bound in self.columns]
        # The records themselves: a BoundRow each cost a page of 50 rows 4 ms.
        records = ([row.record for row in self.page.object_list] if getattr(self, "page", None)
                   else list(self.data))
        return mark_safe("".join(
            "<tr>" + "".join(f"<td {td}>{cell(record)}</td>" for td, cell in cells)
            + "</tr>\n" for record in records))

    def cell_renderer(self, bound):
        """record -> the cell's escaped HTML, for one bound column."""
        column, name = bound.column, bound.accessor
        field = next((f for f in self._meta.model._meta.concrete_fields if f.name == name), None)
        # A choice's label, looked up once per column: the model's get_<name>_display()
        # builds the dict of its choices again for every cell.
        labels = dict(make_hashable(field.flatchoices)) if field is not None and \
            field.choices else None
        render, link = bound.render, bound.link
        if _links_to_record(link):  # linkify=True: the row's own page, without the attrs machinery
            link = _record_link
        parameters = inspect.signature(render).parameters
        wants_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        wanted = [a for a in _CELL_ARGUMENTS if wants_all or a in parameters]
        # A column without a render method of its own shows its value as it is.
        as_is = getattr(render, "__func__", None) is tables.Column.render
        default = conditional_escape(bound.default)
        filter_link = self.filter_links.url if name in self.filterable else None
        title = _("Filter by this {field}").format(field=bound.verbose_name) if filter_link \
            else ""

        def cell(record):
            value = getattr(record, name)
            if labels is not None:
                value = force_str(labels.get(make_hashable(value), value), strings_only=True)
            if value in column.empty_values:
                return default
            if as_is and (not link or link is _record_link):  # nothing else to offer
                content = link(value, record) if link else value
            else:
                offered = {"value": value, "record": record, "column": column,
                           "bound_column": bound, "bound_row": None, "table": self}
                content = render(**{a: offered[a] for a in wanted})
                if link:
                    content = link(content, **offered)
            if not link and filter_link is not None:
                return (f'<a class="filter-link" href="{_escape(filter_link(name, getattr(record, name)))}"'
                        f' title="{_escape(title)}">{_escape(content)}</a>')
            return _escape(content)

        return cell


def _links_to_record(link) -> bool:
    """A column declared linkify=True: its cells link to record.get_absolute_url()."""
    return (isinstance(link, tables.columns.base.LinkTransform) and link.url is None
            and link.accessor is None and not link.attrs and not link.reverse_args)


def _record_link(content, record, **_offered):
    """LinkTransform's <a> for linkify=True, without computing its (empty) attributes
    (half of a 50-row page's time column)."""
    return mark_safe(f'<a href="{_escape(record.get_absolute_url())}">{_escape(content)}</a>')


def _escape(value) -> str:
    """conditional_escape's text without its lazy-argument wrapper (a tenth of a page's
    rendering at 600 cells): safe HTML as it is, anything else escaped."""
    html = getattr(value, "__html__", None)
    return html() if html is not None else html_escape(str(value))


def field_label(model, name):
    """A declared column's header: its model field's verbose name, translated when shown.
    django-tables2 looks the field up only for columns it makes from Meta.fields (the rows
    arrive as a list, not a queryset), so a declared column would otherwise be headed by its
    attribute name, in English."""
    return capfirst(model._meta.get_field(name).verbose_name)


class BadgeColumn(tables.Column):
    """A choice shown as a coloured badge; the colour follows the stored value."""

    def render(self, value, record, bound_column):
        raw = getattr(record, bound_column.accessor)
        # format_html's own escaping, without its lazy wrappers (a tenth of a page's cells).
        return mark_safe(f'<span class="badge badge-{_escape(raw)}">{_escape(value)}</span>')


class AuditEventTable(LogTable):
    result = BadgeColumn(verbose_name=field_label(AuditEvent, "result"))
    request_id = tables.Column(verbose_name=field_label(AuditEvent, "request_id"),
                               attrs={"td": {"class": "col-request"}})

    class Meta(LogTable.Meta):
        model = AuditEvent
        fields = ("occurred_at", "actor_name", "action", "resource_type", "resource_name",
                  "result", "request_id")


class UsageRecordTable(LogTable):
    total_tokens = tables.Column(verbose_name=gettext_lazy("Tokens"),
                                 attrs={"td": {"class": "num"}})
    cost = tables.Column(verbose_name=gettext_lazy("Cost (USD)"), attrs={"td": {"class": "num"}})
    latency_ms = tables.Column(verbose_name=gettext_lazy("Latency (ms)"),
                               attrs={"td": {"class": "num"}})
    status = BadgeColumn(verbose_name=field_label(UsageRecord, "status"))
    is_stream = tables.Column(verbose_name=gettext_lazy("Stream"))

    class Meta(LogTable.Meta):
        model = UsageRecord
        fields = ("occurred_at", "username", "api_key_name", "endpoint", "platform_model",
                  "upstream_name", "total_tokens", "cost", "latency_ms", "is_stream", "status")

    def render_cost(self, value):
        return units.money(value)

    def render_is_stream(self, value):
        return units.stream(value)

    def render_latency_ms(self, value):
        return units.grouped(value)

    def render_total_tokens(self, value, record):
        title = _("prompt {prompt} / completion {completion} / cached {cached}").format(
            prompt=record.prompt_tokens, completion=record.completion_tokens,
            cached=record.cached_tokens)
        return mark_safe(f'<span title="{html_escape(title)}">{html_escape(units.grouped(value))}</span>')


class AuthEventTable(LogTable):
    result = BadgeColumn(verbose_name=field_label(AuthEvent, "result"))

    class Meta(LogTable.Meta):
        model = AuthEvent
        fields = ("occurred_at", "event", "username_attempted", "result", "failure_reason",
                  "identity_provider", "ip")


class SystemEventTable(LogTable):
    level = BadgeColumn(verbose_name=field_label(SystemEvent, "level"))
    message = tables.Column(verbose_name=field_label(SystemEvent, "message"),
                            attrs={"td": {"class": "truncate"}})

    class Meta(LogTable.Meta):
        model = SystemEvent
        fields = ("occurred_at", "level", "source", "event", "resource_type", "resource_id",
                  "message")
