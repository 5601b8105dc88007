"""The demo data `make run` loads reads like the console made it."""

import pytest
from django.core.management import call_command

from accounts.models import User
from logcenter.models import AuditEvent
from logcenter.registry import registry

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
