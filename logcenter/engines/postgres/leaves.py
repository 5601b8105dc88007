"""Rows' leaves read with COPY: the PostgreSQL engine's fast path for sealing and verifying.

`CopyLeaves(model).leaves(after, upto, limit, with_time)` yields what
logcenter.integrity.rows.OrmLeaves yields (equal by test, tests/logcenter/
test_integrity.py), at about a third of its cost: PostgreSQL sends each row as COPY's
text (the cheapest form it can write: no per-row JSON, no Python values for it to build)
and Python writes the canonical JSON (logcenter.integrity.canonical) straight from that
text, column by column, in the sorted order of the names:

    text, UUID, address   COPY's text, unescaped, as a JSON string
    integer               as sent
    decimal               as sent, as a JSON string (the column sends its own scale:
                          "0.00012000")
    boolean               t/f as true/false
    time                  sent as UTC without a zone ("2025-01-31 23:59:59.5"), written
                          with six digits and Z
    JSON                  parsed and written canonically (sorted keys), remembered per read
                          as rows repeat them ({"env": "prod"})
    NULL (\\N)             null

A model with a field of any other type is read by the ORM path instead.
"""

import hashlib
import json
import re
from datetime import datetime
from datetime import timezone as dt_timezone
from functools import lru_cache

from django.db import connection, models

from logcenter.integrity.canonical import canonical_json

_STRING = (models.CharField, models.TextField, models.GenericIPAddressField, models.UUIDField)
_INTEGER = models.IntegerField  # and its subclasses
_KNOWN_MAX = 10_000  # JSON values remembered per read, with their canonical form
NULL = "\\N"
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPE = {"\\": "\\", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_to_json_string = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring


def supports(model):
    """True when every concrete field of `model` has a form below."""
    return all(isinstance(f, (*_STRING, _INTEGER, models.DecimalField, models.BooleanField,
                              models.DateTimeField, models.JSONField))
               for f in model._meta.concrete_fields if f is not model._meta.pk)


def unescape(text):
    """COPY's text form of a value back to the value (it escapes only these)."""
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), text)


def _string(text):
    if text == NULL:
        return "null"
    return _to_json_string(unescape(text) if "\\" in text else text)


def _integer(text):
    return "null" if text == NULL else text


def _decimal(text):
    return "null" if text == NULL else f'"{text}"'


def _boolean(text):
    return "null" if text == NULL else ("true" if text == "t" else "false")


def _time(text):
    if text == NULL:
        return "null"
    # "YYYY-MM-DD HH:MM:SS" and an optional fraction with its trailing zeros dropped.
    fraction = text[20:]
    return f'"{text[:10]}T{text[11:19]}.{fraction}{"0" * (6 - len(fraction))}Z"'


@lru_cache(maxsize=None)
def copy_leaves(model):
    return CopyLeaves(model)


class CopyLeaves:
    def __init__(self, model):
        pk = model._meta.pk
        fields = sorted((f for f in model._meta.concrete_fields if f is not pk),
                        key=lambda f: f.attname)
        quote = connection.ops.quote_name
        columns, self.writers, self.json_indexes = [f"t.{quote(pk.column)}"], [], set()
        for index, field in enumerate(fields, start=1):
            column = f"t.{quote(field.column)}"
            if isinstance(field, models.DateTimeField):
                columns.append(f"{column} AT TIME ZONE 'UTC'")
                write = _time
            elif isinstance(field, models.JSONField):
                columns.append(column)
                write = None  # per read: see leaves()
                self.json_indexes.add(index)
            elif isinstance(field, models.BooleanField):
                columns.append(column)
                write = _boolean
            elif isinstance(field, _INTEGER):
                columns.append(column)
                write = _integer
            elif isinstance(field, models.DecimalField):
                columns.append(column)
                write = _decimal
            else:
                columns.append(column)
                write = _string
            self.writers.append((f'"{field.attname}":', write))
        self.time_index = next((i for i, f in enumerate(fields, start=1)
                                if f.attname == "occurred_at"), None)
        self.select = (f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)} t "
                       f"WHERE t.{quote(pk.column)} > %s")
        self.pk = f"t.{quote(pk.column)}"

    def sql(self, upto, limit):
        sql = self.select
        if upto is not None:
            sql += f" AND {self.pk} <= %s"
        sql += f" ORDER BY {self.pk}"
        if limit is not None:
            sql += " LIMIT %s"
        return sql

    def _json_writer(self):
        """A writer of JSON columns that remembers the canonical form of values it met."""
        known, loads = {}, json.loads

        def write(text):
            canonical = known.get(text)
            if canonical is None:
                canonical = "null" if text == NULL else canonical_json(
                    loads(unescape(text) if "\\" in text else text))
                if len(known) >= _KNOWN_MAX:
                    known.clear()
                known[text] = canonical
            return canonical
        return write

    def leaves(self, after, upto, limit, with_time):
        params = [after] + ([upto] if upto is not None else []) + (
            [limit] if limit is not None else [])
        json_writer = self._json_writer()
        writers = [(key, json_writer if i in self.json_indexes else write)
                   for i, (key, write) in enumerate(self.writers, start=1)]
        pairs = list(enumerate(writers, start=1))
        sha256, time_index = hashlib.sha256, self.time_index
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            query = f"COPY ({self.sql(upto, limit)}) TO STDOUT"
            with cursor.cursor.copy(query, params) as copy:
                for data in copy:
                    values = str(data, "utf-8", "surrogatepass")[:-1].split("\t")
                    text = "{" + ",".join([key + write(values[i])
                                           for i, (key, write) in pairs]) + "}"
                    leaf = sha256(text.encode("utf-8", "surrogatepass")).digest()
                    if not with_time:
                        yield int(values[0]), leaf
                        continue
                    occurred = None
                    if time_index is not None and values[time_index] != NULL:
                        occurred = datetime.fromisoformat(values[time_index]).replace(
                            tzinfo=dt_timezone.utc)
                    yield int(values[0]), leaf, occurred
