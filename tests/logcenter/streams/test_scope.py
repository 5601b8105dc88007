"""What a destination carries: its organization's rows only, fields as its owner may see
them, and only while the plan includes streaming."""

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import Plan
from logcenter.models import SystemEvent
from logcenter.streams import delivery, services
from tests.factories import (AuditEventFactory, MembershipFactory, OrganizationFactory,
                             StaffFactory, UsageRecordFactory)
from tests.logcenter.streams.receivers import WebhookReceiver

SECRET = "a-webhook-secret-of-32-characters"
pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(httpserver):
    return WebhookReceiver(httpserver, SECRET)


def _org_admin(plan="enterprise"):
    return MembershipFactory(role="admin", organization=OrganizationFactory(plan=plan)).user


def test_an_organizations_destination_never_carries_another_organizations_rows(
        make_destination, hook):
    admin = _org_admin()
    ours = admin.membership.organization.public_id
    other = OrganizationFactory(plan="enterprise").public_id
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, user=admin)
    assert destination.organization.public_id == ours
    mine = [AuditEventFactory(organization_id=ours), UsageRecordFactory(organization_id=ours)]
    theirs = [AuditEventFactory(organization_id=other), UsageRecordFactory(organization_id=other),
              AuditEventFactory(organization_id="")]  # a platform row
    delivery.pump(destination.pk)
    assert {d["context"]["organization_id"] for d in hook.events} == {ours}
    assert {str(r.event_id) for r in mine} <= set(hook.event_ids)
    assert not {str(r.event_id) for r in theirs} & set(hook.event_ids)
    # The rows passed over still move the cursor: nothing is read twice.
    destination.refresh_from_db()
    assert destination.cursor["audit"] >= theirs[-1].pk


def test_a_platform_destination_may_be_scoped_to_one_organization(make_destination, hook):
    organization = OrganizationFactory()
    destination = make_destination("webhook", hook.url, {"secret": SECRET},
                                   organization=organization, kinds=["audit"])
    inside = AuditEventFactory(organization_id=organization.public_id)
    outside = AuditEventFactory(organization_id="org_elsewhere")
    delivery.pump(destination.pk)
    assert str(inside.event_id) in hook.event_ids
    assert str(outside.event_id) not in hook.event_ids


def test_sensitive_fields_are_masked_unless_sent_by_an_owner_who_may_see_them(
        make_destination, httpserver):
    plain_hook = WebhookReceiver(httpserver, SECRET, path="/plain")
    full_hook = WebhookReceiver(httpserver, SECRET, path="/full")
    plain = make_destination("webhook", plain_hook.url, {"secret": SECRET}, kinds=["audit"])
    full = make_destination("webhook", full_hook.url, {"secret": SECRET}, kinds=["audit"],
                            include_sensitive=True)
    row = AuditEventFactory(ip="198.51.100.9", details={"note": "inside"})
    delivery.pump(plain.pk)
    delivery.pump(full.pk)
    masked = next(d for d in plain_hook.events if d["event_id"] == str(row.event_id))
    assert masked["record"]["ip"] == "[masked]" and masked["actor"]["ip"] == "[masked]"
    assert masked["record"]["details"] == "[masked]"
    shown = next(d for d in full_hook.events if d["event_id"] == str(row.event_id))
    assert shown["record"]["ip"] == "198.51.100.9"
    # An empty JSON field is masked too: its type never changes from row to row.
    empty = AuditEventFactory(details={})
    delivery.pump(plain.pk, force=True)
    document = next(d for d in plain_hook.events if d["event_id"] == str(empty.event_id))
    assert document["record"]["details"] == "[masked]"


def _support_managing_streams():
    """Support (reads usage, without its sensitive fields or cost) given the right to
    manage streams on its own."""
    from django.contrib.auth.models import Permission

    support = StaffFactory(roles=["Support"])
    support.user_permissions.add(Permission.objects.get(codename="change_destination"))
    return type(support).objects.get(pk=support.pk)  # permissions read afresh


def test_an_owner_who_may_not_see_sensitive_fields_cannot_send_them(make_destination, hook):
    support = _support_managing_streams()
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        make_destination("webhook", hook.url, {"secret": SECRET}, user=support,
                         kinds=["usage"], include_sensitive=True)
    assert "include_sensitive" in error.value.message_dict


def test_cost_is_left_out_for_an_owner_who_may_not_see_it(make_destination, hook):
    support = _support_managing_streams()
    from logcenter.core.access import access_for
    from logcenter.core.registry import registry

    if access_for(support, registry["usage"]).can_view_cost or not access_for(
            support, registry["usage"]).can_view:
        pytest.skip("Support's grants changed: pick a role that reads usage without cost")
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, user=support,
                                   kinds=["usage"])
    row = UsageRecordFactory()
    delivery.pump(destination.pk)
    document = next(d for d in hook.events if d["event_id"] == str(row.event_id))
    assert "cost" not in document["record"]


def test_streaming_needs_a_plan_that_includes_it(make_destination, hook):
    with pytest.raises(PermissionDenied, match="does not include log streaming"):
        make_destination("webhook", hook.url, {"secret": SECRET}, user=_org_admin("pro"))
    member = MembershipFactory(role="member",
                               organization=OrganizationFactory(plan="enterprise")).user
    with pytest.raises(PermissionDenied):
        make_destination("webhook", hook.url, {"secret": SECRET}, user=member)


def test_a_plan_losing_streaming_pauses_its_destinations_with_a_reason(make_destination,
                                                                       hook):
    admin = _org_admin()
    organization = admin.membership.organization
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, user=admin)
    organization.plan = Plan.objects.get(slug="business")
    organization.save()
    AuditEventFactory(organization_id=organization.public_id)
    result = delivery.pump(destination.pk)
    assert "does not include log streaming" in result.paused and hook.events == []
    event = SystemEvent.objects.get(event="stream.paused", resource_id=destination.public_id)
    # The organization's own admins see why their stream stopped.
    assert event.organization_id == organization.public_id


def test_an_owner_removed_pauses_the_destination_until_someone_takes_it_over(
        make_destination, hook, staff):
    owner = StaffFactory()
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, user=owner,
                                   kinds=["audit"])
    owner.is_active = False
    owner.save()
    assert "removed or disabled" in delivery.pump(destination.pk).paused
    destination.refresh_from_db()
    services.destination_resume(staff, destination)
    destination.refresh_from_db()
    assert destination.created_by == staff and destination.status == "running"
    row = AuditEventFactory()
    delivery.pump(destination.pk)
    assert str(row.event_id) in hook.event_ids


def test_event_patterns_choose_the_events(make_destination, hook):
    from tests.factories import AuthEventFactory

    destination = make_destination("webhook", hook.url, {"secret": SECRET},
                                    kinds=["auth", "audit"], event_patterns=["auth.*"])
    auth = AuthEventFactory()
    audit = AuditEventFactory()
    delivery.pump(destination.pk)
    assert str(auth.event_id) in hook.event_ids
    assert str(audit.event_id) not in hook.event_ids


def test_health_counts_what_is_behind(make_destination, hook):
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    rows = AuditEventFactory.create_batch(3)
    destination.refresh_from_db()
    health = delivery.health(destination)
    assert health.behind >= 3 and health.oldest_undelivered_at is not None
    delivery.pump(destination.pk)
    destination.refresh_from_db()
    assert delivery.health(destination).behind == 0
    assert delivery.health(destination).lag_seconds == 0 and rows


def test_the_beat_task_pumps_every_due_destination(make_destination, hook):
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    row = AuditEventFactory()
    delivery.streams_dispatch_task()
    assert str(row.event_id) in hook.event_ids
    destination.refresh_from_db()
    assert destination.next_run_at is not None


def test_a_pattern_matching_a_whole_kind_is_not_narrowed_by_another(make_destination, hook):
    from tests.factories import AuthEventFactory

    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["auth"],
                                   event_patterns=["auth.*", "*.failure"])
    success = AuthEventFactory(event="login.succeeded", result="success")
    failure = AuthEventFactory(event="login.failed", result="failure")
    delivery.pump(destination.pk)
    assert {str(success.event_id), str(failure.event_id)} <= set(hook.event_ids)


def test_a_kind_added_later_starts_with_what_comes_next(make_destination, hook, staff):
    from tests.factories import AuthEventFactory

    history = AuthEventFactory()
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"])
    values = {name: getattr(destination, name) for name in services.EDITABLE}
    values["kinds"] = ["audit", "auth"]
    services.destination_save(staff, values, destination=destination)
    new = AuthEventFactory()
    delivery.pump(destination.pk)
    assert str(new.event_id) in hook.event_ids
    assert str(history.event_id) not in hook.event_ids


def test_sparse_rows_among_many_others_all_arrive_in_order(make_destination, hook):
    """The reads go by growing spans of ids: rows far apart, between many that are not
    the destination's, are all found, in order, whatever the batch size."""
    organization = OrganizationFactory()
    destination = make_destination("webhook", hook.url, {"secret": SECRET}, kinds=["audit"],
                                   organization=organization, batch_size=2)
    ours = []
    for _ in range(5):
        AuditEventFactory.create_batch(9, organization_id="org_elsewhere")
        ours.append(AuditEventFactory(organization_id=organization.public_id))
    delivery.pump(destination.pk)
    assert hook.event_ids == [str(row.event_id) for row in ours]
    destination.refresh_from_db()
    assert destination.cursor["audit"] >= ours[-1].pk
