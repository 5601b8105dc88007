"""Tamper evidence: every log row sealed, in insertion order, into signed blocks chained
per kind; verification that nothing was edited, inserted, reordered or removed outside
retention. See docs/integrity.md.

The entry points:

    seal()                       the beat task's work (sealing.py)
    verify(kinds, start, end)    what verify_logs and the API run (verification.py)
    record_removal(kind, ids, reason=…, before=…)
                                 called by retention in the transaction that deletes
                                 (removals.py)
"""


def seal(*args, **kwargs):
    from .sealing import seal as run

    return run(*args, **kwargs)


def verify(*args, **kwargs):
    from .verification import verify as run

    return run(*args, **kwargs)


def record_removal(*args, **kwargs):
    from .removals import record_removal as run

    return run(*args, **kwargs)
