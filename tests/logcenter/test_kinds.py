"""Everything a kind gets derives from its registry entry (docs/adding-a-kind.md).

The first test walks every registered kind, the four of the product and the fifth one the
test settings install (tests/fifth_kind: a model, its migration, a FilterSet, a Table, a
serializer and a registry entry, plus a factory and a demo generator), and checks
it has each thing a kind must have. The rest follows the fifth kind through the product:
list, detail, API, ingestion, export, charts, retention, roles and the trigger, with no
file outside its own app touched.
"""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

import demo
from accounts.models import ApiKey
from accounts.roles import ADMINISTRATOR, role_permissions
from logcenter.api.exports import ExportCreateSerializer
from logcenter.core.registry import FULL, EventChart, registry
from logcenter.exports import jobs as exports
from logcenter.integrity import sealing
from logcenter.integrity.models import DigestBlock
from logcenter.models import RetentionPolicy
from logcenter.retention import purge as retention
from tests.factories import FACTORIES, MemberFactory, StaffFactory
from tests.logcenter.test_access_matrix import EXPORTERS, MATRIX

pytestmark = pytest.mark.django_db
KINDS = list(registry)


def _triggers(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass",
                       [table])
        return {name for (name,) in cursor.fetchall()}


def test_the_fifth_kind_is_registered():
    assert [kind.slug for kind in KINDS] == ["audit", "usage", "auth", "system", "deploy"]


def _demo_world():
    """(rng, now, clock, people, keys) as demo.seed gives a builder."""
    import random

    from demo.common import DAYS, SEED, Clock, ensure_keys, ensure_users, key_infos

    rng, now = random.Random(SEED), timezone.now()
    people, _ = ensure_users(rng, now)
    ensure_keys(random.Random(SEED + 1), people, now)
    return rng, now, Clock(rng, now, DAYS), people, key_infos(rng, people)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.slug)
def test_every_kind_has_everything_a_kind_needs(kind):
    table = kind.model._meta.db_table
    # The append-only trigger and, from after_migrate, the TRUNCATE one (PostgreSQL).
    if connection.vendor == "postgresql":
        assert {f"{table}_append_only", f"{table}_no_truncate"} <= _triggers(table)
    # Its permissions, and the roles' grants of them (as sync_roles stored them).
    for action in FULL:
        app_label, codename = kind.perm(action).split(".")
        assert Permission.objects.filter(content_type__app_label=app_label,
                                         codename=codename).exists(), kind.perm(action)
    granted = {role: {f"{p.content_type.app_label}.{p.codename}"
                      for p in Group.objects.get(name=role).permissions.all()}
               for role in role_permissions()}
    assert {kind.perm(action) for action in kind.actions} <= granted[ADMINISTRATOR]
    for role, actions in kind.grants.items():
        assert {kind.perm(action) for action in actions} <= granted[role], role
    # A retention default, used when the policy is first read, and the purge's table list.
    assert isinstance(kind.retention_days, int) and kind.retention_days > 0
    RetentionPolicy.objects.filter(kind=kind.slug).delete()
    assert RetentionPolicy.for_kind(kind.slug).days == kind.retention_days
    assert (table, kind.slug, kind.model._meta.pk.column) in retention.purgeable_tables()
    # A factory (demo.factories, or the `factories` module of the kind's app).
    assert kind.slug in FACTORIES, f"{kind.slug} has no factory"
    row = FACTORIES[kind.slug]()
    assert isinstance(row, kind.model)
    # Digest coverage: sealing picks the kind up.
    sealing.seal(settle=0, wait=5)
    assert DigestBlock.objects.filter(kind=kind.slug, last_id__gte=row.pk).exists()
    # A row in the access matrix for every role, and the export face's kinds.
    assert all(kind.slug in row for row in MATRIX.values())
    assert kind.slug in EXPORTERS[ADMINISTRATOR]
    assert kind.slug in ExportCreateSerializer().fields["kind"].choices
    # A demo generator (demo.<slug>, or the `demo` module of the kind's app) whose rows
    # are the kind's, and a chart the views can draw.
    assert kind.slug in demo.DEMO_GENERATORS, f"{kind.slug} has no demo generator"
    counts = {**dict.fromkeys(demo.demo_counts(), 0), kind.slug: 3}
    built = demo.DemoBuilder(*_demo_world(), counts).build([kind.slug])
    assert built[kind.slug] and {type(r) for r in built[kind.slug]} == {kind.model}
    assert kind.charts in ("", "usage") or isinstance(kind.charts, EventChart)
    if isinstance(kind.charts, EventChart):
        kind.model._meta.get_field(kind.charts.field)


@pytest.mark.django_db(transaction=True)
def test_db_roles_after_migrate_derives_the_tables_from_the_registry(on_postgres, as_owner):
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, kind FROM logcenter_logtable")
        stored = set(cursor.fetchall())
    assert stored == {(table, slug) for table, slug, _ in retention.purgeable_tables()}
    assert {(kind.model._meta.db_table, kind.slug) for kind in KINDS} <= stored


# --- the fifth kind, through the product -------------------------------------------------

def _deploy(**kwargs):
    return FACTORIES["deploy"](**kwargs)


def test_the_fifth_kind_has_its_list_detail_and_chart(client):
    row = _deploy(service="ledger", version="9.9.9", ip="198.51.100.5")
    client.force_login(StaffFactory(username="fifth-admin"))
    page = client.get("/logs/deploy/?service=ledger")
    assert page.status_code == 200 and str(row.event_id) in page.content.decode()
    assert 'href="/logs/deploy/"' in page.content.decode()  # its tab
    detail = client.get(row.get_absolute_url())
    assert detail.status_code == 200 and "9.9.9" in detail.content.decode()
    panels = client.get("/logs/deploy/panels/").content.decode()
    assert "Deploys by result per" in panels
    assert client.get("/logs/deploy/?nope=1").status_code == 400  # its FilterSet's rules


def test_the_fifth_kind_has_its_api_and_ingestion():
    row = _deploy(environment="staging")
    _deploy(environment="production")
    api = APIClient()
    api.force_authenticate(StaffFactory(username="fifth-api"))
    listed = api.get("/api/v1/deploy-events/?environment=staging&range=all")
    assert listed.status_code == 200
    assert [r["event_id"] for r in listed.json()["results"]] == [str(row.event_id)]
    detail = api.get(f"/api/v1/deploy-events/{row.event_id}/").json()
    assert detail["kind"] == "deploy" and detail["version"] == row.version

    owner = StaffFactory(username="fifth-gateway")
    _, secret = ApiKey.generate(owner=owner, name="deployer", scopes=["ingest"],
                                kinds=["deploy"])
    ingest = APIClient()
    ingest.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = [{"kind": "deploy", "service": "search", "version": "3.1.0", "result": "bogus"},
            {"kind": "deploy", "service": "search", "version": "3.1.0"}]
    response = ingest.post("/api/v1/ingest/", json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    assert (response.json()["accepted"], response.json()["rejected"]) == (1, 1)
    assert [e["field"] for e in response.json()["errors"]] == ["result"]


def test_the_fifth_kind_exports(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    rows = [_deploy(service="billing") for _ in range(3)]
    api = APIClient()
    api.force_authenticate(StaffFactory(username="fifth-export"))
    created = api.post("/api/v1/exports/?service=billing", {"kind": "deploy", "format": "csv"},
                       format="json")
    assert created.status_code == 202
    job = exports.ExportJob.objects.get(export_id=created.json()["export_id"])
    assert job.status == "completed", job.error
    text = (exports.export_dir() / job.file_name).read_text(encoding="utf-8-sig")
    exported = {r["event_id"] for r in csv.DictReader(io.StringIO(text))}  # rows only
    assert exported == {str(r.event_id) for r in rows}


def test_the_fifth_kind_keeps_its_own_retention():
    days = registry["deploy"].retention_days
    expired = _deploy(occurred_at=timezone.now() - timedelta(days=days + 1))
    kept = _deploy(occurred_at=timezone.now() - timedelta(days=days - 1))
    report = retention.retention_purge()
    assert report.deleted["deploy"] == 1
    model = registry["deploy"].model
    assert not model.objects.filter(pk=expired.pk).exists()
    assert model.objects.filter(pk=kept.pk).exists()


def test_the_fifth_kind_follows_its_grants():
    row = _deploy()
    api = APIClient()
    for role, status in (("Auditor", 200), ("Support", 200), ("Finance", 403)):
        api.force_authenticate(StaffFactory(username=f"fifth-{role.lower()}", roles=[role]))
        assert api.get(f"/api/v1/deploy-events/{row.event_id}/").status_code == status, role
    api.force_authenticate(MemberFactory(username="fifth-member"))
    assert api.get("/api/v1/deploy-events/").status_code == 403


def test_the_fifth_kind_is_append_only(on_postgres):
    row = _deploy()
    model = registry["deploy"].model
    for change in (lambda: model.objects.filter(pk=row.pk).update(version="0.0.0"),
                   lambda: model.objects.filter(pk=row.pk).delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    assert model.objects.get(pk=row.pk).version == row.version


@pytest.mark.django_db(transaction=True)
def test_the_append_only_operation_goes_back_and_forth(on_postgres, as_owner):
    """AppendOnly's reverse drops the trigger, its forward puts it back."""
    from django.db.migrations.executor import MigrationExecutor

    table = registry["deploy"].model._meta.db_table
    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration("fifth_kind", "0001_initial")
    operation = migration.operations[-1]
    state = executor.loader.project_state(("fifth_kind", "0001_initial"))
    with connection.schema_editor() as editor:
        operation.database_backwards("fifth_kind", editor, state, state)
    assert f"{table}_append_only" not in _triggers(table)
    with connection.schema_editor() as editor:
        operation.database_forwards("fifth_kind", editor, state, state)
    assert f"{table}_append_only" in _triggers(table)
