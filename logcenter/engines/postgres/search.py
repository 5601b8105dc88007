"""Free text search (`q`) on PostgreSQL: one trigram index per log table over the text `q`
looks in.

`q` looks for its text in several columns of a kind (the FilterSet's `search_fields`); a
condition ORing them can use no index, so a search that finds little read every row of the
window (10 s over 30 days of usage). Each log table has a GIN trigram index (pg_trgm) on
UPPER of those columns joined by spaces (migration 0026), and a search first asks it for
the rows whose joined text holds the value; the exact per-column condition is checked on
those rows only. The index answers a superset: a value inside one column is inside the
joined text; a value spanning two columns is a candidate the exact condition then drops.
UPPER on both sides, as Django's icontains compares, so index and condition fold case
alike. Values without three letters or digits in a row give trigrams no index can use:
those are searched by the exact condition alone, within the window.
"""

import re
from functools import lru_cache

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import connection
from django.db.models import BooleanField, F, Func, TextField, Value
from django.db.models.functions import Upper

SEPARATOR = " "
# Three letters or digits in a row: what pg_trgm can make a trigram of.
INDEXABLE = re.compile(r"\w{3}")


class JoinedText(Func):
    """The columns' text joined by spaces (`||`: immutable, so it can be indexed)."""

    arg_joiner = f" || '{SEPARATOR}' || "
    template = "(%(expressions)s)"
    output_field = TextField()


class Like(Func):
    """`expression LIKE pattern`, as a condition."""

    arg_joiner = " LIKE "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def searched_text(fields):
    return Upper(JoinedText(*[F(name) for name in fields]))


def index_name(model):
    return f"{model._meta.db_table.removeprefix('logcenter_')}_search_idx"


def search_index(model, fields):
    """The index the migration builds for `model`'s searched `fields`."""
    return GinIndex(OpClass(searched_text(fields), name="gin_trgm_ops"), name=index_name(model))


@lru_cache(maxsize=None)
def _has_index(table, name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE tablename = %s AND indexname = %s",
                       [table, name])
        return cursor.fetchone() is not None


def candidates(model, fields, value):
    """A condition the index answers, met by every row that holds `value` in one of
    `fields` (the kind's search_fields, as indexed), or None where the index cannot help."""
    if not INDEXABLE.search(value) or not _has_index(model._meta.db_table, index_name(model)):
        return None
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Like(searched_text(fields), Upper(Value(f"%{escaped}%")))
