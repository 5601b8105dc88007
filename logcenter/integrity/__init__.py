"""Tamper evidence: every log row sealed, in insertion order, into signed blocks chained
per kind; verification that nothing was edited, inserted, reordered or removed outside
retention. See docs/integrity.md.

The entry points:

    seal()                       the beat task's work (sealing.py)
    verify(kinds, start, end)    what verify_logs and the API run (verification.py)
    record_removal(kind, ids, reason=…, before=…)
                                 the signed record of rows removed on purpose, written in
                                 the transaction that deletes them (removals.py), which
                                 retention reaches through purge_batch (a purge batch) and
                                 partition_drop (a dropped month of usage)
"""


def seal(*args, **kwargs):
    from logcenter.integrity.sealing import seal as run

    return run(*args, **kwargs)


def verify(*args, **kwargs):
    from logcenter.integrity.verification import verify as run

    return run(*args, **kwargs)


def record_removal(*args, **kwargs):
    from logcenter.integrity.removals import record_removal as run

    return run(*args, **kwargs)
