"""The cross-kind timeline: every visible row of several kinds about one thing (a request,
a user, an API key, an IP address, an organization), merged newest first.

Each kind's rows come from its own LogQuery (the same parameters, window, visibility rule
and indexes as its list), so the timeline can never show a row the kind's list would
hide. The merge is keyset-paged over one total order,

    occurred_at descending, then the kind's place in the registry, then id descending,

so a page is at most `page_size + 1` rows read from each kind, whatever the depth, and
every row appears exactly once across pages. The cursor holds the last row's position in
that order (not a secret: it only says where to go on from among rows the reader sees).
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.translation import gettext, gettext_lazy as _

from logcenter.core.access import access_for, visible_kinds
from logcenter.core.events import canonical_event
from logcenter.core.query import WINDOW, InvalidLogQuery, LogQuery
from logcenter.core.registry import registry

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Pivot:
    """What the timeline is about: a parameter, and per kind the filter that selects it."""

    name: str
    label: str

    def filter_name(self, kind):
        """The kind's filter for this pivot, or None when the kind cannot hold it."""
        names = kind.filterset.parameter_names()
        if self.name == "user":
            return kind.owner_field if kind.owner_field in names else None
        if self.name == "api_key":
            # Calls name their key; the other kinds' rows name a key as their actor.
            return "api_key" if "api_key" in names else (
                "actor_id" if "actor_id" in names else None)
        return self.name if self.name in names else None


PIVOTS = {pivot.name: pivot for pivot in (
    Pivot("request_id", _("Request ID")),
    Pivot("user", _("User ID")),
    Pivot("api_key", _("API key")),
    Pivot("ip", _("IP address")),
    Pivot("organization_id", _("Organization ID")),
)}
PARAMETERS = frozenset(PIVOTS) | WINDOW | {"kinds", "cursor", "page_size"}


@dataclass
class TimelineEntry:
    kind: object
    row: object

    @property
    def event(self) -> dict:
        return canonical_event(self.kind, self.row)


@dataclass
class TimelinePage:
    entries: list
    next_cursor: str | None
    pivot: Pivot
    value: str
    kinds: list


def _refuse(name, message):
    raise InvalidLogQuery({name: [{"message": message, "code": "invalid"}]})


def _one(params, name):
    values = params.getlist(name) if hasattr(params, "getlist") else (
        [params[name]] if name in params else [])
    if len(values) > 1:
        _refuse(name, gettext("Give this parameter once."))
    return values[0] if values else None


def kind_ranks():
    """{kind slug: its place in the registry}: the timeline's order between kinds."""
    return {kind.slug: rank for rank, kind in enumerate(registry)}


def cursor_of(kind, row):
    """The cursor that goes on from `row` (of `kind`) in the timeline's order."""
    position = [row.occurred_at.isoformat(), kind_ranks()[kind.slug], row.pk]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _decode_cursor(text):
    try:
        when, rank, pk = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        when = datetime.fromisoformat(when)
        if (when.tzinfo is None or type(rank) is not int or type(pk) is not int
                or not 0 <= pk < 2 ** 63 or not 0 <= rank < 2 ** 15):
            raise ValueError
        return when, rank, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        _refuse("cursor", gettext("This cursor is not one the timeline gave."))


def _after(position, rank):
    """The rows of the kind ranked `rank` that come after `position` in the order."""
    when, cursor_rank, pk = position
    if rank > cursor_rank:
        return Q(occurred_at__lte=when)
    if rank < cursor_rank:
        return Q(occurred_at__lt=when)
    return Q(occurred_at__lt=when) | Q(occurred_at=when, pk__lt=pk)


def _before(position, rank):
    """The rows of the kind ranked `rank` that come before `position` in the order."""
    when, cursor_rank, pk = position
    if rank < cursor_rank:
        return Q(occurred_at__gte=when)
    if rank > cursor_rank:
        return Q(occurred_at__gt=when)
    return Q(occurred_at__gt=when) | Q(occurred_at=when, pk__gt=pk)


def timeline(user, params) -> TimelinePage:
    """One page of the timeline for `params`: exactly one pivot (request_id, user,
    api_key, ip or organization_id), optionally `kinds` (comma-separated slugs; default
    every kind the user sees that can hold the pivot), the window (`range`, `start_time`,
    `end_time`, as on the lists), `page_size` and `cursor`. InvalidLogQuery naming the
    parameter for anything else; PermissionDenied for a kind the user may not see."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        _refuse("filters", gettext("Unknown parameters: {names}.").format(
            names=", ".join(unknown)))
    given = [(name, _one(params, name)) for name in PIVOTS if _one(params, name)]
    if len(given) != 1:
        _refuse("filters", gettext("Give exactly one of: {names}.").format(
            names=", ".join(PIVOTS)))
    pivot, value = PIVOTS[given[0][0]], given[0][1]
    size = _one(params, "page_size") or str(DEFAULT_PAGE_SIZE)
    if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
        _refuse("page_size", gettext("A whole number from 1 to {max}.").format(
            max=MAX_PAGE_SIZE))
    size = int(size)
    seen = visible_kinds(user)
    asked = _one(params, "kinds")
    if asked:
        slugs = [slug.strip() for slug in asked.split(",") if slug.strip()]
        wrong = [slug for slug in slugs if registry.get(slug) is None]
        if wrong:
            _refuse("kinds", gettext("Unknown kinds: {names}.").format(names=", ".join(wrong)))
        hidden = [slug for slug in slugs if registry[slug] not in seen]
        if hidden:
            raise PermissionDenied(gettext("Your role may not see the {kind} logs.").format(
                kind=registry[hidden[0]].label))
        kinds = [registry[slug] for slug in dict.fromkeys(slugs)]
    else:
        kinds = seen
    kinds = [kind for kind in kinds if pivot.filter_name(kind)]
    window = {name: _one(params, name) for name in WINDOW if _one(params, name)}
    queries = [(kind, LogQuery.parse(kind, user, {pivot.filter_name(kind): value, **window})
                .queryset) for kind in kinds]
    entries, next_cursor = merged_page(user, queries, size, _one(params, "cursor"))
    return TimelinePage(entries, next_cursor, pivot, value, kinds)


def cursor_after(queries, count):
    """The cursor that goes on after the first `count` rows of the [(kind, queryset)]
    merged in the timeline's order, or None when there are no more than `count`. Reads
    only each kind's keys (occurred_at, id; index entries), not its rows: a page number
    deep in the merge skips its way there cheaply."""
    ranks = kind_ranks()
    keys = []
    for kind, rows in queries:
        rank = ranks[kind.slug]
        keys += [(when, -rank, pk, kind) for when, pk in
                 rows.order_by("-occurred_at", "-id").values_list("occurred_at", "id")[:count + 1]]
    if len(keys) <= count:
        return None
    keys.sort(key=lambda key: key[:3], reverse=True)
    when, _, pk, kind = keys[count - 1]
    position = [when.isoformat(), ranks[kind.slug], pk]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def merged_page(user, queries, size, cursor=None, *, newer=False):
    """(entries, next cursor or None): the next `size` rows of the [(kind, queryset)]
    merged in the timeline's order after `cursor` (InvalidLogQuery naming `cursor` when it
    is not one this gave); `newer`: the `size` rows just before it instead, still newest
    first, and the cursor then goes on towards newer rows. Each queryset must already be
    the user's visible rows (a LogQuery's); the rows come masked for the user."""
    position = _decode_cursor(cursor) if cursor else None
    ranks = kind_ranks()
    candidates = []
    for kind, rows in queries:
        if position is not None:
            rows = rows.filter((_before if newer else _after)(position, ranks[kind.slug]))
        order = ("occurred_at", "id") if newer else ("-occurred_at", "-id")
        rows = list(rows.order_by(*order)[:size + 1])
        access_for(user, kind).apply(rows)
        candidates += [TimelineEntry(kind, row) for row in rows]
    # Newest first, then the registry's order of kinds, then the newest id (read from the
    # cursor's side: oldest first when reading towards newer rows).
    candidates.sort(key=lambda entry: (entry.row.occurred_at, -ranks[entry.kind.slug],
                                       entry.row.pk), reverse=not newer)
    entries, more = candidates[:size], len(candidates) > size
    next_cursor = cursor_of(entries[-1].kind, entries[-1].row) if more else None
    return (entries[::-1] if newer else entries), next_cursor
