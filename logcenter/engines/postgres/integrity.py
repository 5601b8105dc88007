"""What sealing needs of PostgreSQL beyond reading rows: locks that take turns across
sessions, and the highest id of each kind that no open transaction can still insert
below (ids are drawn when a row is inserted, but become visible when its transaction
commits: sealing past an id a transaction still holds would skip that row for good)."""

import time

from django.db import connection

from logcenter.integrity.canonical import time_text


def take_turn(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])


def sequence_values(kinds):
    """{slug: the last id drawn from the kind's id sequence}."""
    values = {}
    with connection.cursor() as cursor:
        for kind in kinds:
            cursor.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, %s))",
                           [kind.model._meta.db_table, kind.model._meta.pk.column])
            values[kind.slug] = cursor.fetchone()[0] or 0
    return values


def open_writers(since):
    """(count, oldest start) of other sessions on this database with a transaction that
    started before `since` and has written (holds a transaction id)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*), min(xact_start) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_xid IS NOT NULL AND xact_start < %s", [since])
        return cursor.fetchone()


def seal_horizons(kinds, settle, wait):
    """The ids drawn so far, once every transaction that was writing when they were read
    has ended (after `settle` seconds, waiting up to `wait` more)."""
    horizons = sequence_values(kinds)
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        since = cursor.fetchone()[0]
    if settle:
        time.sleep(settle)
    deadline = time.monotonic() + wait
    while True:
        count, oldest = open_writers(since)
        if not count:
            return horizons, ""
        if time.monotonic() >= deadline:
            return {}, (f"{count} transaction(s) writing since {time_text(oldest)} "
                        "still open: sealing waits for them")
        time.sleep(0.1)
