"""One FilterSet per log kind: the single definition of what a filter means.

The HTML list, the REST API and the export all validate their query string with these
FilterSets (through logcenter.selectors), so a parameter means the same thing in each.
Parameter names follow the model fields; ranges are `<field>_min` / `<field>_max`; the
time range is `start_time` (inclusive) / `end_time` (exclusive) or a `range` preset.
"""

import copy
import json
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from . import pagination
from .models import (FUTURE_TOLERANCE, AuditEvent, AuthEvent, LogEnvelope, Result, SystemEvent,
                     UsageRecord)

RANGE_PRESETS = {
    "1h": ("Last 1 hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
    "all": ("All time", None),
}
METADATA_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class FlexibleDateTimeField(forms.DateTimeField):
    """ISO 8601 (with or without offset; naive means the user's timezone) or Unix seconds."""

    widget = forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"})

    def to_python(self, value):
        if isinstance(value, str) and re.fullmatch(r"\s*\d{9,11}(\.\d+)?\s*", value):
            return datetime.fromtimestamp(float(value), tz=dt_timezone.utc)
        return super().to_python(value)


class FlexibleDateTimeFilter(filters.Filter):
    field_class = FlexibleDateTimeField


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); anything else is an error, not "no filter" as Django's
    NullBooleanField would have it (is_stream=maybe silently listed every call)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in (True, "true", "True", "1"):
            return True
        if value in (False, "false", "False", "0"):
            return False
        raise ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class PassThroughFilter(filters.CharFilter):
    """A parameter read by the paginator (ordering, cursor, page size), not a WHERE clause."""

    def filter(self, qs, value):
        return qs


class MetadataPairField(forms.CharField):
    """`key=value`; the key follows the ingestion rule for metadata keys."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        key, sep, expected = value.partition("=")
        if not sep or not METADATA_KEY_RE.match(key.strip()):
            raise ValidationError("Use key=value; keys are 1-64 letters, digits or underscores.")
        return key.strip(), expected.strip()


class MetadataFilter(filters.Filter):
    field_class = MetadataPairField

    def filter(self, qs, value):
        if not value:
            return qs
        key, expected = value
        # KeyTransform takes the key literally (no `__` lookup parsing); its exact lookup
        # compares JSON values, so "5" also finds the number 5 and "true" the boolean.
        candidates = [expected]
        try:
            parsed = json.loads(expected)
        except ValueError:
            parsed = None
        if isinstance(parsed, (int, float, bool)):
            candidates.append(parsed)
        condition = Q()
        for candidate in candidates:
            condition |= Q(metadata_match=candidate)
        return qs.alias(metadata_match=KeyTransform(key, "metadata")).filter(condition)


class IPFilter(filters.CharFilter):
    field_class = forms.GenericIPAddressField


class PassThroughChoiceFilter(PassThroughFilter):
    field_class = forms.ChoiceField


class LogFilterForm(forms.Form):
    """Cross-field checks shared by every kind: ranges, and a cursor that fits the sort."""

    def clean(self):
        data = super().clean()
        for name in self.restricted_filters:
            if data.get(name) not in (None, "") and name not in self.errors:
                self.add_error(name, "Your role may not filter by this field.")
        if str(self.data.get("ordering", "")).lstrip("-") in self.restricted_sorts:
            # Not offered to this viewer: say why, as for a filter, not "not a valid choice".
            self.errors["ordering"] = self.error_class(["Your role may not sort by this field."])
        for name in list(self.fields):
            if not name.endswith("_min"):
                continue
            upper = name[: -len("_min")] + "_max"
            low, high = data.get(name), data.get(upper)
            if low is not None and high is not None and low > high:
                self.add_error(upper, f"Must be greater than or equal to {name} ({low}).")
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and start >= end:
            self.add_error("end_time", "Must be later than start_time.")
        cursor = data.get("cursor")
        if cursor and "cursor" not in self.errors:
            ordering = data.get("ordering") or self.default_ordering
            try:
                data["cursor"] = pagination.Cursor.decode(cursor, ordering, self.model)
            except ValueError as exc:
                self.add_error("cursor", str(exc))
        return data


def match_any(*fields):
    """A filter method matching any of several fields exactly (user id or name, …).

    A value is nearly always in one of the fields only: the fields holding it among the
    rows being filtered (the user's visible rows) are probed first, one index lookup each,
    and only those enter the condition. One field is then one ordered index scan, where an
    OR would read every candidate row of the window. The rows matched are the same."""

    def apply(queryset, name, value):
        value = value.strip()
        holding = fields  # rollups (stats) have no index to probe with: a plain OR there
        if issubclass(queryset.model, LogEnvelope):
            holding = [f for f in fields if queryset.filter(**{f: value}).exists()]
        condition = Q()
        for field in holding or fields[:1]:
            condition |= Q(**{field: value})
        return queryset.filter(condition)

    return apply


def exact_or_prefix(field):
    """`user.role_changed` matches exactly; `user.*` (or `user.`) matches the prefix."""

    def apply(queryset, name, value):
        value = value.strip()
        if value.endswith("*"):
            return queryset.filter(**{f"{field}__startswith": value.rstrip("*")})
        return queryset.filter(**{field: value})

    return apply


class _BaseFilters(dict):
    """A FilterSet class's `base_filters`, which django-filter deep-copies for every
    instance: about 1 ms of each request for some 40 filters. No filter's state changes
    per request except `model` and `parent`, which every instance sets on its own copies,
    so a shallow copy of each filter serves; a method filter gets a FilterMethod of its
    own, bound to its copy (and so to the instance's methods)."""

    def __deepcopy__(self, memo):
        copies = {}
        for name, original in self.items():
            filter_ = copy.copy(original)
            if original.method is not None:
                filter_.method = original.method
            copies[name] = filter_
        return copies


class LogFilterSet(filters.FilterSet):
    """Filters every kind shares (the envelope), plus time window, search and paging."""

    start_time = FlexibleDateTimeFilter(field_name="occurred_at", lookup_expr="gte",
                                        label="From")
    end_time = FlexibleDateTimeFilter(field_name="occurred_at", lookup_expr="lt", label="To")
    range = filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _) in RANGE_PRESETS.items()],
        method="filter_range",
        label="Time range",
        empty_label="Default",
    )
    q = filters.CharFilter(method="filter_search", label="Search")
    request_id = filters.CharFilter(label="Request ID")
    event_id = filters.UUIDFilter(label="Event ID")
    actor_type = filters.ChoiceFilter(choices=AuditEvent._meta.get_field("actor_type").choices,
                                      empty_label="Any")
    actor_id = filters.CharFilter(label="Actor ID")
    actor_name = filters.CharFilter(label="Actor name")
    ip = IPFilter(label="IP address")
    metadata = MetadataFilter(label="Metadata", help_text="key=value, e.g. env=prod")
    ordering = PassThroughChoiceFilter(label="Sort")
    cursor = PassThroughFilter(label="Cursor")
    page_size = PassThroughFilter(label="Page size")  # field replaced in __init__

    # Set by each kind.
    search_fields: tuple = ()
    sorts: tuple = ("occurred_at",)
    default_range = "24h"
    # Model fields deliberately without a filter, each with the reason (checked by a test).
    unfiltered_fields: dict = {}

    class Meta:
        form = LogFilterForm
        fields: list = []

    @classmethod
    def get_filters(cls):
        return _BaseFilters(super().get_filters())

    def get_form_class(self):
        """One form class per FilterSet class: its fields are the same for every request
        (each form instance copies them, and the ordering and page size are set on that
        copy in __init__)."""
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._form_class = form_class
        return form_class

    def __init__(self, data=None, *args, access=None, **kwargs):
        super().__init__(data, *args, **kwargs)
        from django.conf import settings

        cfg = settings.LOGCENTER
        # Fields the user may not see plainly may not be filtered, searched or sorted
        # by either: that would reveal them one guess at a time.
        self.restricted = access.restricted_fields if access else frozenset()
        form = self.form
        form.model = self._meta.model
        form.default_ordering = "-occurred_at"
        form.restricted_filters = {
            name for name, f in self.filters.items() if f.field_name in self.restricted
        }
        # Say where the search looks (for this viewer), so that no rows is not taken for
        # "no such thing" when the text sits in a field the search does not cover.
        searched = [str(self._meta.model._meta.get_field(f).verbose_name)
                    for f in self.searched_fields]
        form.fields["q"].help_text = f"text in {', '.join(searched)}; or a whole request ID"
        form.restricted_sorts = {key for key in self.sorts if key in self.restricted}
        form.fields["ordering"].choices = [("", "Newest first")] + [
            (f"{sign}{key}", f"{key} {'descending' if sign else 'ascending'}")
            for key in self.sorts
            if key not in self.restricted
            for sign in ("-", "")
        ]
        form.fields["page_size"] = forms.IntegerField(
            required=False, min_value=1, max_value=cfg["MAX_PAGE_SIZE"], label="Page size"
        )

    # --- paging parameters, read after validation ---------------------------------
    @property
    def ordering_value(self):
        return self.form.cleaned_data.get("ordering") or "-occurred_at"

    @property
    def page_size_value(self):
        from django.conf import settings

        return self.form.cleaned_data.get("page_size") or settings.LOGCENTER["PAGE_SIZE"]

    @property
    def cursor_value(self):
        return self.form.cleaned_data.get("cursor") or None

    # --- the time window -----------------------------------------------------------
    @property
    def time_window(self):
        """(start, end, label) actually applied; stated on the page."""
        data = self.form.cleaned_data if self.form.is_valid() else {}
        start, end = data.get("start_time"), data.get("end_time")
        preset = data.get("range")
        if start or end:
            return start, end, "Custom range"
        key = preset or self.default_range
        label, delta = RANGE_PRESETS[key]
        if delta is None:
            return None, None, label
        return timezone.now() - delta, None, label if preset else f"{label} (default)"

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        if not (data.get("start_time") or data.get("end_time") or data.get("range")):
            start, _, _ = self.time_window
            if start is not None:
                queryset = queryset.filter(occurred_at__gte=start)
        # No later row can exist: the planner then leaves out the usage partitions made
        # for the months ahead, and plans each query faster.
        return queryset.filter(occurred_at__lt=self.window_end)

    @property
    def window_end(self):
        """The explicit end_time, but never past the latest time a row can have: ingestion
        refuses events further ahead than FUTURE_TOLERANCE."""
        latest = timezone.now() + FUTURE_TOLERANCE
        end = self.form.cleaned_data.get("end_time")
        return latest if end is None else min(end, latest)

    def filter_range(self, queryset, name, value):
        if self.form.cleaned_data.get("start_time") or self.form.cleaned_data.get("end_time"):
            return queryset  # an explicit from/to wins over a preset
        delta = RANGE_PRESETS[value][1]
        if delta is None:
            return queryset
        return queryset.filter(occurred_at__gte=timezone.now() - delta)

    @property
    def searched_fields(self):
        """The fields `q` looks in for this viewer: never one their role sees masked."""
        return [f for f in self.search_fields if f not in self.restricted]

    # --- shared filter methods ----------------------------------------------------------
    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.searched_fields:
            condition |= Q(**{f"{field}__icontains": value})
        condition |= Q(request_id=value)
        return queryset.filter(condition)


RESULT_CHOICES = Result.choices


class AuditEventFilterSet(LogFilterSet):
    actor = filters.CharFilter(method=match_any("actor_name", "actor_id"), label="Actor")
    action = filters.CharFilter(method=exact_or_prefix("action"), label="Action",
                                help_text="exact, or a prefix like user.*")
    category = filters.CharFilter()
    resource_type = filters.CharFilter(label="Resource type")
    resource_id = filters.CharFilter(label="Resource ID")
    resource_name = filters.CharFilter(label="Resource name")
    result = filters.ChoiceFilter(choices=RESULT_CHOICES, empty_label="Any")
    reason = filters.CharFilter(field_name="reason", lookup_expr="icontains")

    search_fields = ("action", "actor_name", "resource_name", "resource_id", "reason")
    default_range = "7d"
    unfiltered_fields = {
        "changes": "before/after JSON: shown on the detail page, searched through q",
        "details": "free-form JSON: shown on the detail page",
        "user_agent": "free text, found through q on the auth tab",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = AuditEvent



class UsageRecordFilterSet(LogFilterSet):
    user = filters.CharFilter(method=match_any("username", "user_id"), label="User",
                              help_text="username or user id")
    user_id = filters.CharFilter(label="User ID")
    username = filters.CharFilter()
    api_key = filters.CharFilter(method=match_any("api_key_name", "api_key_id"), label="API key",
                                 help_text="key name or key id")
    api_key_id = filters.CharFilter(label="API key ID")
    api_key_name = filters.CharFilter(label="API key name")
    group = filters.CharFilter()
    endpoint = filters.ChoiceFilter(choices=UsageRecord.Endpoint.choices, empty_label="Any")
    platform_model = filters.CharFilter(label="Platform model")
    upstream_model = filters.CharFilter(label="Upstream model")
    upstream_name = filters.CharFilter(label="Upstream")
    channel_id = filters.CharFilter(label="Channel")
    binding_code = filters.CharFilter(label="Binding code")
    protocol = filters.CharFilter()
    billing_mode = filters.ChoiceFilter(choices=UsageRecord.BillingMode.choices,
                                        label="Billing mode", empty_label="Any")
    status = filters.ChoiceFilter(choices=UsageRecord.Status.choices, empty_label="Any")
    error_code = filters.CharFilter(label="Error code")
    is_stream = StrictBooleanFilter(label="Stream", widget=forms.Select(
        choices=[("", "Any"), ("true", "Stream"), ("false", "Non-stream")]))
    cost_min = filters.NumberFilter(field_name="cost", lookup_expr="gte", label="Cost ≥")
    cost_max = filters.NumberFilter(field_name="cost", lookup_expr="lte", label="Cost ≤")
    total_tokens_min = filters.NumberFilter(field_name="total_tokens", lookup_expr="gte",
                                            label="Tokens ≥")
    total_tokens_max = filters.NumberFilter(field_name="total_tokens", lookup_expr="lte",
                                            label="Tokens ≤")
    latency_ms_min = filters.NumberFilter(field_name="latency_ms", lookup_expr="gte",
                                          label="Latency ≥ (ms)")
    latency_ms_max = filters.NumberFilter(field_name="latency_ms", lookup_expr="lte",
                                          label="Latency ≤ (ms)")

    search_fields = ("username", "api_key_name", "platform_model", "upstream_model",
                     "error_message")
    sorts = ("occurred_at", "cost", "total_tokens", "latency_ms")
    unfiltered_fields = {
        "prompt_tokens": "covered by total_tokens_min/max; shown per row",
        "completion_tokens": "covered by total_tokens_min/max; shown per row",
        "cached_tokens": "covered by total_tokens_min/max; shown per row",
        "quota": "billing detail, summed in the summary line",
        "credits": "billing detail, summed in the summary line",
        "billing_items": "line items JSON, shown on the detail page",
        "first_token_ms": "covered by latency_ms_min/max",
        "call_count": "per-call billing detail, summed in the summary line",
        "error_message": "free text, found through q",
        "user_agent": "free text, shown on the detail page",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = UsageRecord



class AuthEventFilterSet(LogFilterSet):
    user = filters.CharFilter(
        method=match_any("username_attempted", "user_id", "actor_name"),
        label="User",
        help_text="user id or attempted username",
    )
    user_id = filters.CharFilter(label="User ID")
    username_attempted = filters.CharFilter(label="Username attempted")
    event = filters.CharFilter(method=exact_or_prefix("event"), label="Event",
                               help_text="exact, or a prefix like login.*")
    result = filters.ChoiceFilter(choices=RESULT_CHOICES, empty_label="Any")
    identity_provider = filters.CharFilter(label="Identity provider")
    failure_reason = filters.CharFilter(label="Failure reason")
    session_key_hash = filters.CharFilter(label="Session")

    search_fields = ("username_attempted", "event", "failure_reason", "identity_provider",
                     "user_agent")
    default_range = "7d"
    unfiltered_fields = {
        "user_agent": "free text, found through q",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = AuthEvent



class SystemEventFilterSet(LogFilterSet):
    source = filters.CharFilter()
    event = filters.CharFilter(method=exact_or_prefix("event"), label="Event",
                               help_text="exact, or a prefix like export.*")
    level = filters.ChoiceFilter(choices=SystemEvent.Level.choices, empty_label="Any")
    resource_type = filters.CharFilter(label="Resource type")
    resource_id = filters.CharFilter(label="Resource ID")

    search_fields = ("source", "event", "message", "resource_id")
    default_range = "7d"
    unfiltered_fields = {
        "message": "free text, found through q",
        "details": "free-form JSON, shown on the detail page",
        "user_agent": "free text, shown on the detail page",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = SystemEvent
