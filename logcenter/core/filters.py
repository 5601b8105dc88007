"""One FilterSet per log kind: the single definition of what a filter means.

The HTML list, the REST API and the export all validate their query string with these
FilterSets (through logcenter.core.selectors), so a parameter means the same thing in each.
Parameter names follow the model fields; ranges are `<field>_min` / `<field>_max`; the
time range is `start_time` (inclusive) / `end_time` (exclusive) or a `range` preset.

Every choice and exact-match filter takes several values, repeated (`level=error&
level=critical`) or as a comma list (`status=error,timeout`; a value holding a comma is
quoted, `"Smith, John"`), meaning any of them; and each has a negation, `exclude_<name>`,
taking values the same way, meaning none of them. Every value is parsed within bounds
(times, numbers, lengths) before it reaches the database.
"""

import copy
import csv
import re
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from functools import lru_cache

import django_filters as filters
from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from logcenter.core import pagination
from logcenter.core.text import unstorable
from logcenter.engines import engine_for
from logcenter.models import (FUTURE_TOLERANCE, METADATA_KEY_RE, AuditEvent, AuthEvent, LogEnvelope,
                     Result, SystemEvent, UsageRecord)

RANGE_PRESETS = {
    "1h": (_("Last 1 hour"), timedelta(hours=1)),
    "24h": (_("Last 24 hours"), timedelta(hours=24)),
    "7d": (_("Last 7 days"), timedelta(days=7)),
    "30d": (_("Last 30 days"), timedelta(days=30)),
    "90d": (_("Last 90 days"), timedelta(days=90)),
    "all": (_("All time"), None),
}
# Query times outside these are refused: no stored row is older than 2000 (ingestion's
# rule) or later than now + 5 minutes, and within them no window arithmetic overflows.
EARLIEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
LATEST_QUERY_TIME = datetime(2100, 1, 1, tzinfo=dt_timezone.utc)
SEARCH_MAX_LENGTH = 512
TEXT_MAX_LENGTH = 1024  # an exact-match value of a column without max_length
MAX_VALUES = 100  # values of one multi-valued filter
NEGATION_PREFIX = "exclude_"


def refuse_surrogates(value):
    """Lone surrogates (from JSON's "\\ud800") cannot be encoded for the database."""
    if unstorable(value) == "surrogate":  # NUL: Django's own validator refuses it
        raise ValidationError(_("Must be valid Unicode text (no lone surrogates)."),
                              code="surrogates")


class BoundedCharField(forms.CharField):
    """Text with a length cap, no NUL (Django's own check) and no lone surrogates."""

    default_validators = [refuse_surrogates]

    def __init__(self, *args, max_length=TEXT_MAX_LENGTH, **kwargs):
        super().__init__(*args, max_length=max_length, **kwargs)


class FlexibleDateTimeField(forms.DateTimeField):
    """ISO 8601 (with or without offset; naive means the user's timezone) or Unix seconds,
    between 1970 and 2100."""

    widget = forms.DateTimeInput(attrs={"placeholder": _("YYYY-MM-DD HH:MM")})

    def to_python(self, value):
        if isinstance(value, str) and len(value) > 64:
            raise ValidationError(_("Enter a valid date/time."), code="invalid")
        try:
            if isinstance(value, str) and re.fullmatch(r"\s*\d{1,11}(\.\d{1,9})?\s*", value):
                parsed = datetime.fromtimestamp(float(value), tz=dt_timezone.utc)
            else:
                parsed = super().to_python(value)
            if parsed is not None and not EARLIEST_QUERY_TIME <= parsed < LATEST_QUERY_TIME:
                raise OverflowError
        except (OverflowError, OSError):  # year 1 or 9999 shifted by its offset, …
            raise ValidationError(_("Must be between 1970-01-01 and 2100-01-01."),
                                  code="out_of_range") from None
        return parsed


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
        raise ValidationError(_("Use true or false."), code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


DECIMAL_RE = re.compile(r"\s*[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})\s*")


class BoundedDecimalField(forms.DecimalField):
    """A plain decimal within a column's digits. The text is checked before any conversion:
    `1e-99999999` or `1e309` never reach Decimal arithmetic (or the database)."""

    def __init__(self, *, max_digits, decimal_places, **kwargs):
        super().__init__(max_digits=max_digits + decimal_places, decimal_places=decimal_places,
                         min_value=0, **kwargs)
        self.whole_digits = max_digits - decimal_places

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, str) or not DECIMAL_RE.fullmatch(value):
            raise ValidationError(_("Enter a plain decimal number, like 0.5 (no exponent)."),
                                  code="invalid")
        number = Decimal(value.strip())
        if abs(number) >= Decimal(10) ** self.whole_digits:
            raise ValidationError(_("Must be below {limit}.").format(
                limit=10 ** self.whole_digits), code="max_value")
        return number

    def validate(self, value):
        super(forms.DecimalField, self).validate(value)


class BoundedIntegerField(forms.IntegerField):
    """A whole number within the column's range (digits checked before conversion)."""

    def __init__(self, *, min_value=0, max_value=2**63 - 1, **kwargs):
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_python(self, value):
        if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?\d{1,20}\s*", value):
            if value.strip():
                raise ValidationError(_("Enter a whole number."), code="invalid")
        return super().to_python(value)


class BoundedNumberFilter(filters.NumberFilter):
    """`<field>_min` / `<field>_max` with the column's bounds."""

    def __init__(self, *args, model_field=None, **kwargs):
        self.model_field = model_field
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            column = self.model_field
            if column.get_internal_type() == "DecimalField":
                self._field = BoundedDecimalField(
                    max_digits=column.max_digits, decimal_places=column.decimal_places,
                    required=False, label=self.label)
            else:
                self._field = BoundedIntegerField(required=False, label=self.label,
                                                  max_value=2**31 - 1)
        return self._field


class PassThroughFilter(filters.CharFilter):
    """A parameter read by the paginator (ordering, cursor, page size), not a WHERE clause."""

    def filter(self, qs, value):
        return qs


class MetadataPairField(BoundedCharField):
    """`key=value`; the key follows the ingestion rule for metadata keys."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        key, sep, expected = value.partition("=")
        if not sep or not METADATA_KEY_RE.fullmatch(key.strip()):
            raise ValidationError(
                _("Use key=value; keys are 1-64 letters, digits or underscores."))
        return key.strip(), expected.strip()


NUMBER_TEXT_RE = re.compile(r"-?\d{1,18}(\.\d{1,18})?")


class MetadataFilter(filters.Filter):
    field_class = MetadataPairField

    def filter(self, qs, value):
        if not value:
            return qs
        key, expected = value
        # KeyTransform takes the key literally (no `__` lookup parsing); its exact lookup
        # compares JSON values, so "5" also finds the number 5 and "true" the boolean.
        # Only plain numbers are tried as numbers (never json.loads: "1e999" is infinity,
        # "[[[…" a recursion error).
        candidates = [expected]
        if expected in ("true", "false"):
            candidates.append(expected == "true")
        elif NUMBER_TEXT_RE.fullmatch(expected):
            candidates.append(float(expected) if "." in expected else int(expected))
        condition = Q()
        for candidate in candidates:
            condition |= Q(metadata_match=candidate)
        return qs.alias(metadata_match=KeyTransform(key, "metadata")).filter(condition)


class SafeIPAddressField(forms.GenericIPAddressField):
    """An address PostgreSQL's inet can hold: no IPv6 zone (`fe80::1%eth0`)."""

    def to_python(self, value):
        if isinstance(value, str) and "%" in value:
            raise ValidationError(_("Enter an IP address without a zone (%…)."),
                                  code="invalid")
        return super().to_python(value)


# --- several values per filter ----------------------------------------------------------

def split_values(raw_values) -> list[str]:
    """Repeats and comma lists as one list, in order, without blanks or repeats. A value
    holding a comma is written in double quotes (CSV quoting)."""
    values = []
    for raw in raw_values:
        if raw is None:
            continue
        if not isinstance(raw, str):
            raw = str(raw)
        if len(raw) > TEXT_MAX_LENGTH * 4:
            raise ValidationError(_("Too long."), code="max_length")
        if "," in raw or '"' in raw:
            try:
                parts = next(csv.reader([raw], skipinitialspace=True, strict=True))
            except (csv.Error, StopIteration):
                raise ValidationError(_('Unbalanced quotes: quote a value holding a comma '
                                        'as "a, b".'), code="invalid") from None
        else:
            parts = [raw]
        for part in parts:
            part = part.strip()
            if part and part not in values:
                values.append(part)
    if len(values) > MAX_VALUES:
        raise ValidationError(_("At most {n} values.").format(n=MAX_VALUES),
                              code="max_values")
    return values


class ManyValuesWidgetMixin:
    """Reads every value given for the name (repeats), and shows them comma-joined."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return data.getlist(name)
        value = data.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, (list, tuple)) else [value]


def _quote(value):
    return f'"{value}"' if "," in value or '"' in value else value


class ManyValuesInput(ManyValuesWidgetMixin, forms.TextInput):
    def format_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(_quote(str(v)) for v in value if v not in (None, "")) or None
        return super().format_value(value)


class ManyValuesSelect(ManyValuesWidgetMixin, forms.Select):
    """A select that turns into a multiple select when the query holds several values."""

    def get_context(self, name, value, attrs):
        raw = value if isinstance(value, (list, tuple)) else [value]
        try:
            values = split_values(raw)  # a comma list selects each of its values
        except ValidationError:
            values = [v for v in raw if v not in (None, "")]
        self.allow_multiple_selected = len(values) > 1
        return super().get_context(name, values, attrs)


class ManyValuesField(forms.Field):
    """Several values, each cleaned by `inner` (a form field); None when none are given."""

    def __init__(self, *, inner: forms.Field, **kwargs):
        self.inner = inner
        kwargs.setdefault("widget", ManyValuesSelect(choices=[("", _("Any")), *inner.choices])
                          if isinstance(inner, forms.ChoiceField) else ManyValuesInput())
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in (None, "", [], ()):
            return None
        raw = value if isinstance(value, (list, tuple)) else [value]
        return split_values(raw) or None

    def clean(self, value):
        """Each value cleaned by `inner`; every bad one named in the errors."""
        errors, cleaned = [], []
        for item in self.to_python(value) or []:
            try:
                cleaned.append(self.inner.clean(item))
            except ValidationError as error:
                errors += [ValidationError(f"{item[:80]!r}: {message}", code="invalid")
                           for message in error.messages]
        if errors:
            raise ValidationError(errors)
        return [v for v in cleaned if v not in (None, "")] or None


def _any_of(field_name):
    """The default condition: the field equals any of the values."""

    def condition(queryset, values):
        if len(values) == 1:
            return Q(**{field_name: values[0]})
        return Q(**{f"{field_name}__in": values})

    return condition


class AnyOfFilter(filters.CharFilter):
    """A choice or exact-match filter taking several values (OR), or, as its derived
    `exclude_<name>` twin, refusing them all. `condition(queryset, values)` -> Q says what
    a match is (the field equals a value, by default)."""

    field_class = ManyValuesField

    def __init__(self, *args, inner=None, condition=None, choices=None, **kwargs):
        self.inner_field = inner
        self.choices = choices
        self.condition = condition
        super().__init__(*args, **kwargs)

    def make_inner(self):
        if self.choices is not None:
            return forms.ChoiceField(choices=self.choices, required=False)
        if self.inner_field is not None:
            return copy.deepcopy(self.inner_field)
        max_length = TEXT_MAX_LENGTH
        try:
            column = self.model._meta.get_field(self.field_name)
            max_length = getattr(column, "max_length", None) or TEXT_MAX_LENGTH
        except (AttributeError, FieldDoesNotExist):  # a condition over several fields
            pass
        return BoundedCharField(required=False, max_length=max_length)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = ManyValuesField(inner=self.make_inner(), required=False,
                                          label=self.label, help_text=self.extra.get(
                                              "help_text", ""))
        return self._field

    def negation(self):
        """The `exclude_<name>` twin of this filter."""
        twin = copy.copy(self)
        twin.__dict__.pop("_field", None)
        twin.exclude = True
        twin.label = format_lazy(_("{label} is not"),
                                 label=self.label or self.field_name)
        twin.negates = self
        return twin

    def columns(self, qs, value):
        """The columns this filter matches `value` in among the rows of `qs` (a condition
        over several fields: those holding the values), or [] where that is not known."""
        if getattr(self.condition, "holding", None) is not None:
            return list(self._holding(qs, value)) or [self.condition.fields[0]]
        if self.condition is None or _is_column(getattr(self, "model", None), self.field_name):
            return [self.field_name]
        return []

    def filter(self, qs, value):
        if not value:
            return qs
        if getattr(self.condition, "holding", None) is not None:
            condition = self.condition(qs, value, held=self._holding(qs, value))
        else:
            condition = (self.condition or _any_of(self.field_name))(qs, value)
        return qs.exclude(condition) if self.exclude else qs.filter(condition)

    def _holding(self, qs, value):
        """The condition's fields holding `value` (match_any), probed once per FilterSet
        instance (kept on it: its filters are shallow copies of the class's) and model. The
        first probe is of the list's own rows (filter_queryset); the engine then asks again
        of windows around them (a minute wider, every organization's), whose rows it checks
        against the list's: a field holding the values only outside the list's rows adds
        nothing to it. A filtered page asked ten probes (1 ms each) where two answer."""
        parent = getattr(self, "parent", None)
        if parent is None:  # a filter applied on its own: nothing to share the answer with
            return self.condition.holding(qs, value)
        held = parent.__dict__.setdefault("_lc_held", {})
        key = (id(self.condition), self.exclude, qs.model, tuple(value))
        if key not in held:
            held[key] = self.condition.holding(qs, value)
        return held[key]


def _is_column(model, name):
    try:
        return model is not None and model._meta.get_field(name).concrete
    except FieldDoesNotExist:
        return False


def match_any(*fields):
    """A condition matching any of several fields exactly (user id or name, …).

    A value is nearly always in one of the fields only: the fields holding it among the
    rows being filtered (the user's visible rows) are probed first, one index lookup each,
    and only those enter the condition. One field is then one ordered index scan, where an
    OR would read every candidate row of the window. The rows matched are the same."""

    def holding(queryset, values):
        """{field: the values found in it among the rows of `queryset`} (every value in
        every field where the rows are not log rows)."""
        found = {}
        for field in fields:
            held = values
            if issubclass(queryset.model, LogEnvelope):
                held = [v for v in values if queryset.filter(**{field: v}).exists()]
            if held:
                found[field] = held
        return found

    def condition(queryset, values, held=None):
        """`held`: holding(queryset, values) where the caller knows it already."""
        result = Q()
        for field, found in (held if held is not None else holding(queryset, values)).items():
            result |= _any_of(field)(queryset, found)
        return result or _any_of(fields[0])(queryset, values)

    condition.fields = fields
    condition.holding = holding
    return condition


def exact_or_prefix(field):
    """`user.role_changed` matches exactly; `user.*` (or `user.`) matches the prefix."""

    def condition(queryset, values):
        exact = [v for v in values if not v.endswith("*")]
        result = _any_of(field)(queryset, exact) if exact else Q()
        for prefix in (v.rstrip("*") for v in values if v.endswith("*")):
            result |= Q(**{f"{field}__startswith": prefix})
        return result

    return condition


class LevelAtLeastFilter(filters.ChoiceFilter):
    """System events of this level or above (`level_min=warning`): one value."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", SystemEvent.Level.choices)
        kwargs.setdefault("empty_label", _("Any"))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        order = list(SystemEvent.Level.values)
        return qs.filter(level__in=order[order.index(value):])


class PassThroughChoiceFilter(PassThroughFilter):
    field_class = forms.ChoiceField


class SearchFilter(filters.CharFilter):
    field_class = BoundedCharField


class LogFilterForm(forms.Form):
    """Cross-field checks shared by every kind: ranges, and a cursor that fits the sort."""

    def clean(self):
        data = super().clean()
        for name in self.restricted_filters:
            if data.get(name) not in (None, "") and name not in self.errors:
                self.add_error(name, _("Your role may not filter by this field."))
        if str(self.data.get("ordering", "")).lstrip("-") in self.restricted_sorts:
            # Not offered to this viewer: say why, as for a filter, not "not a valid choice".
            self.errors["ordering"] = self.error_class(
                [_("Your role may not sort by this field.")])
        for name in list(self.fields):
            if not name.endswith("_min"):
                continue
            upper = name[: -len("_min")] + "_max"
            low, high = data.get(name), data.get(upper)
            if low is not None and high is not None and low > high:
                self.add_error(upper, _("Must be greater than or equal to {name} ({low}).")
                               .format(name=name, low=low))
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and start >= end:
            self.add_error("end_time", _("Must be later than start_time."))
        cursor = data.get("cursor")
        if cursor and "cursor" not in self.errors:
            ordering = data.get("ordering") or self.default_ordering
            try:
                data["cursor"] = pagination.Cursor.decode(cursor, ordering, self.model)
            except ValueError as exc:
                self.add_error("cursor", str(exc))
        return data


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
                                        label=_("From"))
    end_time = FlexibleDateTimeFilter(field_name="occurred_at", lookup_expr="lt", label=_("To"))
    range = filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _) in RANGE_PRESETS.items()],
        method="filter_range",
        label=_("Time range"),
        empty_label=_("Default"),
    )
    q = SearchFilter(method="filter_search", label=_("Search"), max_length=SEARCH_MAX_LENGTH)
    request_id = AnyOfFilter(label=_("Request ID"))
    event_id = AnyOfFilter(label=_("Event ID"), inner=forms.UUIDField(required=False))
    actor_type = AnyOfFilter(choices=AuditEvent._meta.get_field("actor_type").choices,
                             label=_("Actor type"))
    actor_id = AnyOfFilter(label=_("Actor ID"))
    actor_name = AnyOfFilter(label=_("Actor name"))
    ip = AnyOfFilter(label=_("IP address"), inner=SafeIPAddressField(required=False))
    metadata = MetadataFilter(label=_("Metadata"), help_text=_("key=value, e.g. env=prod"))
    ingested_by = AnyOfFilter(label=_("Ingested by"),
                              help_text=_("the ingest key's id (prefix), or console"))
    # Narrow the rows the user may see (Access.scope): an organization's users see only
    # theirs whatever these say.
    organization_id = AnyOfFilter(label=_("Organization ID"))
    project_id = AnyOfFilter(label=_("Project ID"))
    ordering = PassThroughChoiceFilter(label=_("Sort"))
    cursor = PassThroughFilter(label=_("Cursor"), max_length=4096)
    page_size = PassThroughFilter(label=_("Page size"))  # field replaced in __init__

    # Set by each kind.
    search_fields: tuple = ()
    sorts: tuple = ("occurred_at",)
    default_range = "24h"
    # Model fields deliberately without a filter, each with the reason (checked by a test).
    unfiltered_fields: dict = {
        "ingested_by_name": "the ingesting key's name, shown beside ingested_by (filter by "
                            "the key's id: names change)",
    }

    class Meta:
        form = LogFilterForm
        fields: list = []

    @classmethod
    def get_filters(cls):
        """The declared filters, and for each multi-valued one its `exclude_<name>` twin
        (derived here, so a new filter gets its negation without more code)."""
        declared = super().get_filters()
        for name, filter_ in list(declared.items()):
            if isinstance(filter_, AnyOfFilter) and not filter_.exclude:
                declared[NEGATION_PREFIX + name] = filter_.negation()
        return _BaseFilters(declared)

    @classmethod
    def multi_valued(cls) -> frozenset:
        """Parameters that take several values (repeats or a comma list)."""
        return frozenset(name for name, filter_ in cls.base_filters.items()
                         if isinstance(filter_, AnyOfFilter))

    @classmethod
    def parameter_names(cls) -> frozenset:
        """Every parameter a list of this kind takes: its filters, time window and paging."""
        return frozenset(cls.base_filters)

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
        form.fields["q"].help_text = _("text in {fields}; or a whole ID or name").format(
            fields=_(", ").join(searched))
        form.restricted_sorts = {key for key in self.sorts if key in self.restricted}
        form.fields["ordering"].choices = [("", _("Newest first"))] + [
            (f"{sign}{key}", (_("{key} descending") if sign else _("{key} ascending"))
             .format(key=key))
            for key in self.sorts
            if key not in self.restricted
            for sign in ("-", "")
        ]
        form.fields["page_size"] = forms.IntegerField(
            required=False, min_value=1, max_value=cfg["MAX_PAGE_SIZE"], label=_("Page size")
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
            return start, end, _("Custom range")
        key = preset or self.default_range
        label, delta = RANGE_PRESETS[key]
        if delta is None:
            return None, None, label
        return (timezone.now() - delta, None,
                label if preset else _("{label} (default)").format(label=label))

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

    def within_window(self, queryset, margin=timedelta(0)):
        """`queryset`'s rows within the time window (its start `margin` earlier: a relative
        window read again starts a little later than it did for the filterset's own qs)."""
        start, _, _ = self.time_window
        queryset = queryset.filter(occurred_at__lt=self.window_end)
        return queryset if start is None else queryset.filter(occurred_at__gte=start - margin)

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
        """Text in the searched fields, or a whole ID or name. A pasted identifier (one
        token: a request ID, an event ID, an IP address, an API key's id), or the whole of
        a searched name (a user, a model, an action), that some row holds in a column an
        index leads with, is looked up there alone: the index answers at once where a
        search of the text would read the window's rows. Other text goes through the
        store's text index where it has one (Engine.text_candidates)."""
        value = value.strip()
        if not value:
            return queryset
        # The lookups below probe the rows of the window only (the default window is added
        # after the filters): a value held only outside it must not change what is searched.
        probed = self.within_window(queryset)
        pasted = self._pasted_identifier(probed, value)
        if pasted is not None:
            return queryset.filter(pasted)
        named = self._whole_value(probed, value)
        if named is not None:
            return queryset.filter(named)
        condition = Q()
        for field in self.searched_fields:
            condition |= Q(**{f"{field}__icontains": value})
        condition |= Q(request_id=value)
        # The store's text index (over every searched field, masked ones too) narrows the
        # rows first; the condition above then decides, so the answer is the same.
        model = self._meta.model
        candidates = engine_for(model).text_candidates(model, self.search_fields, value)
        if candidates is not None:
            queryset = queryset.filter(Q(candidates) | Q(request_id=value))
        return queryset.filter(condition)

    def _pasted_identifier(self, queryset, value):
        """The exact condition for `value` as an identifier some row of `queryset` holds,
        else None (then it is searched as text)."""
        if not IDENTIFIER_RE.fullmatch(value):
            return None
        return _held_whole(queryset, value, [
            field for field in indexed_fields(self._meta.model, IDENTIFIER_FIELDS)
            if field.attname not in self.restricted and _is_valid_for(field, value)])

    def _whole_value(self, queryset, value):
        """The exact condition for `value` as the whole of a searched field that leads an
        index (a user name, a model name, an action) in some row of `queryset`, else None:
        then the search is that field's filter, one ordered index scan, rather than text
        matched in every field (which, for a name a tenth of the rows carry, reads them all)."""
        if len(value) > NAME_MAX_LENGTH:
            return None
        return _held_whole(queryset, value,
                           indexed_fields(self._meta.model, tuple(self.searched_fields)))


def _held_whole(queryset, value, fields):
    """Q(field=value) for the `fields` that hold `value` in some row of `queryset` (one
    index probe each; one column is one ordered index scan, where an OR of several would
    read every candidate of the window), or None."""
    condition = Q()
    for field in fields:
        if queryset.filter(**{field.attname: value}).exists():
            condition |= Q(**{field.attname: value})
    return condition or None


# One token, as identifiers are pasted: letters, digits and the punctuation of IDs, keys
# and addresses.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{5,199}")
IDENTIFIER_FIELDS = ("request_id", "event_id", "ip", "api_key_id")


NAME_MAX_LENGTH = 254  # the longest name column (actor_name)


@lru_cache(maxsize=None)
def indexed_fields(model, names):
    """The model's fields among `names` that an index leads with (a lookup of one value in
    them is one index seek)."""
    leading = {index.fields[0].lstrip("-") for index in model._meta.indexes if index.fields}
    found = []
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.unique or field.db_index or name in leading or any(
                constraint.fields[:1] == (name,) for constraint in model._meta.constraints
                if getattr(constraint, "fields", None)):
            found.append(field)
    return tuple(found)


def _is_valid_for(field, value):
    """Whether `value` can be stored in `field` (a UUID, an IP address, text)."""
    try:
        field.run_validators(field.to_python(value))
    except (ValidationError, ValueError, TypeError):
        return False
    return True


RESULT_CHOICES = Result.choices
RECORD_VIEWED = "audit_log.viewed"  # services.log_read_record's action for an audit detail


def _column(model, name):
    return model._meta.get_field(name)


class AuditEventFilterSet(LogFilterSet):
    actor = AnyOfFilter(condition=match_any("actor_name", "actor_id"), label=_("Actor"))
    action = AnyOfFilter(condition=exact_or_prefix("action"), label=_("Action"),
                         help_text=_("exact, or a prefix like user.*"))
    category = AnyOfFilter(label=_("Category"))
    resource_type = AnyOfFilter(label=_("Resource type"))
    resource_id = AnyOfFilter(label=_("Resource ID"))
    resource_name = AnyOfFilter(label=_("Resource name"))
    result = AnyOfFilter(choices=RESULT_CHOICES, label=_("Result"))
    reason = SearchFilter(field_name="reason", lookup_expr="icontains", label=_("Reason"),
                          max_length=256)
    show_views = StrictBooleanFilter(
        label=_("Record views"), method="filter_show_views",
        help_text=format_lazy(_("{action}: who opened which audit record (hidden unless "
                                "shown, or asked for by action)"),
                              action=RECORD_VIEWED),
        widget=forms.Select(choices=[("", _("Hidden")), ("true", _("Shown"))]))

    search_fields = ("action", "actor_name", "resource_name", "resource_id", "reason")
    default_range = "7d"
    unfiltered_fields = {
        **LogFilterSet.unfiltered_fields,
        "changes": "before/after JSON: shown on the detail page (not searched)",
        "details": "free-form JSON: shown on the detail page",
        "user_agent": "free text, found through q on the auth tab",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = AuditEvent

    def filter_show_views(self, queryset, name, value):
        return queryset  # applied in filter_queryset, which also sees `action`

    def filter_queryset(self, queryset):
        """Reading an audit record is itself audited; those rows would bury the changes, so
        they are left out unless shown (show_views=true) or asked for by `action`."""
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        asked = any(v == RECORD_VIEWED or (v.endswith("*") and
                                           RECORD_VIEWED.startswith(v.rstrip("*")))
                    for v in data.get("action") or [])
        if not data.get("show_views") and not asked:
            queryset = queryset.exclude(action=RECORD_VIEWED)
        return queryset


def _range(model, name, bound, label):
    lookup = "gte" if bound == "min" else "lte"
    return BoundedNumberFilter(field_name=name, lookup_expr=lookup, label=label,
                               model_field=_column(model, name))


class UsageRecordFilterSet(LogFilterSet):
    user = AnyOfFilter(condition=match_any("username", "user_id"), label=_("User"),
                       help_text=_("username or user id"))
    user_id = AnyOfFilter(label=_("User ID"))
    username = AnyOfFilter(label=_("Username"))
    api_key = AnyOfFilter(condition=match_any("api_key_name", "api_key_id"), label=_("API key"),
                          help_text=_("key name or key id"))
    api_key_id = AnyOfFilter(label=_("API key ID"))
    api_key_name = AnyOfFilter(label=_("API key name"))
    group = AnyOfFilter(label=_("Group"))
    endpoint = AnyOfFilter(choices=UsageRecord.Endpoint.choices, label=_("Endpoint"))
    platform_model = AnyOfFilter(label=_("Platform model"))
    upstream_model = AnyOfFilter(label=_("Upstream model"))
    upstream_name = AnyOfFilter(label=_("Upstream"))
    channel_id = AnyOfFilter(label=_("Channel"))
    binding_code = AnyOfFilter(label=_("Binding code"))
    protocol = AnyOfFilter(label=_("Protocol"))
    billing_mode = AnyOfFilter(choices=UsageRecord.BillingMode.choices, label=_("Billing mode"))
    status = AnyOfFilter(choices=UsageRecord.Status.choices, label=_("Status"))
    error_code = AnyOfFilter(label=_("Error code"))
    is_stream = StrictBooleanFilter(label=_("Stream"), widget=forms.Select(
        choices=[("", _("Any")), ("true", _("Stream")),
                 ("false", _("Non-stream"))]))
    cost_min = _range(UsageRecord, "cost", "min", _("Cost ≥"))
    cost_max = _range(UsageRecord, "cost", "max", _("Cost ≤"))
    total_tokens_min = _range(UsageRecord, "total_tokens", "min", _("Tokens ≥"))
    total_tokens_max = _range(UsageRecord, "total_tokens", "max", _("Tokens ≤"))
    latency_ms_min = _range(UsageRecord, "latency_ms", "min", _("Latency ≥ (ms)"))
    latency_ms_max = _range(UsageRecord, "latency_ms", "max", _("Latency ≤ (ms)"))

    search_fields = ("username", "api_key_name", "platform_model", "upstream_model",
                     "error_message")
    sorts = ("occurred_at", "cost", "total_tokens", "latency_ms")
    unfiltered_fields = {
        **LogFilterSet.unfiltered_fields,
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
    user = AnyOfFilter(
        condition=match_any("username_attempted", "user_id", "actor_name"),
        label=_("User"),
        help_text=_("user id or attempted username"),
    )
    user_id = AnyOfFilter(label=_("User ID"))
    username_attempted = AnyOfFilter(label=_("Username attempted"))
    event = AnyOfFilter(condition=exact_or_prefix("event"), label=_("Event"),
                        help_text=_("exact, or a prefix like login.*"))
    result = AnyOfFilter(choices=RESULT_CHOICES, label=_("Result"))
    identity_provider = AnyOfFilter(label=_("Identity provider"))
    failure_reason = AnyOfFilter(label=_("Failure reason"))
    session_key_hash = AnyOfFilter(label=_("Session"))

    search_fields = ("username_attempted", "event", "failure_reason", "identity_provider",
                     "user_agent")
    default_range = "7d"
    unfiltered_fields = {
        **LogFilterSet.unfiltered_fields,
        "user_agent": "free text, found through q",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = AuthEvent


class SystemEventFilterSet(LogFilterSet):
    source = AnyOfFilter(label=_("Source"))
    event = AnyOfFilter(condition=exact_or_prefix("event"), label=_("Event"),
                        help_text=_("exact, or a prefix like export.*"))
    level = AnyOfFilter(choices=SystemEvent.Level.choices, label=_("Level"))
    level_min = LevelAtLeastFilter(label=_("Level at least"),
                                   help_text=_("this level or above, e.g. warning"))
    resource_type = AnyOfFilter(label=_("Resource type"))
    resource_id = AnyOfFilter(label=_("Resource ID"))

    search_fields = ("source", "event", "message", "resource_id")
    default_range = "7d"
    unfiltered_fields = {
        **LogFilterSet.unfiltered_fields,
        "message": "free text, found through q",
        "details": "free-form JSON, shown on the detail page",
        "user_agent": "free text, shown on the detail page",
        "ingested_at": "storage time, not a business time",
    }

    class Meta(LogFilterSet.Meta):
        model = SystemEvent
