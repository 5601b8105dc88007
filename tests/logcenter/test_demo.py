"""The demo data `make run` loads reads like the console made it."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import User
from logcenter.models import AuditEvent
from logcenter.core.registry import registry

pytestmark = pytest.mark.django_db


def test_demo_data_fills_every_tab_and_names_actors_as_the_console_does():
    call_command("seed_demo", verbosity=0)
    for kind in registry:
        assert kind.model.objects.count() > 100, kind.slug
    usernames = dict(User.objects.values_list("pk", "username"))
    by_users = AuditEvent.objects.filter(actor_type="user").values_list("actor_id", "actor_name")
    # The console records a user by username; the demo history must too, or filtering by
    # actor finds only part of what a person did.
    assert {name for pk, name in by_users} <= set(usernames.values())
    assert all(usernames[int(pk)] == name for pk, name in by_users)
    for event in AuditEvent.objects.filter(action__startswith="role.permissions_"):
        assert event.changes["permissions"]["after"], "a grant names what it granted"


def wipe(model):
    """Empty one log table, as an operator would: the owner role, past the append-only
    trigger (the app role may not delete log rows at all)."""
    from django.db import connection, transaction

    from logcenter.engines.postgres import db_roles

    with db_roles.as_owner(), transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL logcenter.purge = 'on'")
        model.objects.all().delete()


@pytest.mark.django_db(transaction=True)  # the wipe connects as the owner
def test_seed_demo_after_a_partial_wipe_restores_what_is_missing_and_doubles_nothing():
    from datetime import timedelta

    from django.utils import timezone

    import demo
    from logcenter.models import AuthEvent, UsageRecord

    counts = demo.demo_counts({"usage": 400, "audit": 150, "auth": 150, "system": 80})
    models = {kind.slug: kind.model for kind in registry}

    def stored():
        """Rows per kind: (the demo's own, all of them)."""
        return {slug: (model.objects.filter(event_id__in=[demo.demo_id(slug, n)
                                                         for n in range(counts[slug])]).count(),
                       model.objects.count())
                for slug, model in models.items()}

    first = demo.seed(counts=counts, log=lambda *a: None)
    after_first = stored()
    assert not first.skipped and {s: n for s, (n, _) in after_first.items()} == counts

    wipe(AuditEvent)  # one table emptied; the next run dates its rows an hour later
    later = timezone.now() + timedelta(hours=1)
    second = demo.seed(counts=counts, now=later, log=lambda *a: None)
    assert second.inserted == {**dict.fromkeys(counts, 0), "audit": 150}
    assert {s: n for s, (n, _) in stored().items()} == counts
    assert UsageRecord.objects.count() == 400  # was 800: the same ids again, at other times

    wipe(UsageRecord)
    wipe(AuthEvent)
    third = demo.seed(counts=counts, now=later + timedelta(hours=1), log=lambda *a: None)
    assert (third.inserted["usage"], third.inserted["auth"], third.inserted["audit"]) == (
        400, 150, 0)
    assert {s: n for s, (n, _) in stored().items()} == counts
    assert UsageRecord.objects.count() == 400
    assert demo.seed(counts=counts, log=lambda *a: None).skipped


def test_seed_demo_usage_through_the_portable_engine(settings, monkeypatch):
    """The portable engine's bulk load (SQLite's, or a kind an install gives the ORM engine):
    bulk_create from one process, the rollups rebuilt to the rows' sums, and the other kinds'
    rows after the rebuild rather than beside it (one writer)."""
    from django.db.models import Count, Sum

    import demo
    from logcenter import engines
    from logcenter.models import USAGE_ROLLUPS, UsageRecord

    monkeypatch.setattr(engines, "_engines", {})
    settings.LOGCENTER = {**settings.LOGCENTER,
                          "ENGINES": {"usage": "logcenter.engines.orm.engine.OrmEngine"}}
    demo.seed(counts={"usage": 100, "audit": 30, "auth": 30, "system": 10}, log=lambda *a: None)
    calls = []

    def alongside():
        calls.append(UsageRecord.objects.count())

    rows, _ = demo.add_usage(600, chunk=250, days=10, workers=2, log=lambda *a: None,
                             alongside=alongside)
    assert rows == 600 and UsageRecord.objects.count() == 700
    assert calls == [700]
    # At the cost column's 8 places: SQLite adds NUMERIC values as floats, so two sums of
    # the same costs in another order may differ in the 14th digit (2.51123008999999).
    def exact(total):
        return Decimal(total).quantize(Decimal("0.00000001"))

    raw = UsageRecord.objects.aggregate(n=Count("id"), cost=Sum("cost"))
    for rollup in USAGE_ROLLUPS:
        sums = rollup.objects.aggregate(n=Sum("requests"), cost=Sum("cost"))
        assert (sums["n"], exact(sums["cost"])) == (raw["n"], exact(raw["cost"])), \
            rollup.__name__


def test_the_demo_spreads_its_people_keys_and_rows_over_organizations():
    import demo
    from accounts.models import ApiKey, Membership, Organization
    from demo.organizations import ORGANIZATIONS
    from logcenter.models import AuthEvent, UsageRecord

    counts = demo.demo_counts({"usage": 600, "audit": 200, "auth": 200, "system": 60})
    assert demo.seed(counts=counts, log=lambda *a: None).organizations_created == 8
    plans = dict(Organization.objects.values_list("slug", "plan__slug"))
    assert plans == {slug: plan for slug, (plan, _projects) in ORGANIZATIONS.items()}
    assert {"free", "pro", "enterprise"} <= set(plans.values())
    for organization in Organization.objects.all():
        roles = set(organization.memberships.values_list("role", flat=True))
        assert {"owner", "admin", "auditor", "member"} <= roles, organization.slug
        assert organization.projects.filter(is_default=True).count() == 1
        assert 2 <= organization.projects.count() <= 3
    # Staff stay staff and belong to none; the organization admin signs in to Acme.
    assert not Membership.objects.filter(user__is_staff=True).exists()
    acme_admin = Membership.objects.get(user__username="acme-admin")
    assert (acme_admin.organization.slug, acme_admin.role) == ("acme", "admin")
    assert acme_admin.user.check_password("acme-admin-demo-123")
    # Every customer's key is in one of its organization's projects; its rows carry both.
    for key in ApiKey.objects.filter(owner__membership__isnull=False):
        assert key.project.organization == key.owner.membership.organization
    keys = {k.prefix: k for k in ApiKey.objects.select_related("project__organization")}
    for row in UsageRecord.objects.all():
        project = keys[row.api_key_id].project
        assert (row.organization_id, row.project_id) == (
            (project.organization.public_id, project.public_id) if project else ("", ""))
    assert UsageRecord.objects.exclude(organization_id="").count() > 300
    members = dict(Membership.objects.values_list("user_id", "organization__public_id"))
    for row in AuthEvent.objects.exclude(user_id=""):
        assert row.organization_id == members.get(int(row.user_id), "")
    assert demo.seed(counts=counts, log=lambda *a: None).organizations_created == 0
