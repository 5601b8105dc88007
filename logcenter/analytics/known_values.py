"""Suggestions for the filters with known values (a kind's `suggestions`), read cheaply.

Nothing here reads a log table when a page or the API asks for suggestions:

- a choice filter (endpoint, level, …) offers its choices;
- otherwise a role that sees every row of the kind gets the values of `KnownValue`, a small
  table a beat job (`known_values_refresh`, every 10 minutes) fills from what was stored
  since its last run: from the kind's rollup where it holds the field (usage: model,
  upstream, group, endpoint), else from the rows of that increment (one bounded DISTINCT
  per field, in the job, never on a page load);
- anyone else (a member; an organization's users) gets values of the rows they may see
  (Access.scope) from the kind's `own_values` table (usage: the hourly rollup, by user id),
  or nothing when that table lacks a column of their rule: a global table would tell them
  what others use.

Matching ignores case (`q=GPT` finds `gpt-4o`); the filters themselves stay exact, which
their (field, occurred_at, id) indexes serve (a case-insensitive filter could not use them).
"""

from datetime import timedelta

from celery import shared_task
from django.apps import apps
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from logcenter.core.access import access_for
from logcenter.core.registry import registry
from logcenter.models import KnownValue

LIMIT = 20  # suggestions per answer
FIRST_WINDOW = timedelta(days=7)  # how far back the first refresh of a kind looks
OVERLAP = timedelta(hours=1)  # rows stored late (their occurred_at before the last run)
OWN_WINDOW = timedelta(days=30)  # how far back a member's own values are looked up
MAX_NEW_VALUES = 1000  # per field and refresh: a field of free text does not flood the table
MAX_LENGTH = KnownValue._meta.get_field("value").max_length


class UnknownSuggestionField(ValueError):
    pass


def choices_of(kind, name):
    """[(value, label)] of a choice filter, or None for a free-text one."""
    filter_ = kind.filterset.base_filters.get(name)
    choices = getattr(filter_, "choices", None)
    return [(str(v), str(label)) for v, label in choices] if choices else None


def column_of(kind, name):
    """The model field a suggested filter compares (its name, for every kind today)."""
    filter_ = kind.filterset.base_filters[name]
    return filter_.field_name or name


def own_values_model(kind):
    return apps.get_model(kind.own_values) if kind.own_values else None


def _has_field(model, name):
    return model is not None and any(f.name == name for f in model._meta.concrete_fields)


def suggestions(kind, user, name, q="", limit=LIMIT):
    """[{"value", "label"}] for the filter `name` of `kind`, matching `q` (any case), at
    most `limit`, for what `user` may see. UnknownSuggestionField when the kind suggests
    nothing for it (or the user's role may not filter by it)."""
    access = access_for(user, kind)
    if name not in kind.suggestions or column_of(kind, name) in access.restricted_fields:
        raise UnknownSuggestionField(gettext(
            "No suggestions for {name}; this tab suggests: {names}.").format(
                name=str(name)[:64], names=", ".join(kind.suggestions)))
    q = q.strip().casefold()
    choices = choices_of(kind, name)
    if choices is not None:
        return [{"value": v, "label": label} for v, label in choices
                if q in v.casefold() or q in label.casefold()][:limit]
    column = column_of(kind, name)
    if access.can_view_all:
        values = (KnownValue.objects.filter(kind=kind.slug, field=column)
                  .filter(value__icontains=q) if q else
                  KnownValue.objects.filter(kind=kind.slug, field=column))
        values = values.order_by("value").values_list("value", flat=True)[:limit]
    else:
        model = own_values_model(kind)
        # A table without the columns of the user's row rule (an organization's rows in a
        # rollup with no organization) would tell them what others use: nothing then.
        if not all(_has_field(model, name) for name in {column, *access.scope_fields}):
            return []
        values = (access.scope(model.objects.filter(hour__gte=timezone.now() - OWN_WINDOW),
                               time_field="hour")
                  .exclude(**{column: ""}))
        if q:
            values = values.filter(**{f"{column}__icontains": q})
        values = (values.order_by(column).values_list(column, flat=True).distinct()[:limit])
    return [{"value": v, "label": v} for v in values]


# --- the beat job -------------------------------------------------------------------------

def known_values_refresh(now=None):
    """Add the values stored since each kind's last refresh to KnownValue (their
    last_seen_at set to now): {kind: new or seen values}."""
    now = now or timezone.now()
    done = {}
    for kind in registry:
        fields = [column_of(kind, n) for n in kind.suggestions if choices_of(kind, n) is None]
        if not fields:
            continue
        last = KnownValue.objects.filter(kind=kind.slug).aggregate(last=Max("last_seen_at"))
        since = max(now - FIRST_WINDOW, (last["last"] or now - FIRST_WINDOW) - OVERLAP)
        rollup = own_values_model(kind)
        seen = []
        for column in fields:
            if _has_field(rollup, column):
                source = rollup.objects.filter(hour__gte=since.replace(
                    minute=0, second=0, microsecond=0))
            else:
                source = kind.model.objects.filter(occurred_at__gte=since,
                                                   occurred_at__lte=now)
            values = (source.exclude(**{column: ""}).order_by()
                      .values_list(column, flat=True).distinct()[:MAX_NEW_VALUES])
            seen += [KnownValue(kind=kind.slug, field=column, value=v[:MAX_LENGTH],
                                last_seen_at=now) for v in values if v]
        KnownValue.objects.bulk_create(seen, update_conflicts=True,
                                       unique_fields=["kind", "field", "value"],
                                       update_fields=["last_seen_at"])
        done[kind.slug] = len(seen)
    return done


@shared_task(name="logcenter.known_values_refresh", ignore_result=True)
def known_values_refresh_task():
    """Collect the filters' known values from what was stored lately (every 10 minutes)."""
    return known_values_refresh()
