"""PostgreSQL advisory locks that take turns across sessions (sealing runs, partition
layout changes)."""

from contextlib import contextmanager

from django.db import DatabaseError, connection


@contextmanager
def session_lock(key, *, wait):
    """Hold the advisory lock `key` for the block, for this session; yields whether it is
    held (with wait=False, False when another session holds it)."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            held = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                # The block failed inside a transaction, which refuses the unlock: closing
                # the session releases the lock (and the error raised by the block stands).
                connection.close()
