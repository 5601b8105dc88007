"""Rows' leaves, the PostgreSQL engine's fast path for sealing and verifying.

`row_leaves(model).leaves(after, upto, limit, with_time)` yields what
logcenter.integrity.canonical.orm_leaves yields (equal by test, tests/logcenter/
test_integrity.py) for less of the machine: PostgreSQL sends each row as one text, its
values' own text joined (concat_ws: no per-row JSON, no Python value to build per column)
with a bit mask of its NULLs; Python writes the row's canonical JSON
(logcenter.integrity.canonical) from that text:

- most rows hold no character JSON must escape (`"`, `\\`, controls) nor any other
  unprintable one: their values go as they are into one %-template per NULL mask, in the
  sorted order of the names (about a quarter of the work of converting each column);
- a row with such characters has its strings escaped one by one; one whose text holds the
  separator itself (U+241F) is read again through the ORM.

Each type's canonical form, from PostgreSQL's text:

    text, UUID, address   the text, as a JSON string
    integer               as sent
    decimal               as sent, as a JSON string (the column sends its own scale:
                          "0.00012000")
    boolean               written true/false by PostgreSQL
    time                  written by PostgreSQL ("2025-01-31T23:59:59.500000Z")
    JSON                  written canonically (sorted keys) by canonical_json_text,
                          remembered per read as rows repeat them ({"env": "prod"})

A model with a field of any other type is read by the ORM path instead.
"""

import hashlib
import json
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import lru_cache

import orjson
from django.db import connection, models

from logcenter.integrity.canonical import ADDED_FIELDS, canonical_json, row_form

CHUNK_ROWS = 2000
# Between a row's values in the joined column: printable (so that one isprintable() call
# tells a row without control characters) and rare; a value holding it shows in the count.
SEPARATOR = "\u241f"  # ␟, the symbol for the unit separator
_STRING = (models.CharField, models.TextField, models.GenericIPAddressField, models.UUIDField)
_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_KNOWN_MAX = 10_000  # JSON values remembered per read, with their canonical form
_to_json_string = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring


def supports(model):
    """True when every concrete field of `model` has a form below."""
    return all(isinstance(f, (*_STRING, models.IntegerField, models.DecimalField,
                              models.BooleanField, models.DateTimeField, models.JSONField))
               for f in model._meta.concrete_fields if f is not model._meta.pk)


def canonical_json_text(text):
    """canonical_json(json.loads(text)), faster.

    orjson reads JSON about five times as fast as json, and writes strings, integers and
    key order as json does (tested over every character, tests/logcenter/
    test_canonical_json_text.py), but not every float (0.00001 for 1e-05), and it reads
    an integer past 64 bits as a float. So: a text without a point (PostgreSQL writes a
    jsonb number with a fraction with one, and never with an exponent) is read and written
    by orjson, unless its output shows a float (a point or an exponent, which a float
    from a long integer always has); any other is read by orjson and written by json's encoder,
    unless that shows "e+"; every doubt is settled by json itself."""
    try:
        if "." not in text:
            out = orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)
            if b"." not in out and b"e+" not in out and b"e-" not in out:
                return out.decode()
        else:
            out = canonical_json(orjson.loads(text))
            if "e+" not in out:
                return out
    except orjson.JSONDecodeError:  # a number json reads and orjson does not (1e400)
        pass
    return canonical_json(json.loads(text))


@lru_cache(maxsize=None)
def row_leaves(model):
    return RowLeaves(model)


class RowLeaves:
    def __init__(self, model):
        pk = model._meta.pk
        fields = sorted((f for f in model._meta.concrete_fields if f is not pk),
                        key=lambda f: f.attname)
        quote = connection.ops.quote_name
        self.model, self.fields = model, fields  # the canonical JSON's order
        self.plain = [f for f in fields if not isinstance(f, models.JSONField)]
        self.json = [f for f in fields if isinstance(f, models.JSONField)]
        # The mask has a bit per nullable field (set: NULL) and per added field (set: empty,
        # so left out of the form: canonical.ADDED_FIELDS).
        nullable = [f for f in self.plain if f.null]
        added = [f for f in self.plain if f.attname in ADDED_FIELDS and not f.null]
        self.null_bit = {f.attname: 1 << n for n, f in enumerate(nullable)}
        self.empty_bit = {f.attname: 1 << (len(nullable) + n) for n, f in enumerate(added)}
        mask = " + ".join(
            [f"(t.{quote(f.column)} IS NULL)::int * {self.null_bit[f.attname]}"
             for f in nullable]
            + [f"(t.{quote(f.column)} = '')::int * {self.empty_bit[f.attname]}"
               for f in added]) or "0"
        values = []
        for field in self.plain:
            column = f"t.{quote(field.column)}"
            if isinstance(field, models.DateTimeField):
                column = f"to_char({column} AT TIME ZONE 'UTC', '{_TIME_FORMAT}')"
            elif isinstance(field, models.BooleanField):
                column = f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
            if field.null:  # concat_ws leaves NULLs out; concat writes them as ''
                column = f"concat({column})"
            values.append(column)
        # One text a row (the cheapest for psycopg to hand over): the id, the NULL mask,
        # the values, then the JSON values' text (where the separator may appear unescaped;
        # the count shows it).
        json_columns = [f"concat(t.{quote(f.column)}::text)" for f in self.json]
        joined = ", ".join([f"t.{quote(pk.column)}", mask, *values, *json_columns])
        self.select = (f"SELECT concat_ws('{SEPARATOR}', {joined}) "
                       f"FROM {quote(model._meta.db_table)} t WHERE t.{quote(pk.column)} > %s")
        self.pk = f"t.{quote(pk.column)}"
        # Where each JSON value goes among the others (all in the sorted names' order).
        self.json_slots = [fields.index(f) for f in self.json]
        self.string_slots = [i for i, f in enumerate(self.plain)
                             if isinstance(f, (models.DecimalField, *_STRING))]
        self.time_index = next((i for i, f in enumerate(self.plain)
                                if f.attname == "occurred_at"), None)
        self._templates = {}

    def template(self, mask):
        """The row's %-template for this NULL mask: one %s per value, in the order of the
        sorted names; a NULL consumes its (empty) value and writes null, an empty added field
        consumes its value and writes nothing."""
        template = self._templates.get(mask)
        if template is None:
            parts, skipped = [], ""
            for field in self.fields:
                key = skipped + f'"{field.attname}":'
                if mask & self.empty_bit.get(field.attname, 0):
                    skipped += "%.0s"
                    continue
                skipped = ""
                if mask & self.null_bit.get(field.attname, 0):
                    parts.append(f"{key}null%.0s")
                elif isinstance(field, (models.DecimalField, models.DateTimeField, *_STRING)):
                    parts.append(f'{key}"%s"')
                else:  # integers, booleans (written by PostgreSQL), JSON (canonical here)
                    parts.append(f"{key}%s")
            template = self._templates[mask] = "{" + ",".join(parts) + skipped + "}"
        return template

    def sql(self, upto, limit):
        sql = self.select
        if upto is not None:
            sql += f" AND {self.pk} <= %s"
        sql += f" ORDER BY {self.pk}"
        if limit is not None:
            sql += " LIMIT %s"
        return sql

    def _orm_leaf(self, pk):
        """(leaf, occurred_at) of a row whose text holds the separator: read and written
        as the definition does."""
        form = row_form(self.model)
        values = self.model.objects.filter(pk=pk).values_list(*form.attnames).get()
        return form.leaf(values), values[form.time_index] if form.time_index else None

    def leaves(self, after, upto, limit, with_time):
        params = [after] + ([upto] if upto is not None else []) + (
            [limit] if limit is not None else [])
        known, n_json, n_plain = {}, len(self.json), len(self.plain)
        n_values = 2 + n_plain + n_json
        json_slots, string_slots = self.json_slots, self.string_slots
        template, sha256 = self.template, hashlib.sha256
        time_index = self.time_index

        def canonical(text):
            value = known.get(text)
            if value is None:
                value = "null" if text == "" else canonical_json_text(text)
                if len(known) >= _KNOWN_MAX:
                    known.clear()
                known[text] = value
            return value

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # compiling costs more than it saves here
        with connection.chunked_cursor() as cursor:
            cursor.execute(self.sql(upto, limit), params)
            while batch := cursor.fetchmany(CHUNK_ROWS):
                for (joined,) in batch:
                    values = joined.split(SEPARATOR)
                    pk = int(values[0])
                    if len(values) != n_values:
                        leaf, occurred = self._orm_leaf(pk)
                    else:
                        mask = int(values[1])
                        start = len(values[0]) + len(values[1]) + 2
                        json_texts = values[2 + n_plain:]
                        values = values[2:2 + n_plain]
                        occurred = values[time_index] if time_index is not None else ""
                        if with_time:
                            occurred = datetime.fromisoformat(occurred).replace(
                                tzinfo=dt_timezone.utc) if occurred else None
                        plain = joined[start:len(joined) - sum(map(len, json_texts)) - n_json]
                        if not plain.isprintable() or '"' in plain or "\\" in plain:
                            for i in string_slots:
                                values[i] = _to_json_string(values[i])[1:-1]
                        for slot, text in zip(json_slots, json_texts):
                            values.insert(slot, canonical(text))
                        leaf = sha256((template(mask) % tuple(values)).encode()).digest()
                    if with_time:
                        yield pk, leaf, occurred
                    else:
                        yield pk, leaf
