"""Reading rows' leaves in id order: the one seam between the canonical form and a database.

`leaves(model, after, upto, limit, with_time)` yields (id, leaf) or (id, leaf, occurred_at)
of the rows with after < id <= upto, in id order, through a server-side cursor (call it
inside a transaction). Two implementations, equal by test (tests/logcenter/
test_integrity.py):

- portable (SQLite, and any model with a field the fast path does not know): the ORM reads
  the values and logcenter.integrity.canonical writes them;
- PostgreSQL: the database writes the row's canonical JSON itself with `row_to_json` over
  a subquery that casts each column to its canonical value (times with to_char, decimals
  as text; text, numbers, booleans, UUIDs and addresses are written by PostgreSQL as
  Python's json writes them). JSON columns come as null there and are spliced in after
  Python canonicalises them (sorted keys): a top-level `"name":null` is unambiguous, as
  quotes inside strings are escaped. About twice as fast as the ORM path, which spends
  most of its time building Python values only to write them out again.
"""

import hashlib
import json

from django.db import connection, models

from logcenter.integrity.canonical import canonical_json, row_form

CHUNK_ROWS = 2000
# Column types whose PostgreSQL JSON form is their canonical one, or is made so below.
_FAST = (models.CharField, models.TextField, models.IntegerField, models.BooleanField,
         models.GenericIPAddressField, models.UUIDField, models.DateTimeField,
         models.DecimalField, models.JSONField, models.AutoField, models.BigAutoField)
_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_EMPTY = {"{}": "{}", "[]": "[]", None: "null"}
_KNOWN_MAX = 10_000  # JSON values remembered per read, with their canonical form


def _quote(name):
    return connection.ops.quote_name(name)


class PostgresRows:
    """The PostgreSQL statement for one model, made once from its concrete fields."""

    def __init__(self, model):
        pk = model._meta.pk
        fields = sorted((f for f in model._meta.concrete_fields if f is not pk),
                        key=lambda f: f.attname)
        inner, self.json_names = [], []
        for field in fields:
            column, alias = f"t.{_quote(field.column)}", _quote(field.attname)
            if isinstance(field, models.JSONField):
                inner.append(f"NULL::int AS {alias}")
                self.json_names.append(field)
            elif isinstance(field, models.DateTimeField):
                inner.append(f"to_char({column} AT TIME ZONE 'UTC', '{_TIME_FORMAT}') AS {alias}")
            elif isinstance(field, models.DecimalField):
                inner.append(f"{column}::text AS {alias}")  # the column's scale: fixed-point
            else:
                inner.append(f"{column} AS {alias}")
        self.markers = [(f'"{f.attname}":null', f'"{f.attname}":') for f in self.json_names]
        json_columns = "".join(f", t.{_quote(f.column)}::text" for f in self.json_names)
        time_field = next((f for f in model._meta.concrete_fields
                           if f.attname == "occurred_at"), None)
        self.time_column = f", t.{_quote(time_field.column)}" if time_field else ", NULL"
        self.select = f"SELECT t.{_quote(pk.column)}, row_to_json(lc)::text{json_columns}"
        self.source = f" CROSS JOIN LATERAL (SELECT {', '.join(inner)}) lc"
        self.table, self.pk = _quote(model._meta.db_table), f"t.{_quote(pk.column)}"

    def sql(self, with_time, upto, limit):
        sql = (self.select + (self.time_column if with_time else "")
               + f" FROM {self.table} t{self.source} WHERE {self.pk} > %s")
        if upto is not None:
            sql += f" AND {self.pk} <= %s"
        sql += f" ORDER BY {self.pk}"
        if limit is not None:
            sql += " LIMIT %s"
        return sql

    def leaves(self, after, upto, limit, with_time):
        params = [after] + ([upto] if upto is not None else []) + (
            [limit] if limit is not None else [])
        markers, n = self.markers, len(self.markers)
        sha256, known, loads = hashlib.sha256, dict(_EMPTY), json.loads
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # compiling the casts costs more than it saves
        with connection.chunked_cursor() as cursor:
            cursor.execute(self.sql(with_time, upto, limit), params)
            while True:
                batch = cursor.fetchmany(CHUNK_ROWS)
                if not batch:
                    return
                for row in batch:
                    text = row[1]
                    for i in range(n):
                        value = row[2 + i]
                        canonical = known.get(value)
                        if canonical is None:
                            # Rows often repeat a JSON value ({"env": "prod"}): written once.
                            canonical = canonical_json(loads(value))
                            if len(known) > _KNOWN_MAX:
                                known = dict(_EMPTY)
                            known[value] = canonical
                        marker, key = markers[i]
                        text = text.replace(marker, key + canonical, 1)
                    leaf = sha256(text.encode("utf-8", "surrogatepass")).digest()
                    if with_time:
                        yield row[0], leaf, row[2 + n]
                    else:
                        yield row[0], leaf


class OrmRows:
    def __init__(self, model):
        self.model, self.form = model, row_form(model)

    def leaves(self, after, upto, limit, with_time):
        form = self.form
        rows = self.model.objects.filter(pk__gt=after)
        if upto is not None:
            rows = rows.filter(pk__lte=upto)
        rows = rows.order_by("pk").values_list(*form.attnames)
        if limit is not None:
            rows = rows[:limit]
        leaf, time_index = form.leaf, form.time_index
        for values in rows.iterator(chunk_size=CHUNK_ROWS):
            if with_time:
                yield values[0], leaf(values), (
                    values[time_index] if time_index is not None else None)
            else:
                yield values[0], leaf(values)


_readers = {}


def reader(model, *, portable=False):
    """The rows reader of `model` for this database (`portable`: the ORM path always)."""
    fast = (not portable and connection.vendor == "postgresql"
            and all(isinstance(f, _FAST) for f in model._meta.concrete_fields))
    key = (model, fast)
    if key not in _readers:
        _readers[key] = PostgresRows(model) if fast else OrmRows(model)
    return _readers[key]


def leaves(model, after, upto=None, *, limit=None, with_time=False, portable=False):
    return reader(model, portable=portable).leaves(after, upto, limit, with_time)
