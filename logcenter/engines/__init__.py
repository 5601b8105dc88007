"""The storage seam: every operation whose best form depends on the store goes through
the engine of the kind it touches.

    from logcenter.engines import engine_for
    engine_for(kind).store(kind, rows)

`engine_for(kind)` is decided once per kind and database vendor: the kind's entry in
LOGCENTER["ENGINES"] (a dotted path to an Engine class; how a column store such as
ClickHouse would take over one big kind), else the PostgreSQL engine
(logcenter.engines.postgres: partitions, COPY, the rollup inbox, keyset plans, COPY
exports, the owner's purge functions) on PostgreSQL, else the portable ORM engine
(logcenter.engines.orm: any Django database; SQLite for the demo). The contract of each
operation is on logcenter.engines.base.Engine; docs/architecture.md explains the seam.

This module imports nothing of the application at import time, so that any module may
import it without an import cycle: the engines are loaded when first asked for.
"""

_engines = {}


def engine_for(kind=None):
    """The engine of `kind` (a registered LogKind, or a log model; None: the default
    database's engine, for what belongs to no kind)."""
    from django.conf import settings
    from django.db import connection
    from django.utils.module_loading import import_string

    slug = getattr(kind, "slug", None)
    if slug is None and kind is not None:  # a model: its kind, if it is one
        from logcenter.core.registry import registry

        try:
            slug = registry.for_model(kind).slug
        except KeyError:
            slug = None
    key = (connection.vendor, slug)
    engine = _engines.get(key)
    if engine is None:
        path = settings.LOGCENTER.get("ENGINES", {}).get(slug) if slug else None
        if path is None:
            path = ("logcenter.engines.postgres.engine.PostgresEngine"
                    if connection.vendor == "postgresql"
                    else "logcenter.engines.orm.engine.OrmEngine")
        engine = _engines[key] = import_string(path)()
    return engine
