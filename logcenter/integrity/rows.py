"""Reading rows' leaves in id order: the one seam between the canonical form and a store.

`leaves(model, after, upto, limit, with_time)` yields (id, leaf) or (id, leaf,
occurred_at) of the rows with after < id <= upto, in id order (call it inside a
transaction). The kind's engine reads them (`Engine.row_leaves`): the portable engine
through the ORM (logcenter.integrity.canonical.orm_leaves, the definition), the
PostgreSQL engine with COPY (logcenter.engines.postgres.leaves). `portable=True` always
takes the ORM path: the tests compare the two.
"""

from logcenter.engines import engine_for
from logcenter.integrity.canonical import orm_leaves


def leaves(model, after, upto=None, *, limit=None, with_time=False, portable=False):
    if portable:
        return orm_leaves(model, after, upto, limit=limit, with_time=with_time)
    return engine_for(model).row_leaves(model, after, upto, limit=limit, with_time=with_time)
