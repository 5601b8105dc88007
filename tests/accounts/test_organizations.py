"""Managing organizations and plans: the services (permission-checked, audited, validated)
and the pages (Organizations and Plans for platform administrators, My organization for an
organization's owner, admin and auditor), with their menu entries."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import organizations
from accounts.models import ApiKey, Membership, Organization, Plan, Project
from logcenter.models import AuditEvent
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return StaffFactory(username="platform-admin")


@pytest.fixture
def acme(admin_user):
    return organizations.organization_create(actor=admin_user, name="Acme Robotics",
                                             plan=Plan.objects.get(slug="pro"))


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- services ---------------------------------------------------------------------------------

def test_creating_an_organization_makes_its_default_project_and_is_audited(admin_user, acme):
    assert acme.slug == "acme-robotics" and acme.public_id.startswith("org_")
    project = acme.default_project
    assert project is not None and project.public_id.startswith("proj_")
    [created] = events("organization.created")
    assert (created.actor_name, created.resource_id, created.resource_name) == (
        "platform-admin", acme.public_id, "Acme Robotics")
    assert created.changes["plan"] == {"before": None, "after": "Pro"}
    [made] = events("project.created")
    assert made.resource_id == project.public_id
    assert made.details["organization"] == acme.public_id


def test_a_taken_or_empty_name_is_a_field_error(admin_user, acme):
    with pytest.raises(ValidationError) as taken:
        organizations.organization_create(actor=admin_user, name="Acme Robotics",
                                          plan=acme.plan)
    assert "slug" in taken.value.message_dict
    with pytest.raises(ValidationError) as empty:
        organizations.organization_create(actor=admin_user, name="  ", plan=acme.plan)
    assert "name" in empty.value.message_dict
    assert Organization.objects.count() == 1


@pytest.mark.parametrize("role", ["Auditor", "Support", "Finance", "Member"])
def test_only_administrators_manage_organizations_and_plans(acme, role):
    someone = StaffFactory(username=f"not-admin-{role}", roles=[role])
    free = Plan.objects.get(slug="free")
    person = MemberFactory(username=f"x-{role}")
    before = AuditEvent.objects.count()
    for write in (
        lambda: organizations.organization_create(actor=someone, name="Sneaky", plan=free),
        lambda: organizations.organization_plan_set(actor=someone, organization=acme,
                                                    plan=free),
        lambda: organizations.organization_legal_hold_set(actor=someone, organization=acme,
                                                          legal_hold=True),
        lambda: organizations.membership_set(actor=someone, organization=acme,
                                             user=person, role="admin"),
        lambda: organizations.plan_update(actor=someone, plan=free, retention_days={},
                                          export_formats=["csv"], streaming_allowed=True),
    ):
        with pytest.raises(PermissionDenied):
            write()
    acme.refresh_from_db()
    assert acme.plan.slug == "pro" and not acme.legal_hold
    assert AuditEvent.objects.count() == before


def test_plan_and_legal_hold_changes_are_audited_with_before_and_after(admin_user, acme):
    enterprise = Plan.objects.get(slug="enterprise")
    organizations.organization_plan_set(actor=admin_user, organization=acme, plan=enterprise)
    organizations.organization_plan_set(actor=admin_user, organization=acme, plan=enterprise)
    organizations.organization_legal_hold_set(actor=admin_user, organization=acme,
                                              legal_hold=True)
    [plan_changed] = events("organization.plan_changed")  # the repeat changed nothing
    assert plan_changed.changes == {"plan": {"before": "Pro", "after": "Enterprise"}}
    [hold] = events("organization.legal_hold_changed")
    assert hold.changes == {"legal_hold": {"before": False, "after": True}}
    assert hold.actor_name == "platform-admin" and hold.resource_id == acme.public_id
    acme.refresh_from_db()
    assert acme.plan == enterprise and acme.legal_hold


def test_members_are_added_given_a_role_and_removed_audited(admin_user, acme):
    person = MemberFactory(username="wile")
    membership = organizations.membership_set(actor=admin_user, organization=acme,
                                              user=person, role="auditor")
    organizations.membership_set(actor=admin_user, organization=acme, user=person,
                                 role="admin")
    organizations.membership_remove(actor=admin_user, membership=membership)
    added, = events("organization.member_added")
    changed, = events("organization.member_role_changed")
    removed, = events("organization.member_removed")
    assert added.changes["role"] == {"before": None, "after": "auditor"}
    assert changed.changes == {"role": {"before": "auditor", "after": "admin"}}
    assert removed.changes["organization"] == {"before": "Acme Robotics", "after": None}
    assert {e.details["organization"] for e in (added, changed, removed)} == {acme.public_id}
    assert {e.resource_name for e in (added, changed, removed)} == {"wile"}
    assert not Membership.objects.filter(user=person).exists()


def test_a_member_belongs_to_one_organization_and_staff_to_none(admin_user, acme):
    other = organizations.organization_create(actor=admin_user, name="Globex",
                                              plan=Plan.objects.get(slug="free"))
    person = MemberFactory(username="roadrunner")
    organizations.membership_set(actor=admin_user, organization=acme, user=person,
                                 role="member")
    with pytest.raises(ValidationError) as elsewhere:
        organizations.membership_set(actor=admin_user, organization=other, user=person,
                                     role="member")
    assert "already belongs to Acme Robotics" in elsewhere.value.message_dict["user"][0]
    with pytest.raises(ValidationError) as staff:
        organizations.membership_set(actor=admin_user, organization=other,
                                     user=StaffFactory(username="fin", roles=["Finance"]),
                                     role="auditor")
    assert "platform staff" in staff.value.message_dict["user"][0]
    with pytest.raises(ValidationError) as role:
        organizations.membership_set(actor=admin_user, organization=acme, user=person,
                                     role="emperor")
    assert "role" in role.value.message_dict


def test_a_plan_edit_is_validated_and_audited(admin_user):
    pro = Plan.objects.get(slug="pro")
    bad = [
        ({"audit": 0}, ["csv"], "retention_days"),
        ({"audit": 10.5}, ["csv"], "retention_days"),
        ({"audit": True}, ["csv"], "retention_days"),
        ({"audit": 10**6}, ["csv"], "retention_days"),
        ({"billing": 30}, ["csv"], "retention_days"),  # no such kind
        ({"audit": 30}, ["xml"], "export_formats"),
        ({"audit": 30}, "csv", "export_formats"),
    ]
    for days, formats, field in bad:
        with pytest.raises(ValidationError) as error:
            organizations.plan_update(actor=admin_user, plan=pro, retention_days=days,
                                      export_formats=formats, streaming_allowed=False)
        assert list(error.value.message_dict) == [field], (days, formats)
    pro.refresh_from_db()
    assert pro.retention_for("audit") == 90 and not events("plan.updated")

    organizations.plan_update(actor=admin_user, plan=pro,
                              retention_days={"audit": 120, "usage": None},
                              export_formats=["json", "csv", "ndjson"], streaming_allowed=True)
    pro.refresh_from_db()
    assert pro.retention_for("audit") == 120 and pro.retention_for("usage") is None
    assert pro.export_formats == ["csv", "json", "ndjson"] and pro.streaming_allowed
    [updated] = events("plan.updated")
    assert updated.resource_id == "pro" and updated.actor_name == "platform-admin"
    assert updated.changes["streaming_allowed"] == {"before": False, "after": True}
    assert updated.changes["retention_days"]["after"]["audit"] == 120


# --- pages ------------------------------------------------------------------------------------

def test_administrators_see_every_organization_and_create_one(client, admin_user, acme):
    key_owner = MemberFactory(username="coyote")
    organizations.membership_set(actor=admin_user, organization=acme, user=key_owner,
                                 role="owner")
    ApiKey.generate(owner=key_owner, name="prod-backend", scopes=["read"],
                    project=acme.default_project)
    client.force_login(admin_user)
    home = client.get("/accounts/organizations/")
    html = home.content.decode()
    assert home.status_code == 200
    assert "Acme Robotics" in html and acme.public_id in html and ">Pro<" in html
    assert "90 days" in html  # Pro keeps audit 90 days
    assert 'href="/accounts/organizations/"' in html and 'href="/accounts/plans/"' in html

    refused = client.post("/accounts/organizations/", {"name": "", "plan": "999"})
    assert refused.status_code == 400
    assert refused.context["form"].errors.keys() == {"name", "plan"}
    made = client.post("/accounts/organizations/", {
        "name": "Initech", "slug": "", "plan": Plan.objects.get(slug="free").pk})
    initech = Organization.objects.get(slug="initech")
    assert made.status_code == 302 and made["Location"] == f"/accounts/organizations/{initech.public_id}/"
    assert events("organization.created")[-1].details["via"] == "console"

    page = client.get(f"/accounts/organizations/{acme.public_id}/").content.decode()
    assert "coyote" in page and "prod-backend" in page and "Owner" in page
    assert 'name="action" value="settings"' in page


def test_the_organization_page_changes_plan_hold_and_members(client, admin_user, acme):
    client.force_login(admin_user)
    url = f"/accounts/organizations/{acme.public_id}/"
    business = Plan.objects.get(slug="business")
    response = client.post(url, {"action": "settings", "plan": business.pk, "legal_hold": "on"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.plan == business and acme.legal_hold
    assert events("organization.plan_changed") and events("organization.legal_hold_changed")

    bad = client.post(url, {"action": "settings", "plan": "nope"})
    assert bad.status_code == 400 and "plan" in bad.context["settings_form"].errors

    person = MemberFactory(username="elmer", email="elmer@acme.example.com")
    assert client.post(url, {"action": "member", "user": "ELMER@acme.example.com",
                             "role": "auditor"}).status_code == 302
    assert Membership.objects.get(user=person).role == "auditor"
    unknown = client.post(url, {"action": "member", "user": "nobody", "role": "auditor"})
    assert unknown.status_code == 400 and "user" in unknown.context["member_form"].errors
    staff = client.post(url, {"action": "member", "user": admin_user.username, "role": "admin"})
    assert staff.status_code == 400
    assert "platform staff" in str(staff.context["member_form"].errors["user"])
    assert client.post(url, {"action": "remove", "user_id": "x"}).status_code == 404
    assert client.post(url, {"action": "remove", "user_id": person.pk}).status_code == 302
    assert not Membership.objects.filter(user=person).exists()
    assert client.get("/accounts/organizations/org_nope/").status_code == 404


def test_the_plans_page_edits_a_plan_with_field_errors(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/accounts/plans/").content.decode()
    assert "Enterprise" in page and 'name="free-days_audit"' in page
    bad = client.post("/accounts/plans/", {"plan": "free", "free-days_audit": "0",
                                           "free-export_formats": ["xml"]})
    assert bad.status_code == 400
    form = next(f for f in bad.context["forms"] if f.plan.slug == "free")
    assert set(form.errors) == {"days_audit", "export_formats"}
    assert client.post("/accounts/plans/", {"plan": "nope"}).status_code == 404
    saved = client.post("/accounts/plans/", {
        "plan": "free", "free-days_audit": "14", "free-days_usage": "",
        "free-days_auth": "7", "free-days_system": "7", "free-export_formats": ["csv"]})
    assert saved.status_code == 302
    free = Plan.objects.get(slug="free")
    assert free.retention_for("audit") == 14 and free.retention_for("usage") is None
    assert free.export_formats == ["csv"]
    assert events("plan.updated")[0].details["via"] == "console"


@pytest.mark.parametrize("role", ["owner", "admin", "auditor"])
def test_an_organization_reader_sees_my_organization_read_only(client, admin_user, acme, role):
    person = MemberFactory(username=f"acme-{role}")
    colleague = MemberFactory(username="acme-colleague")
    for user, their_role in ((person, role), (colleague, "member")):
        organizations.membership_set(actor=admin_user, organization=acme, user=user,
                                     role=their_role)
    Project.objects.create(organization=acme, name="Production", slug="production")
    client.force_login(person)
    home = client.get("/logs/audit/").content.decode()
    assert 'href="/accounts/organization/"' in home
    assert 'href="/accounts/organizations/"' not in home and 'href="/accounts/plans/"' not in home
    page = client.get("/accounts/organization/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "acme-colleague" in html and "Production" in html and "Pro" in html
    assert "<code>csv</code>" in html and "90 days" in html
    assert "<form method=\"post\" class=\"stacked\"" not in html  # read-only
    for url in ("/accounts/organizations/", f"/accounts/organizations/{acme.public_id}/",
                "/accounts/plans/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/accounts/organizations/{acme.public_id}/", {
        "action": "settings", "plan": Plan.objects.get(slug="enterprise").pk}).status_code == 403


def test_my_organization_is_refused_to_members_and_staff(client, admin_user, acme):
    member = MemberFactory(username="acme-plain")
    organizations.membership_set(actor=admin_user, organization=acme, user=member,
                                 role="member")
    for user in (member, MemberFactory(username="no-org"), admin_user):
        client.force_login(user)
        assert client.get("/accounts/organization/").status_code == 403
        assert 'href="/accounts/organization/"' not in client.get("/accounts/profile/").content.decode()


# --- the staff's organization switcher on the lists --------------------------------------------

def test_staff_pick_an_organization_by_name_on_every_list(client, admin_user, acme):
    from logcenter.core.registry import registry
    from tests.factories import FACTORIES

    globex = organizations.organization_create(actor=admin_user, name="Globex",
                                               plan=Plan.objects.get(slug="free"))
    for kind in registry:
        FACTORIES[kind.slug](organization_id=acme.public_id, actor_name="acme-row")
        FACTORIES[kind.slug](organization_id=globex.public_id, actor_name="globex-row")
    client.force_login(admin_user)
    for kind in registry:
        page = client.get(f"/logs/{kind.slug}/").content.decode()
        switcher = page.split('name="organization_id"', 1)[1].split("</select>", 1)[0]
        assert "requestSubmit" in switcher  # picking one applies it
        assert f'<option value="{acme.public_id}">Acme Robotics</option>' in switcher
        assert page.index('name="organization_id"') < page.index("More filters")  # in the bar
        chosen = client.get(f"/logs/{kind.slug}/", {"organization_id": acme.public_id,
                                                   "range": "all"})
        assert chosen.status_code == 200
        [chip] = [c for c in chosen.context["chips"] if c["name"] == "organization_id"]
        assert (str(chip["label"]), chip["value"]) == ("Organization", "Acme Robotics")
        rows = [row.organization_id for row in chosen.context["page"].rows]
        assert rows and set(rows) == {acme.public_id}, kind.slug


def test_organization_users_and_staff_without_organizations_get_no_switcher(client, admin_user,
                                                                            acme):
    reader = MemberFactory(username="acme-reader")
    organizations.membership_set(actor=admin_user, organization=acme, user=reader,
                                 role="auditor")
    client.force_login(reader)
    assert 'name="organization_id"' not in client.get("/logs/usage/").content.decode()
    Organization.objects.all().delete()
    client.force_login(admin_user)
    assert 'name="organization_id"' not in client.get("/logs/usage/").content.decode()


def test_hostile_values_are_field_errors_never_a_500(client, admin_user, acme):
    client.force_login(admin_user)
    free = Plan.objects.get(slug="free").pk
    for data in ({"name": "a\x00b", "plan": free}, {"name": "x" * 151, "plan": free},
                 {"name": "Fine", "slug": "not a slug!", "plan": free},
                 {"name": "Fine", "slug": "s" * 65, "plan": free}):
        assert client.post("/accounts/organizations/", data).status_code == 400, data
    url = f"/accounts/organizations/{acme.public_id}/"
    for data in ({"action": "member", "user": "\x00", "role": "admin"},
                 {"action": "member", "user": "u" * 151, "role": "admin"},
                 {"action": "member", "user": "wile", "role": "emperor"},
                 {"action": "settings", "plan": "1e309"}, {"action": "bogus"}):
        assert client.post(url, data).status_code == 400, data
    for days in ("abc", "1e309", "-1", str(10**6), "9" * 40):
        response = client.post("/accounts/plans/", {"plan": "pro", "pro-days_audit": days})
        assert response.status_code == 400, days
    assert Organization.objects.count() == 1 and Plan.objects.get(slug="pro").retention_for(
        "audit") == 90
