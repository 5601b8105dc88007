"""The PostgreSQL fast path of log streams: each row's event document built as JSON text in
the database, so that a stream's worker decodes two text columns a row instead of every
stored field, and sends the bulk of each document without touching it.

Each row read is (id, ingested_at, head, record), ingested_at read as microseconds (Django's
timestamptz loader is Python, a fifth of the read's time):
- `head`: a JSON object of the document's fields before `record` (event_id, kind,
  occurred_at, ingested_at, and the canonical event's event_type, category, severity,
  result, actor, target, context and summary): a few hundred bytes, which the stream
  parses (the Splunk time, the ECS fields, the S3 key are read from them);
- `record`: every stored field the destination may see, as compact JSON, embedded in the
  payload as it is (streams.documents.StoreDocuments).

Every value is written as streams.documents.DocumentBuilder writes it (times UTC ISO 8601
with a Z and six digits, decimals as their exact text, UUIDs as text, addresses without a
netmask), fields masked by the same rule ("[masked]" unless NULL or empty text; a JSON
field unless NULL, JSON null or ""), the canonical event from the kind's EventForm as
core.events.canonical_event reads it, and the summary's units as core.units.PLAIN_FORMATS
writes them. tests/logcenter/streams/test_store_documents.py builds documents both ways
and compares them.

A kind or field rule this module cannot write exactly (a field type, a unit, a masked
field with a unit in the summary) raises Unsupported, and the engine answers None: those
documents are built in Python, as on any other database.

A stream that is behind reads one kind batch after batch; after two such reads the next
one is run ahead, in a thread, on the same connection (_ReadAhead), so that PostgreSQL
writes the next batch's documents while the worker sends this one: the two use the two
cores of a small machine side by side instead of in turn.
"""

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
from django.db import connection, models

from logcenter.core import units
from logcenter.core.access import MASK
from logcenter.core.events import SEVERITIES, SUMMARY_SEPARATOR, EventForm


class Unsupported(Exception):
    """A document this module cannot write exactly as the Python builder does."""


def _literal(text):
    # Every statement runs with parameters: a % in a literal is doubled.
    return "'" + str(text).replace("'", "''").replace("%", "%%") + "'"


TEXT = (models.CharField, models.TextField)
# Integers and booleans are JSON as they are; so is a JSON field (jsonb).
NATIVE = (models.IntegerField, models.BooleanField, models.JSONField)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_ID = 2**63 - 1  # bigint
UTC_ISO = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
# Digits grouped by three, as Python's "{:,}" groups them (30 places: any stored number).
GROUPED = "FM" + ",".join(["999"] * 9) + ",990"


def _json_value(field, col):
    """The field's stored value as the document's record holds it (DocumentBuilder's
    converters), in SQL: text, a number, a boolean or jsonb."""
    if isinstance(field, models.JSONField) and field.decoder is not None:
        raise Unsupported(f"{field.name}: a JSON field read by its own decoder")
    if isinstance(field, models.DateTimeField):
        return f"to_char({col} AT TIME ZONE 'UTC', {UTC_ISO})"
    if isinstance(field, (models.DecimalField, models.UUIDField)):
        return f"{col}::text"
    if isinstance(field, models.GenericIPAddressField):
        return f"host({col})"  # inet's text without its /32 or /128, as Django reads it
    if isinstance(field, TEXT + NATIVE):
        return col
    raise Unsupported(f"{field.name}: {type(field).__name__}")


def _masked_value(field, col):
    """The masked field as DocumentBuilder.build writes it: "[masked]" unless empty."""
    if isinstance(field, TEXT):
        return f"(CASE WHEN {col} IS NULL OR {col} = '' THEN {col} ELSE {_literal(MASK)} END)"
    if isinstance(field, models.JSONField):  # Python reads JSON null as None, "" as ""
        return (f"(CASE WHEN {col} IS NULL OR {col} IN ('null'::jsonb, '\"\"'::jsonb) "
                f"THEN {col} ELSE to_jsonb({_literal(MASK)}::text) END)")
    _json_value(field, col)  # a type this module knows
    return f"(CASE WHEN {col} IS NOT NULL THEN {_literal(MASK)} END)"


# --- the summary's units (core.units.PLAIN_FORMATS) ------------------------------------

def _money(field, col):
    """units._plain_money: $ and grouped digits, money_places() places rounded half up,
    "<$0.00000001" for a nonzero cost below the last place, "-$" when negative."""
    if not isinstance(field, models.DecimalField):
        raise Unsupported(f"money of {type(field).__name__}")
    below = f"<{units.CURRENCY}{Decimal(1).scaleb(-units.MAX_PLACES):.{units.MAX_PLACES}f}"
    sign = (f"(CASE WHEN {col} < 0 THEN {_literal('-' + units.CURRENCY)} "
            f"ELSE {_literal(units.CURRENCY)} END)")

    def shown(places):
        return f"{sign} || to_char(round(abs({col}), {places}), '{GROUPED}.{'0' * places}')"

    # money_places: PLACES for zero and for amounts of at least 10^-(PLACES-1), one more
    # place for each power of ten below, MAX_PLACES at most (the common case first).
    cases = [f"WHEN {col} = 0 OR abs({col}) >= {_power(units.PLACES)} THEN {shown(units.PLACES)}"]
    cases += [f"WHEN abs({col}) >= {_power(places)} THEN {shown(places)}"
              for places in range(units.PLACES + 1, units.MAX_PLACES)]
    # Only at the last place can a nonzero amount round to nothing.
    last = (f"CASE WHEN round(abs({col}), {units.MAX_PLACES}) = 0 THEN {_literal(below)} "
            f"ELSE {shown(units.MAX_PLACES)} END")
    return f"(CASE {' '.join(cases)} ELSE {last} END)"


def _power(places):
    """10^-(places-1), the smallest amount money_places shows with `places` places."""
    return format(Decimal(1).scaleb(-(places - 1)), "f")


def _credits(field, col):
    # Two places when they hold the amount, else four: exact only up to four stored places
    # (Python's format rounds half to even, to_char half away from zero).
    if not isinstance(field, models.DecimalField) or field.decimal_places > 4:
        raise Unsupported(f"credits of {type(field).__name__}")
    return (f"(CASE WHEN {col} = round({col}, 2) THEN to_char({col}, '{GROUPED}.00') "
            f"ELSE to_char({col}, '{GROUPED}.0000') END) || ' credits'")


def _grouped(suffix):
    def unit(field, col):
        if not isinstance(field, models.IntegerField):
            raise Unsupported(f"{suffix.strip()} of {type(field).__name__}")
        return f"to_char({col}, '{GROUPED}') || {_literal(suffix)}"

    return unit


def _stream(field, col):
    if not isinstance(field, models.BooleanField):
        raise Unsupported(f"stream of {type(field).__name__}")
    return f"(CASE WHEN {col} THEN 'streamed' WHEN NOT {col} THEN 'not streamed' END)"


# Each unit of units.PLAIN_FORMATS as SQL (a test checks that every unit has one, and
# that each writes what Python writes).
UNITS = {"money": _money, "credits": _credits, "quota": _grouped(" quota"),
         "ms": _grouped(" ms"), "stream": _stream}


class _Json:
    """A piece of a JSON text: SQL giving JSON text, or `raw` JSON known when the statement
    is written (keys, punctuation, constants)."""

    __slots__ = ("sql", "raw")

    def __init__(self, sql=None, raw=None):
        self.sql, self.raw = sql, raw


def _constant(value):
    return _Json(raw=orjson.dumps(value).decode())


def _object(pairs):
    """[(key, a _Json or an object's pieces)] as the pieces of a JSON object."""
    pieces = []
    for i, (key, value) in enumerate(pairs):
        pieces.append(_Json(raw=("{" if i == 0 else ",") + orjson.dumps(key).decode() + ":"))
        pieces += value if isinstance(value, list) else [value]
    return pieces + [_Json(raw="}" if pairs else "{}")]


def _concat(pieces):
    """SQL joining the pieces' JSON text (each piece's SQL is text, never NULL): constants
    merged, joined with || in a balanced tree, so that each byte is copied a few times
    rather than once per later piece; not concat(), which looks up how to write each of
    its arguments at every call."""
    args = []
    for piece in pieces:
        if piece.raw is not None and args and args[-1].raw is not None:
            args[-1] = _Json(raw=args[-1].raw + piece.raw)
        else:
            args.append(piece)
    args = [_literal(arg.raw) if arg.raw is not None else arg.sql for arg in args]

    def joined(first, last):
        if first == last:
            return args[first]
        middle = (first + last) // 2
        return f"({joined(first, middle)} || {joined(middle + 1, last)})"

    return joined(0, len(args) - 1)


def _json_of_text(sql):
    """JSON text of a text expression (escaped by PostgreSQL's own JSON writer), null for
    NULL."""
    return _Json(f"COALESCE(to_json(({sql})::text)::text, 'null')")


def _json_of_one_of(sql, values):
    """JSON text of a text expression that is always one of `values`: quoted as it is
    when none of them needs escaping."""
    if all(orjson.dumps(value).decode() == f'"{value}"' for value in values):
        return _Json(f"""('"' || {sql} || '"')""")
    return _json_of_text(sql)


class DocumentSql:
    """The SQL of one kind's documents for one destination's field rules. Unsupported
    when a document could not be written exactly as in Python.

    The documents' JSON is written as text, each value's JSON text beside its key
    (_concat), rather than by json_build_object or row_to_json: those look up how to write
    each value's type at every value of every row (a third of the statement's time), and
    put spaces after the colons."""

    def __init__(self, kind, masked=frozenset(), hidden=frozenset()):
        self.kind, self.masked, self.hidden = kind, frozenset(masked), frozenset(hidden)
        self.fields = {f.name: f for f in kind.model._meta.concrete_fields
                       if f.name != "id" and f.name not in self.hidden}
        if "event_id" not in self.fields:
            raise Unsupported("event_id hidden")
        self.record = _concat(_object([(name, self.json(name)) for name in self.fields]))
        self.head = _concat(self._head())

    # --- a field as the Python builder sees it ----------------------------------------

    def col(self, name):
        return f'lc."{self.fields[name].column}"'

    def value(self, name):
        """The field as the record holds it (masked, converted)."""
        field, col = self.fields[name], self.col(name)
        return _masked_value(field, col) if name in self.masked else _json_value(field, col)

    def json(self, name):
        """The record's value as JSON text."""
        field, value = self.fields[name], self.value(name)
        if isinstance(field, models.JSONField):
            return _Json(f"COALESCE({value}::text, 'null')")
        if isinstance(field, TEXT) or name in self.masked:
            return _json_of_text(value)
        if isinstance(field, (models.DateTimeField, models.DecimalField, models.UUIDField,
                              models.GenericIPAddressField)):
            # Digits, letters, - . : and T Z only: nothing to escape.
            return _Json(f"""COALESCE('"' || {value} || '"', 'null')""")
        return _Json(f"COALESCE({value}::text, 'null')")  # integers, booleans

    def raw(self, name):
        """The field as canonical_event reads it (masked, not converted), as JSON text:
        only where the two are the same JSON (text, addresses, numbers, booleans, JSON);
        null when left out."""
        if name not in self.fields:
            return _Json(raw="null")
        field = self.fields[name]
        if isinstance(field, (models.DateTimeField, models.DecimalField, models.UUIDField)):
            raise Unsupported(f"{name} read raw by the canonical event")
        return self.json(name)

    def _reads_as_text(self, name):
        """Text, or masked into text ("[masked]" or NULL; a masked JSON field stays JSON)."""
        field = self.fields[name]
        return isinstance(field, TEXT) or (name in self.masked
                                           and not isinstance(field, models.JSONField))

    def text(self, name):
        """canonical_event's _value(row, name) of a text field: "" for NULL; a quoted
        constant; "" for a field left out or not stored."""
        if name.startswith('"'):
            return _literal(name.strip('"'))
        if not name or name not in self.fields:
            return "''"
        if not self._reads_as_text(name):
            raise Unsupported(f"{name}: {type(self.fields[name]).__name__} read as text")
        return f"COALESCE({self.value(name)}, '')"

    def part(self, name, *, zero_counts):
        """The field as a piece of the event type or the summary, NULL when left out:
        text unless empty; an integer as its digits (0 too in the summary, where only
        empty values are left out; not in the type, where every false value is)."""
        if name.startswith('"'):
            constant = name.strip('"')
            return f"NULLIF({_literal(constant)}, '')"
        if not name or name not in self.fields:
            return None
        field = self.fields[name]
        if self._reads_as_text(name):
            return f"NULLIF({self.value(name)}, '')"
        if isinstance(field, models.IntegerField) and name not in self.masked:
            col = self.col(name)
            return f"{col}::text" if zero_counts else f"NULLIF({col}, 0)::text"
        raise Unsupported(f"{name}: {type(field).__name__} in the type or summary")

    # --- the canonical event (core.events.canonical_event) ----------------------------

    def _head(self):
        kind = self.kind
        form = kind.event_form or EventForm(type_fields=(), prefix=kind.slug)
        pieces = [f"NULLIF({_literal(form.prefix)}, '')"]
        pieces += [self.part(name, zero_counts=False) for name in form.type_fields]
        event_type = f"concat_ws('.', {', '.join(p for p in pieces if p)})"
        if form.result_field:
            failures = ", ".join(_literal(value) for value in form.failures) or "NULL"
            result = (f"(CASE WHEN {self.text(form.result_field)} IN ({failures}) "
                      f"THEN 'failure' ELSE 'success' END)")
        else:
            result = _literal("failure" if "" in form.failures else "success")
        otherwise = (f"(CASE WHEN {result} = 'failure' THEN {_literal(form.failure_severity)} "
                     f"ELSE 'info' END)")
        if form.severity_field:
            severity = self.text(form.severity_field)
            known = ", ".join(_literal(level) for level in SEVERITIES)
            severity = f"(CASE WHEN {severity} IN ({known}) THEN {severity} ELSE {otherwise} END)"
        else:
            severity = otherwise
        category = (self.text(form.category_field) if form.category_field
                    else _literal(form.category))
        category = f"COALESCE(NULLIF({category}, ''), split_part({event_type}, '.', 1))"
        target_type, target_id, target_name = (*form.target, "", "", "")[:3]
        target = _object([(key, _json_of_text(self.text(name))) for key, name in
                          (("type", target_type), ("id", target_id), ("name", target_name))])
        actor = _object([(key, self.raw(name)) for key, name in (
            ("type", "actor_type"), ("id", "actor_id"), ("name", "actor_name"), ("ip", "ip"),
            ("user_agent", "user_agent"))])
        context = _object([(name, self.raw(name))
                           for name in ("request_id", "organization_id", "project_id")])
        summary = [p for p in (self._summary_part(name) for name in form.summary_fields) if p]
        summary = (f"concat_ws({_literal(SUMMARY_SEPARATOR)}, {', '.join(summary)})"
                   if summary else "''")
        return _object([
            ("event_id", self.json("event_id")), ("kind", _constant(kind.slug)),
            ("occurred_at", self.json("occurred_at")), ("ingested_at", self.json("ingested_at")),
            ("event_type", _json_of_text(event_type)), ("category", _json_of_text(category)),
            ("severity", _json_of_one_of(severity, {*SEVERITIES, form.failure_severity,
                                                    "info"})),
            ("result", _json_of_one_of(result, {"failure", "success"})),
            ("actor", actor), ("target", target), ("context", context),
            ("summary", _json_of_text(summary))])

    def _summary_part(self, name):
        unit = self.kind.units.get(name)
        if unit is None or name.startswith('"') or name not in self.fields:
            return self.part(name, zero_counts=True)
        if name in self.masked:
            raise Unsupported(f"{name}: masked, with a unit")
        if unit not in UNITS:
            raise Unsupported(f"{name}: the unit {unit}")
        return UNITS[unit](self.fields[name], self.col(name))

    # --- the statement ----------------------------------------------------------------

    def statement(self, queryset, limit):
        """(sql, params): up to `limit` rows of `queryset` in id order, as (id,
        ingested_at, head, record)."""
        inner = queryset.order_by("id").values_list("id", *self.fields)[:limit]
        sql, params = inner.query.sql_with_params()
        # The ingestion time in microseconds: Django's loader of timestamptz is Python (5 µs
        # a value, a fifth of the read); an integer is read in C.
        return (f"SELECT lc.id, (extract(epoch FROM lc.ingested_at) * 1000000)::bigint, "
                f"{self.head}, {self.record} FROM ({sql}) lc ORDER BY lc.id"), params


class StoreDocumentRows:
    """Engine.stream_documents on PostgreSQL: the documents' rows, read ahead (_ReadAhead)
    while a stream reads one kind batch after batch."""

    def __init__(self, kind, masked, hidden):
        self.sql = DocumentSql(kind, masked, hidden)

    def read(self, rows, after, end, limit):
        statement = self.sql.statement(rows.filter(id__gt=after, id__lte=end), limit)
        ahead = _read_ahead()
        follows = ahead.follows(statement)
        found = ahead.take(statement)
        if found is None:
            found = _fetch(connection.connection, statement)
        if follows and len(found) == limit:
            # A full read, after one of the same rows: the next read most likely takes the
            # same span of ids after the last one (the next batch of a stream that is
            # behind). PostgreSQL writes it while the worker sends this batch.
            last = found[-1][0]
            ahead.start(self.sql.statement(
                rows.filter(id__gt=last, id__lte=min(last + end - after, MAX_ID)), limit))
        return found


def _fetch(raw, statement):
    with raw.cursor() as cursor:
        cursor.execute(*statement)
        return [(id_, EPOCH + timedelta(microseconds=micros), head, record)
                for id_, micros, head, record in cursor.fetchall()]


class _ReadAhead:
    """One statement run ahead in a thread of its own on this thread's connection, for the
    read that most likely comes next; that read takes its rows only if it is exactly that
    statement (same rows, same ids, same limit), else it runs its own.

    The thread uses the psycopg connection under Django's, whose lock serializes its
    statements: the worker's own statements meanwhile (the cursor's UPDATE) wait for the
    read ahead to finish, and see the database as they would have. The ids read are below
    the safe horizon, settled before the first read (delivery.next_batch), so reading them
    a little earlier gives the same rows. A read ahead that fails is forgotten: the read
    runs its own statement."""

    def __init__(self):
        self.previous = None  # the SQL (without its parameters) read last
        self.statement = self.raw = self.thread = self.found = None

    def follows(self, statement):
        """Whether `statement` reads the same rows as the read before it (a stream of one
        kind): two kinds' reads take turns, and reading one ahead would only delay the
        other's."""
        previous, self.previous = self.previous, statement[0]
        return previous == statement[0]

    def start(self, statement):
        self.statement, self.raw, self.found = statement, connection.connection, None
        self.thread = threading.Thread(target=self._run, args=(self.raw, statement),
                                       name="logcenter-read-ahead", daemon=True)
        self.thread.start()

    def _run(self, raw, statement):
        try:
            self.found = _fetch(raw, statement)
        except Exception:  # noqa: BLE001 (the read runs its own statement instead)
            self.found = None

    def take(self, statement):
        """The rows read ahead for exactly `statement`, or None."""
        if self.thread is None:
            return None
        self.thread.join()
        self.thread = None
        if statement != self.statement or self.raw is not connection.connection:
            return None
        return self.found


_local = threading.local()


def _read_ahead():
    ahead = getattr(_local, "ahead", None)
    if ahead is None:
        ahead = _local.ahead = _ReadAhead()
    return ahead


def document_rows(kind, masked, hidden):
    try:
        return StoreDocumentRows(kind, masked, hidden)
    except Unsupported:
        return None
