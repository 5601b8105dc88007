"""The Log streams pages (logcenter.web.stream_views) through the Django test client: who
may open and change what, the form's errors, the actions, and credentials never on a page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Plan
from logcenter.models import AuditEvent
from logcenter.streams import delivery, secrets
from logcenter.streams.models import Destination
from logcenter.streams.protocols import protocol_class
from tests.factories import (AuditEventFactory, MembershipFactory, OrganizationFactory,
                             StaffFactory)

SECRET = "s3cret-Webhook-signing-KEY-0042"
pytestmark = pytest.mark.django_db

LIST = reverse("logcenter:streams")
NEW = reverse("logcenter:stream-new")


def page(name, destination):
    return reverse(f"logcenter:{name}", args=[destination.public_id])


def form_data(**changes):
    data = {"name": "SIEM hook", "type": "webhook", "endpoint": "https://siem.example.com/hook",
            "webhook__secret": SECRET, "kinds": ["audit", "auth"],
            "event_patterns": "auth.*, *.failure", "batch_size": "200",
            "interval_seconds": "5", "pause_after_minutes": "60", "enabled": "on",
            "start": "now", "start_at": ""}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def org_admin(plan="enterprise", role="admin"):
    return MembershipFactory(role=role, organization=OrganizationFactory(plan=plan)).user


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def hook(make_destination):
    return make_destination("webhook", "https://receiver.example.com/in", {"secret": SECRET},
                            name="Existing hook", kinds=["audit"])


def text(response):
    return response.content.decode()


# --- the platform administrator ------------------------------------------------------------

def test_an_administrator_creates_a_destination_through_the_form(admin_client, staff):
    form = admin_client.get(NEW)
    assert form.status_code == 200
    html = text(form)
    assert 'name="webhook__secret"' in html and 'type="password"' in html
    assert 'name="organization"' in html  # a platform manager may scope it

    response = admin_client.post(NEW, form_data())
    destination = Destination.objects.get(name="SIEM hook")
    assert response.status_code == 302 and response["Location"] == page("stream", destination)
    assert destination.type == "webhook" and destination.organization is None
    assert destination.kinds == ["audit", "auth"]
    assert destination.event_patterns == ["auth.*", "*.failure"]
    assert destination.batch_size == 200 and destination.enabled
    assert destination.created_by == staff
    assert secrets.decrypt(destination.credentials) == {"secret": SECRET}
    assert set(destination.cursor) == {"audit", "auth"}  # from now on
    assert AuditEvent.objects.filter(action="destination.created",
                                     resource_id=destination.public_id).exists()

    detail = admin_client.get(response["Location"])
    assert detail.status_code == 200
    assert "Destination SIEM hook created." in text(detail)  # the message after the redirect
    assert "stored, hidden" in text(detail)
    listing = text(admin_client.get(LIST))
    assert "SIEM hook" in listing and 'data-status="running"' in listing
    assert ">Running<" in listing and "Up to date" in listing


def test_a_destination_can_start_from_a_past_time(admin_client):
    old = AuditEventFactory(occurred_at=timezone.now() - timedelta(hours=5))
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(NEW, form_data(kinds=["audit"], event_patterns="",
                                                 start="time", start_at=since))
    assert response.status_code == 302
    destination = Destination.objects.get(name="SIEM hook")
    assert destination.cursor["audit"] < old.pk  # the old row is sent too


def test_a_platform_destination_may_be_scoped_to_an_organization(admin_client):
    acme = OrganizationFactory(name="Acme")
    admin_client.post(NEW, form_data(organization=str(acme.pk)))
    destination = Destination.objects.get(name="SIEM hook")
    assert destination.organization == acme
    assert "Acme" in text(admin_client.get(LIST))


def test_editing_keeps_the_stored_secret_unless_a_new_one_is_typed(admin_client, hook):
    edit = admin_client.get(page("stream-edit", hook))
    assert edit.status_code == 200
    assert "leave empty to keep it" in text(edit)
    response = admin_client.post(page("stream-edit", hook),
                                 form_data(name="Renamed", kinds=["audit"], event_patterns="",
                                           webhook__secret=""))
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.name == "Renamed" and secrets.decrypt(hook.credentials) == {"secret": SECRET}
    admin_client.post(page("stream-edit", hook),
                      form_data(name="Renamed", kinds=["audit"], event_patterns="",
                                webhook__secret="another-secret-of-enough-length"))
    hook.refresh_from_db()
    assert secrets.decrypt(hook.credentials) == {"secret": "another-secret-of-enough-length"}
    assert AuditEvent.objects.filter(action="destination.credentials_changed",
                                     resource_id=hook.public_id).exists()


def test_pause_resume_replay_and_delete(admin_client, hook):
    response = admin_client.post(page("stream-pause", hook))
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.status == "paused"
    detail = text(admin_client.get(page("stream", hook)))
    assert "is paused" in detail and 'data-status="paused"' in detail
    assert "Resume" in detail

    admin_client.post(page("stream-resume", hook))
    hook.refresh_from_db()
    assert hook.status == "running"

    row = AuditEventFactory(occurred_at=timezone.now() - timedelta(hours=1))
    since = (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(page("stream-replay", hook), {"since": since, "cursor": ""})
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.cursor["audit"] < row.pk
    admin_client.post(page("stream-replay", hook), {"since": "", "cursor": "audit:7"})
    hook.refresh_from_db()
    assert hook.cursor == {"audit": 7}
    assert "audit:7" in text(admin_client.get(page("stream", hook)))
    assert AuditEvent.objects.filter(action="destination.replayed",
                                     resource_id=hook.public_id).count() == 2
    assert set(AuditEvent.objects.filter(resource_id=hook.public_id)
               .values_list("action", flat=True)) >= {"destination.paused",
                                                      "destination.resumed"}

    confirm = admin_client.get(page("stream-delete", hook))
    assert confirm.status_code == 200 and "Delete Existing hook?" in text(confirm)
    assert Destination.objects.filter(pk=hook.pk).exists()  # asking deletes nothing
    response = admin_client.post(page("stream-delete", hook))
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Destination.objects.filter(pk=hook.pk).exists()
    assert AuditEvent.objects.filter(action="destination.deleted",
                                     resource_id=hook.public_id).exists()


def test_the_actions_take_only_posts(admin_client, hook):
    for name in ("stream-pause", "stream-resume", "stream-replay"):
        assert admin_client.get(page(name, hook)).status_code == 405
    hook.refresh_from_db()
    assert hook.status == "running"


def test_the_health_page_shows_lag_errors_and_the_streams_events(admin_client, hook):
    # Caught up (its own creation's audit row included), then three rows arrive.
    Destination.objects.filter(pk=hook.pk).update(
        cursor=delivery.head_cursor(delivery.destination_kinds(hook)))
    AuditEventFactory.create_batch(3)
    Destination.objects.filter(pk=hook.pk).update(
        consecutive_failures=2, failed_count=2, last_error="HTTP 503: receiver unavailable",
        last_error_at=timezone.now())
    hook.refresh_from_db()
    delivery.stream_event(hook, "stream.paused", "Destination paused: a test reason",
                          level="error")
    html = text(admin_client.get(page("stream", hook)))
    assert 'data-status="failing"' in html and ">Failing<" in html
    assert "3 events behind" in html and "oldest: under a minute ago" in html
    assert "HTTP 503: receiver unavailable" in html
    assert "Destination paused: a test reason" in html
    assert f"/logs/system/?resource_id={hook.public_id}" in html
    assert f"/logs/audit/?resource_id={hook.public_id}" in html
    listing = text(admin_client.get(LIST))
    assert "3 events behind" in listing and "HTTP 503" in listing


def test_only_loadable_types_are_offered(admin_client):
    html = text(admin_client.get(NEW))
    for value, _label in Destination.Type.choices:
        try:
            loadable = protocol_class(value) is not None
        except ImportError:
            loadable = False
        assert (f'<option value="{value}"' in html) == loadable, value


# --- errors are the form's, never a 500 ------------------------------------------------------

def test_a_bad_endpoint_and_no_kinds_are_shown_on_the_form(admin_client):
    response = admin_client.post(NEW, form_data(endpoint="ftp://siem.example.com",
                                                kinds=None, event_patterns=""))
    assert response.status_code == 400  # as the console's other forms answer an invalid one
    html = text(response)
    assert "Enter an http:// or https:// address." in html
    assert "Choose at least one kind of log." in html
    assert not Destination.objects.exists()


def test_a_pattern_matching_nothing_and_a_missing_secret_are_shown(admin_client):
    response = admin_client.post(NEW, form_data(kinds=["auth"], event_patterns="usage.*"))
    assert response.status_code == 400
    assert "usage.* matches no event of the chosen kinds." in text(response)
    response = admin_client.post(NEW, form_data(webhook__secret=""))
    assert response.status_code == 400
    html = text(response)
    secret_field = html.split('id="fields-webhook"')[1].split("</fieldset>")[0]
    assert "This field is required." in secret_field
    assert not Destination.objects.exists()


def test_a_start_time_is_needed_and_must_be_past(admin_client):
    response = admin_client.post(NEW, form_data(start="time", start_at=""))
    assert response.status_code == 400 and "Give the time to start from." in text(response)
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(NEW, form_data(start="time", start_at=future))
    assert response.status_code == 400 and "Choose a time in the past." in text(response)
    assert not Destination.objects.exists()


@pytest.mark.parametrize("cursor, problem", [
    ("nope:1", "nope:1 is not kind:id for one of this destination&#x27;s kinds"),
    ("audit:x", "audit:x is not kind:id"),
    (",", "Give kind:id for at least one kind."),
])
def test_a_bad_replay_cursor_is_a_form_error(admin_client, hook, cursor, problem):
    before = dict(hook.cursor)
    response = admin_client.post(page("stream-replay", hook), {"since": "", "cursor": cursor})
    assert response.status_code == 400 and problem in text(response)
    hook.refresh_from_db()
    assert hook.cursor == before


def test_a_replay_needs_a_time_or_a_cursor_and_a_past_time(admin_client, hook):
    response = admin_client.post(page("stream-replay", hook), {"since": "", "cursor": ""})
    assert response.status_code == 400 and "Give a time or a cursor" in text(response)
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(page("stream-replay", hook), {"since": future, "cursor": ""})
    assert response.status_code == 400 and "The time is in the future." in text(response)
    response = admin_client.post(page("stream-replay", hook), {"since": "yesterday"})
    assert response.status_code == 400 and "Enter a valid date/time." in text(response)


def test_unknown_parameters_and_types_are_a_400(admin_client, hook):
    assert admin_client.get(LIST + "?status=failing").status_code == 400
    assert admin_client.get(page("stream", hook) + "?x=1").status_code == 400
    response = admin_client.get(NEW + "?type=gopher")
    assert response.status_code == 400 and "gopher" in text(response)
    assert admin_client.get(NEW + "?type=webhook").status_code == 200
    assert admin_client.get(reverse("logcenter:stream", args=["dst_nothere"])).status_code == 404
    response = admin_client.post(NEW, form_data(type="gopher"))
    assert response.status_code == 400 and "Select a valid choice." in text(response)


# --- credentials never on a page --------------------------------------------------------------

def test_the_secret_is_never_in_a_page(admin_client):
    admin_client.post(NEW, form_data())
    destination = Destination.objects.get(name="SIEM hook")
    pages = [LIST, page("stream", destination), page("stream-edit", destination),
             page("stream-delete", destination)]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert SECRET not in text(response), url
    # A form sent back with an error does not echo the typed secret either.
    response = admin_client.post(page("stream-edit", destination),
                                 form_data(endpoint="nonsense", webhook__secret=SECRET))
    assert response.status_code == 400 and SECRET not in text(response)
    response = admin_client.post(NEW, form_data(endpoint="nonsense"))
    assert response.status_code == 400 and SECRET not in text(response)
    assert "Type again: Signing secret" in text(response)  # the page says why it is empty
    # Nor in the audit log.
    for event in AuditEvent.objects.filter(resource_id=destination.public_id):
        assert SECRET not in str(event.changes) + str(event.details)


# --- an organization's admins --------------------------------------------------------------

def test_an_organization_admin_manages_only_their_organizations_destinations(
        client, make_destination):
    admin = org_admin()
    ours = admin.membership.organization
    other = OrganizationFactory(plan="enterprise")
    theirs = make_destination("webhook", "https://other.example.com/in", {"secret": SECRET},
                              name="Their hook", kinds=["audit"], organization=other)
    platform = make_destination("webhook", "https://platform.example.com/in",
                                {"secret": SECRET}, name="Platform hook", kinds=["audit"])
    client.force_login(admin)

    form = client.get(NEW)
    assert form.status_code == 200 and 'name="organization"' not in text(form)
    response = client.post(NEW, form_data(name="Our hook", organization=str(other.pk)))
    assert response.status_code == 302
    mine = Destination.objects.get(name="Our hook")
    assert mine.organization == ours  # the organization is theirs, whatever was sent

    listing = text(client.get(LIST))
    assert "Our hook" in listing
    assert "Their hook" not in listing and "Platform hook" not in listing
    assert 'href="/logs/streams/"' in listing  # the Admin menu's link
    for name in ("stream", "stream-edit", "stream-delete"):
        assert client.get(page(name, theirs)).status_code == 404
        assert client.get(page(name, platform)).status_code == 404
    for name in ("stream-pause", "stream-delete"):
        assert client.post(page(name, theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "running"
    assert client.post(page("stream-pause", mine)).status_code == 302


def test_an_organization_admin_without_streaming_in_the_plan_is_told_why(client):
    admin = org_admin(plan="pro")
    client.force_login(admin)
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert "The Pro plan does not include log streaming" in text(listing)
    assert NEW not in text(listing)
    response = client.get(NEW)
    assert response.status_code == 403
    assert "The Pro plan does not include log streaming" in text(response)
    assert client.post(NEW, form_data()).status_code == 403
    assert not Destination.objects.exists()
    # No destinations and no streaming: no Admin menu entry for it.
    assert 'href="/logs/streams/"' not in text(client.get(reverse("logcenter:list",
                                                                  args=["audit"])))


def test_a_plan_without_streaming_still_shows_the_destinations_read_only(client,
                                                                         make_destination):
    admin = org_admin()
    organization = admin.membership.organization
    kept = make_destination("webhook", "https://ours.example.com/in", {"secret": SECRET},
                            user=admin, name="Our old hook", kinds=["audit"])
    organization.plan = Plan.objects.get(slug="pro")
    organization.save()
    client.force_login(admin)
    listing = text(client.get(LIST))
    assert "Our old hook" in listing and "does not include log streaming" in listing
    detail = client.get(page("stream", kept))
    assert detail.status_code == 200 and "stream-actions" not in text(detail)
    assert client.post(page("stream-pause", kept)).status_code == 403
    assert client.get(page("stream-edit", kept)).status_code == 403
    assert client.post(page("stream-delete", kept)).status_code == 403


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_other_organization_roles_may_not(client, hook, role):
    user = org_admin(role=role)
    client.force_login(user)
    for url in (LIST, NEW, page("stream", hook)):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Your role may not manage log streams." in text(response)


def test_a_plain_member_gets_403(client, member, hook):
    client.force_login(member)
    for url in (LIST, NEW, page("stream", hook), page("stream-edit", hook)):
        assert client.get(url).status_code == 403, url
    assert client.post(page("stream-pause", hook)).status_code == 403
    assert client.post(NEW, form_data()).status_code == 403
    hook.refresh_from_db()
    assert hook.status == "running"
    assert 'href="/logs/streams/"' not in text(client.get("/accounts/profile/"))


def test_the_admin_menu_links_the_page_for_administrators(admin_client):
    html = text(admin_client.get(reverse("logcenter:list", args=["audit"])))
    menu = html.split('id="admin-menu"')[1].split("</details>")[0]
    assert 'href="/logs/streams/"' in menu and "Log streams" in menu


def test_signed_out_visitors_are_sent_to_sign_in(client, hook):
    for url in (LIST, NEW, page("stream", hook)):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_administrator_sees_every_destination(client, make_destination):
    organization = OrganizationFactory(plan="enterprise")
    scoped = make_destination("webhook", "https://a.example.com/in", {"secret": SECRET},
                              name="Scoped hook", kinds=["audit"], organization=organization)
    other_staff = StaffFactory(username="second-admin")
    client.force_login(other_staff)
    html = text(client.get(LIST))
    assert "Scoped hook" in html and organization.name in html
    assert client.get(page("stream", scoped)).status_code == 200
