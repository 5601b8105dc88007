"""The storage seam: one engine per kind, chosen once; selectors only read."""

import pytest
from django.db import connection

from logcenter import engines
from logcenter.core import selectors
from logcenter.core.registry import registry
from logcenter.engines import engine_for
from logcenter.engines.orm.engine import OrmEngine
from logcenter.engines.postgres.engine import PostgresEngine
from logcenter.models import AuditEvent, UsageRecord
from tests.factories import AuditEventFactory


@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.setattr(engines, "_engines", {})


def test_each_kind_gets_the_engine_of_its_database_once(fresh_choice):
    expected = PostgresEngine if connection.vendor == "postgresql" else OrmEngine
    for kind in registry:
        assert type(engine_for(kind)) is expected
        assert engine_for(kind) is engine_for(kind.model)  # a model means its kind
    assert type(engine_for()) is expected


def test_a_kind_may_name_its_own_engine(settings, fresh_choice):
    settings.LOGCENTER = {**settings.LOGCENTER,
                          "ENGINES": {"usage": "logcenter.engines.orm.engine.OrmEngine"}}
    assert type(engine_for(UsageRecord)) is OrmEngine
    assert type(engine_for(registry["audit"])) is (
        PostgresEngine if connection.vendor == "postgresql" else OrmEngine)


@pytest.mark.django_db
def test_reading_one_row_records_nothing_the_faces_record_the_view(staff):
    row = AuditEventFactory()
    before = AuditEvent.objects.count()
    assert selectors.log_get(registry["audit"], staff, row.event_id).pk == row.pk
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_the_rollup_inbox_is_vacuumed_once_10000_of_its_rows_are_dead(on_postgres):
    """Migration 0033: the inbox churns (every fold deletes what ingestion added), so
    autovacuum takes it at a fixed count of dead rows, not at a share of the table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s",
                       ["logcenter_usagerollupinbox"])
        assert set(cursor.fetchone()[0]) == {"autovacuum_vacuum_scale_factor=0",
                                             "autovacuum_vacuum_threshold=10000"}
