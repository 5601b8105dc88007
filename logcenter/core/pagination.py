"""Keyset (cursor) pagination on (sort key, id), shared by the pages, the API and exports.

A page is found with a row-value comparison `(key, id) < (v, pk)` that an index on
(key, id) serves directly, so page 10,000 costs what page 1 costs. No OFFSET, and no
COUNT(*) over the whole match: totals are counted only up to a cap, on the first page;
the cursors carry that total to the pages after it.
"""

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import ExpressionWrapper, F, Value
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.translation import gettext as _

from logcenter.engines import engine_for

NEXT = "next"
PREV = "prev"


@dataclass(frozen=True)
class Total:
    """How many rows match: counted up to a cap, with the planner's estimate when capped."""

    count: int
    capped: bool  # more than `count` rows match
    approximate: int | None = None  # the planner's estimate of all matches, when capped

    def as_list(self):
        return [self.count, self.capped, self.approximate]

    @classmethod
    def from_list(cls, data) -> "Total":
        count, capped, approximate = data
        if not (_is_count(count) and isinstance(capped, bool)
                and (approximate is None or _is_count(approximate))):
            raise ValueError(data)
        return cls(count, capped, approximate)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Cursor:
    ordering: str  # "-cost": the sort the cursor was made for
    value: object  # the sort key of the boundary row
    pk: int
    direction: str  # NEXT: rows after the boundary; PREV: rows before it
    # The first page's total, carried so deeper pages need not count again (a log's
    # matches change only at the new end, and the count is capped anyway), and its seal:
    # a keyed digest of the total and the filters and viewer it was counted for
    # (selectors._total_seal); with other filters, or a forged total, it counts afresh.
    # In the token: "t" and "f".
    total: Total | None = None
    seal: str | None = None

    @property
    def key(self):
        return self.ordering.lstrip("-")

    def encode(self) -> str:
        value = self.value
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        data = {"o": self.ordering, "v": value, "id": self.pk, "d": self.direction}
        if self.total is not None:
            data["t"], data["f"] = self.total.as_list(), self.seal
        raw = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, ordering: str, model) -> "Cursor":
        """Parse a cursor made for `ordering`; ValueError with a readable reason otherwise."""
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor_ordering, raw_value, pk, direction = data["o"], data["v"], data["id"], data["d"]
            total = Total.from_list(data["t"]) if "t" in data else None
            seal = data.get("f")
            if not (seal is None or isinstance(seal, str)):
                raise ValueError(seal)
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise ValueError(_("Malformed cursor; start again from the first page.")) from None
        if cursor_ordering != ordering:
            raise ValueError(_("This cursor was made for another sort order; "
                               "start again from the first page."))
        if (direction not in (NEXT, PREV) or not isinstance(pk, int) or isinstance(pk, bool)
                or not 0 < pk < 2**63):  # ids are positive bigints
            raise ValueError(_("Malformed cursor; start again from the first page."))
        field = model._meta.get_field(ordering.lstrip("-"))
        try:
            value = field.to_python(raw_value)
            if value is not None:
                # The column's own bounds (bigint range, decimal digits): an edited value
                # outside them is a bad cursor, not a database error.
                field.run_validators(value)
        except (ValidationError, TypeError, ValueError, OverflowError, ArithmeticError):
            raise ValueError(_("Malformed cursor; start again from the first page.")) from None
        if value is None:
            raise ValueError(_("Malformed cursor; start again from the first page."))
        return cls(ordering, value, pk, direction, total, seal)


@dataclass
class KeysetPage:
    rows: list
    ordering: str
    next_cursor: Cursor | None
    prev_cursor: Cursor | None

    @property
    def has_next(self):
        return self.next_cursor is not None

    @property
    def has_previous(self):
        return self.prev_cursor is not None

    def carry(self, total: Total, seal: str):
        """Let this page's links carry `total` and its `seal` (a keyed digest of the total
        and the filters and viewer it was counted for) to the pages they lead to."""
        if self.next_cursor is not None:
            self.next_cursor = replace(self.next_cursor, total=total, seal=seal)
        if self.prev_cursor is not None:
            self.prev_cursor = replace(self.prev_cursor, total=total, seal=seal)


def reads_descending(ordering: str, cursor: Cursor | None) -> bool:
    """Whether the rows are read in descending order: walking backwards means reading the
    opposite order, then flipping the page."""
    backwards = cursor is not None and cursor.direction == PREV
    return ordering.startswith("-") != backwards


def keyset_queryset(queryset, ordering: str, cursor: Cursor | None, sort_matches=False):
    """The rows after (or, for PREV, before) the cursor, in reading order.

    `sort_matches`: order by an expression no index provides, so PostgreSQL reads the
    matches through a filter's index and keeps the top rows, instead of walking the sort
    key's index and reading every non-match met on the way (for a key whose calls are
    never the cheapest, "its cheapest calls" walked a month's rows: seconds)."""
    key = ordering.lstrip("-")
    read_descending = reads_descending(ordering, cursor)
    sign = "-" if read_descending else ""
    if sort_matches:
        field = queryset.model._meta.get_field(key)
        sort_key = ExpressionWrapper(F(key) + Value(0), output_field=type(field)())
        queryset = queryset.order_by(sort_key.desc() if read_descending else sort_key.asc(),
                                     f"{sign}id")
    else:
        queryset = queryset.order_by(f"{sign}{key}", f"{sign}id")
    if cursor is not None:
        boundary = Tuple(F(key), F("id"))
        lookup = TupleLessThan if read_descending else TupleGreaterThan
        queryset = queryset.filter(lookup(boundary, (cursor.value, cursor.pk)))
    return queryset


def keyset_page(queryset, ordering: str, cursor: Cursor | None, page_size: int,
                sort_matches=False) -> KeysetPage:
    """One page of `queryset` in `ordering` (plus id as the tie-breaker). `sort_matches`:
    see keyset_queryset. An engine with a plan of its own for a sort (the PostgreSQL
    engine's walk of the usage table) reads the rows itself and assembles the page with
    page_of."""
    ordered = keyset_queryset(queryset, ordering, cursor, sort_matches)
    if sort_matches:
        rows, ranked = sorted_matches(ordered, page_size + 1)
        return page_of(rows, ordering, cursor, page_size, ranked=ranked)
    return page_of(list(ordered[: page_size + 1]), ordering, cursor, page_size)


def page_of(rows, ordering: str, cursor: Cursor | None, page_size: int,
            ranked: int | None = None) -> KeysetPage:
    """The page of `rows` (up to page_size + 1, in reading order) and its cursors.
    `ranked`: how many rows were ranked, when they were (a row purged between the ranking
    and the reading takes no page with it)."""
    key = ordering.lstrip("-")
    backwards = cursor is not None and cursor.direction == PREV
    more = (len(rows) if ranked is None else ranked) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    if not rows:
        return KeysetPage(rows, ordering, None, None)
    first, last = rows[0], rows[-1]
    return KeysetPage(
        rows,
        ordering,
        Cursor(ordering, getattr(last, key), last.pk, NEXT) if has_next else None,
        Cursor(ordering, getattr(first, key), first.pk, PREV) if has_prev else None,
    )


def sorted_matches(ordered, limit):
    """(rows, how many were ranked): the first `limit` rows of sorted matches, ranked on
    their keys alone. A usage filter's index carries the sort keys, so PostgreSQL ranks the
    matches on index entries (index-only); only the page's rows are then read from the
    table, by primary key."""
    keys = list(ordered.values_list("pk", "occurred_at")[:limit])
    if not keys:
        return [], 0
    rows = ordered.model._default_manager.db_manager(ordered.db).filter(
        pk__in=[pk for pk, _ in keys], occurred_at__in={when for _, when in keys})
    found = {(row.pk, row.occurred_at): row for row in rows}
    # A row purged by retention in between is left out.
    return [found[key] for key in keys if key in found], len(keys)


def capped_count(queryset, cap: int) -> tuple[int, bool]:
    """Count matches up to `cap`; (count, True) when there are more than `cap`."""
    return engine_for(queryset.model).count_capped(queryset, cap)


def planned_rows(queryset) -> int | None:
    """The store's estimate of the matches (the PostgreSQL planner's: one EXPLAIN, no
    rows read); None where the engine has none."""
    return engine_for(queryset.model).estimate(queryset)


def estimated_count(queryset, exact_up_to: int) -> int:
    """Exact up to `exact_up_to` matches; above, the planner's estimate, so a job's
    progress needs no full COUNT(*) of millions of rows first."""
    found, more = capped_count(queryset, exact_up_to)
    if not more:
        return found
    planned = planned_rows(queryset)
    return queryset.count() if planned is None else max(found + 1, planned)
