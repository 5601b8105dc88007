"""Who sees what: every role × every registered kind × page / API / export × list / detail.

The rows derive from the registry (each kind's grants, through accounts.roles); the policy
of the first four kinds is written out below as well, so a change to it is seen.

"""

import json
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from accounts.roles import role_permissions
from logcenter.core.registry import registry
from tests.factories import FACTORIES, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

SECRET_IP = "198.51.100.77"
SECRET_UA = "HostileAgent/9.9"


@dataclass(frozen=True)
class Expect:
    rows: str  # "none" (403), "own" or "all"
    plain: bool = False  # sensitive fields unmasked
    cost: bool = False  # cost fields present (usage)


NONE = Expect("none")


def expect(permissions, kind):
    """What a role holding `permissions` (accounts.roles) should see of `kind`."""
    def held(action):
        return kind.perm(action) in permissions

    if not held("view"):
        return NONE
    own_only = not held("view_all")
    # A member sees their own rows' IP and user agent (kind.owner_visible_fields).
    plain = held("view_sensitive") or (
        own_only and {"ip", "user_agent"} <= set(kind.owner_visible_fields))
    return Expect("own" if own_only else "all", plain,
                  bool(kind.cost_fields) and held("view_cost"))


# Derived: every role × every registered kind, from the roles the registry's grants make.
MATRIX = {role: {kind.slug: expect(permissions, kind) for kind in registry}
          for role, permissions in role_permissions().items()}
# The policy for the first four kinds, written out: a change to their grants fails here.
POLICY = {
    "Administrator": {"audit": Expect("all", True), "usage": Expect("all", True, True),
                      "auth": Expect("all", True), "system": Expect("all", True)},
    "Auditor": {"audit": Expect("all", True), "usage": NONE,
                "auth": Expect("all", True), "system": Expect("all", True)},
    "Support": {"audit": NONE, "usage": Expect("all", False, False),
                "auth": Expect("all", True), "system": Expect("all", True)},
    "Finance": {"audit": NONE, "usage": Expect("all", False, True),
                "auth": NONE, "system": NONE},
    "Member": {"audit": NONE, "usage": Expect("own", True, True),
               "auth": Expect("own", True), "system": NONE},
}
CASES = [(role, slug) for role in MATRIX for slug in MATRIX[role]]


@pytest.fixture
def world(db):
    """Per kind: a row of the signed-in user and a row of someone else."""
    users = {role: (MemberFactory if role == "Member" else StaffFactory)(
        username=f"matrix-{role.lower()}", roles=[role]) for role in MATRIX}
    rows = {}
    for kind in registry:
        owner_value = lambda user: {kind.owner_field: str(user.pk)}  # noqa: E731
        rows[kind.slug] = {
            role: FACTORIES[kind.slug](ip=SECRET_IP, user_agent=SECRET_UA, **owner_value(user))
            for role, user in users.items()
        }
    return users, rows


def expected_ids(expect, rows, role):
    if expect.rows == "all":
        return {str(r.event_id) for r in rows.values()}
    if expect.rows == "own":
        return {str(rows[role].event_id)}
    return set()


@pytest.mark.parametrize("role, slug", CASES)
def test_page(client, world, role, slug):
    users, rows = world
    expect, kind = MATRIX[role][slug], registry[slug]
    client.force_login(users[role])
    response = client.get(f"/logs/{slug}/")
    if expect.rows == "none":
        assert response.status_code == 403
        assert client.get(rows[slug][role].get_absolute_url()).status_code == 403
        nav = client.get("/logs/usage/" if role != "Auditor" else "/logs/audit/")
        assert f'href="/logs/{slug}/"' not in nav.content.decode()  # tab not shown
        return
    html = response.content.decode()
    assert response.status_code == 200
    # Only the fixture's rows count: creating the users wrote audit events of their own.
    shown = {str(r.event_id) for r in rows[slug].values() if str(r.event_id) in html}
    assert shown == expected_ids(expect, rows[slug], role)
    assert (SECRET_IP in html) == (expect.plain and "ip" in kind.table.base_columns)
    if slug == "usage":
        assert ("Cost (USD)" in html) == expect.cost
        panels = client.get(f"/logs/{slug}/panels/").content.decode()
        assert ("Total cost" in panels) == expect.cost
        assert ("Cost per" in panels) == expect.cost  # otherwise the chart shows requests

    for other_role, row in rows[slug].items():
        detail = client.get(row.get_absolute_url())
        if str(row.event_id) in expected_ids(expect, rows[slug], role):
            body = detail.content.decode()
            assert detail.status_code == 200
            assert (SECRET_IP in body) == expect.plain
            assert (SECRET_UA in body) == expect.plain
            if slug == "usage":
                assert ("Cost (usd)" in body or "&quot;cost&quot;" in body) == expect.cost
        else:
            assert detail.status_code == 404  # never reveals that the row exists


@pytest.mark.parametrize("role, slug", CASES)
def test_api(world, role, slug):
    users, rows = world
    expect, kind = MATRIX[role][slug], registry[slug]
    api = APIClient()
    api.force_authenticate(users[role])
    response = api.get(f"/api/v1/{kind.api_name}/?range=all")
    if expect.rows == "none":
        assert response.status_code == 403
        detail = api.get(f"/api/v1/{kind.api_name}/{rows[slug][role].event_id}/")
        assert detail.status_code == 403
        return
    assert response.status_code == 200
    fixture_ids = {str(r.event_id) for r in rows[slug].values()}
    results = [r for r in response.json()["results"] if r["event_id"] in fixture_ids]
    assert {r["event_id"] for r in results} == expected_ids(expect, rows[slug], role)
    for item in results:
        assert (item["ip"] == SECRET_IP) == expect.plain
        assert (item["user_agent"] == SECRET_UA) == expect.plain
        if not expect.plain:
            assert item["ip"] == "[masked]"
        if slug == "usage":
            assert ("cost" in item) == expect.cost

    for row in rows[slug].values():
        detail = api.get(f"/api/v1/{kind.api_name}/{row.event_id}/")
        if str(row.event_id) in expected_ids(expect, rows[slug], role):
            assert detail.status_code == 200
            assert (detail.json()["ip"] == SECRET_IP) == expect.plain
        else:
            assert detail.status_code == 404


def test_restricted_fields_cannot_be_filtered_or_sorted(world):
    users, _ = world
    api = APIClient()
    api.force_authenticate(users["Support"])
    assert api.get("/api/v1/usage-records/?cost_min=1").status_code == 400
    sorted_by_cost = api.get("/api/v1/usage-records/?ordering=-cost")
    assert sorted_by_cost.status_code == 400
    assert "Your role may not sort by this field." in json.dumps(sorted_by_cost.json())
    assert api.get(f"/api/v1/usage-records/?ip={SECRET_IP}").status_code == 400
    # q does not search masked fields either
    assert api.get("/api/v1/auth-events/?q=HostileAgent").json()["results"] != []
    # A member's own user agent is theirs to search: their own row only.
    api.force_authenticate(users["Member"])
    found = api.get("/api/v1/auth-events/?q=HostileAgent&range=all").json()["results"]
    assert [r["user_id"] for r in found] == [str(users["Member"].pk)]


def test_member_filtering_for_someone_else_gets_nothing(world):
    users, rows = world
    api = APIClient()
    api.force_authenticate(users["Member"])
    other = rows["usage"]["Finance"]
    response = api.get(f"/api/v1/usage-records/?user_id={other.user_id}&range=all")
    assert response.status_code == 200 and response.json()["results"] == []


EXPORTERS = {role: {kind.slug for kind in registry if kind.perm("export") in permissions}
             for role, permissions in role_permissions().items()}
EXPORT_POLICY = {"Administrator": {"audit", "usage", "auth", "system"},
                 "Auditor": {"audit", "auth", "system"}, "Support": set(),
                 "Finance": {"usage"}, "Member": {"usage", "auth"}}


def test_the_first_four_kinds_keep_their_policy():
    """The derived matrix says for audit, usage, auth and system what the policy says."""
    four = set(POLICY["Administrator"])
    assert {role: {slug: e for slug, e in row.items() if slug in four}
            for role, row in MATRIX.items()} == POLICY
    assert {role: slugs & four for role, slugs in EXPORTERS.items()} == EXPORT_POLICY


def exported_rows(user, slug, rows):
    """The CSV rows (every column) of `user`'s export of `slug`, those of the fixture's `rows`."""
    import csv
    import io

    from logcenter.exports import jobs as exports

    job = exports.export_create(user=user, kind_slug=slug, fmt="csv", params={"range": "all"},
                                columns="all")
    job.refresh_from_db()
    text = (exports.export_dir() / job.file_name).read_text(encoding="utf-8-sig")
    fixture_ids = {str(r.event_id) for r in rows.values()}
    return [r for r in csv.DictReader(io.StringIO(text)) if r["event_id"] in fixture_ids]


@pytest.mark.parametrize("role, slug", CASES)
def test_export(world, role, slug, settings, tmp_path):
    """The export face: same rows and the same masking as the list, or no export at all."""
    from django.core.exceptions import PermissionDenied

    from logcenter.exports import jobs as exports

    settings.MEDIA_ROOT = tmp_path
    users, rows = world
    expect = MATRIX[role][slug]
    if slug not in EXPORTERS[role]:
        with pytest.raises(PermissionDenied):
            exports.export_create(user=users[role], kind_slug=slug, fmt="csv", params={})
        return
    exported = exported_rows(users[role], slug, rows[slug])
    assert {r["event_id"] for r in exported} == expected_ids(expect, rows[slug], role)
    for row in exported:
        assert (row["ip"] == SECRET_IP) == expect.plain
        assert (row["user_agent"] == SECRET_UA) == expect.plain
        if slug == "usage":
            assert ("cost" in row) == expect.cost


# --- the organization dimension -------------------------------------------------------------
# A customer's users (accounts.Membership) hold the Member console role and an organization
# role. Owner, admin and auditor (audit.read) see every row of their organization, of every
# kind, unmasked and with cost; a member sees their own rows of the kinds the Member role
# opens. None of them sees another organization's rows or the platform's (a 404, as a row
# that does not exist); platform staff see them all.

ORGANIZATION_ROLES = ("owner", "admin", "auditor", "member")


def organization_expect(role, kind):
    if role != "member":
        return Expect("organization", True, bool(kind.cost_fields))
    return MATRIX["Member"][kind.slug]


ORGANIZATION_MATRIX = {role: {kind.slug: organization_expect(role, kind) for kind in registry}
                       for role in ORGANIZATION_ROLES}
ORGANIZATION_READER = {"audit": Expect("organization", True),
                       "usage": Expect("organization", True, True),
                       "auth": Expect("organization", True),
                       "system": Expect("organization", True)}
ORGANIZATION_POLICY = {"owner": ORGANIZATION_READER, "admin": ORGANIZATION_READER,
                       "auditor": ORGANIZATION_READER,
                       "member": {"audit": NONE, "usage": Expect("own", True, True),
                                  "auth": Expect("own", True), "system": NONE}}
ORGANIZATION_CASES = [(role, slug) for role in ORGANIZATION_MATRIX
                      for slug in ORGANIZATION_MATRIX[role]]


def test_organization_roles_keep_their_policy():
    four = set(POLICY["Administrator"])
    assert {role: {slug: e for slug, e in row.items() if slug in four}
            for role, row in ORGANIZATION_MATRIX.items()} == ORGANIZATION_POLICY


@pytest.fixture
def tenants(db):
    """Organization A (Pro) with a user per organization role, organization B (Pro) with an
    admin, and platform staff; per kind a row of each of them, B's and the staff's rows
    carrying the same secret IP (so that a leak shows)."""
    from tests.factories import MembershipFactory, OrganizationFactory

    first, second = OrganizationFactory(slug="org-a"), OrganizationFactory(slug="org-b")
    users = {role: MembershipFactory(organization=first, role=role,
                                     user__username=f"org-a-{role}").user
             for role in ORGANIZATION_ROLES}
    outsiders = {"org-b": MembershipFactory(organization=second, role="admin",
                                            user__username="org-b-admin").user,
                 "staff": StaffFactory(username="platform-admin")}
    rows = {}
    for kind in registry:
        made = {role: FACTORIES[kind.slug](ip=SECRET_IP, user_agent=SECRET_UA,
                                           organization_id=first.public_id,
                                           **{kind.owner_field: str(user.pk)})
                for role, user in users.items()}
        made["org-b"] = FACTORIES[kind.slug](ip=SECRET_IP, organization_id=second.public_id,
                                             **{kind.owner_field: str(outsiders["org-b"].pk)})
        made["staff"] = FACTORIES[kind.slug](ip=SECRET_IP,
                                             **{kind.owner_field: str(outsiders["staff"].pk)})
        rows[kind.slug] = made
    return users, outsiders, rows


def organization_ids(expect, rows, role):
    if expect.rows == "organization":
        return {str(rows[r].event_id) for r in ORGANIZATION_ROLES}
    return expected_ids(expect, rows, role)


@pytest.mark.parametrize("role, slug", ORGANIZATION_CASES)
def test_organization_page_and_api(client, tenants, role, slug):
    users, _, rows = tenants
    expect, kind = ORGANIZATION_MATRIX[role][slug], registry[slug]
    client.force_login(users[role])
    api = APIClient()
    api.force_authenticate(users[role])
    page, listed = client.get(f"/logs/{slug}/"), api.get(f"/api/v1/{kind.api_name}/?range=all")
    if expect.rows == "none":
        assert page.status_code == listed.status_code == 403
        assert client.get(rows[slug][role].get_absolute_url()).status_code == 403
        return
    wanted = organization_ids(expect, rows[slug], role)
    html = page.content.decode()
    assert page.status_code == listed.status_code == 200
    assert {str(r.event_id) for r in rows[slug].values() if str(r.event_id) in html} == wanted
    fixture_ids = {str(r.event_id) for r in rows[slug].values()}
    results = [r for r in listed.json()["results"] if r["event_id"] in fixture_ids]
    assert {r["event_id"] for r in results} == wanted
    for item in results:
        assert (item["ip"] == SECRET_IP) == expect.plain
        assert item["organization_id"] == users[role].membership.organization.public_id
        if slug == "usage":
            assert ("cost" in item) == expect.cost
    for row in rows[slug].values():
        detail = client.get(row.get_absolute_url())
        api_detail = api.get(f"/api/v1/{kind.api_name}/{row.event_id}/")
        if str(row.event_id) in wanted:
            assert detail.status_code == api_detail.status_code == 200
            assert row.organization_id in detail.content.decode()  # the Organization section
            assert api_detail.json()["organization_id"] == row.organization_id
        else:  # another organization's row, or the platform's: as if it did not exist
            assert detail.status_code == api_detail.status_code == 404


@pytest.mark.parametrize("role, slug", ORGANIZATION_CASES)
def test_organization_export(tenants, role, slug, settings, tmp_path):
    """Owner, admin and auditor (audit.export) export their organization's rows on a plan
    with exports; a member exports nothing, not even their own rows."""
    from django.core.exceptions import PermissionDenied

    from logcenter.exports import jobs as exports

    settings.MEDIA_ROOT = tmp_path
    users, _, rows = tenants
    expect = ORGANIZATION_MATRIX[role][slug]
    if role == "member":
        with pytest.raises(PermissionDenied):
            exports.export_create(user=users[role], kind_slug=slug, fmt="csv", params={})
        return
    exported = exported_rows(users[role], slug, rows[slug])
    assert {r["event_id"] for r in exported} == organization_ids(expect, rows[slug], role)
    assert {r["ip"] for r in exported} == {SECRET_IP}


@pytest.mark.parametrize("slug", [kind.slug for kind in registry])
def test_staff_see_every_organization_and_filter_by_one(tenants, slug):
    users, outsiders, rows = tenants
    kind = registry[slug]
    api = APIClient()
    api.force_authenticate(outsiders["staff"])
    fixture_ids = {str(r.event_id) for r in rows[slug].values()}
    listed = api.get(f"/api/v1/{kind.api_name}/?range=all").json()["results"]
    assert {r["event_id"] for r in listed} >= fixture_ids
    second = outsiders["org-b"].membership.organization.public_id
    only_b = api.get(f"/api/v1/{kind.api_name}/?range=all&organization_id={second}")
    assert {r["event_id"] for r in only_b.json()["results"]} == {
        str(rows[slug]["org-b"].event_id)}
    # An organization's user filtering by another organization gets nothing, not more.
    if ORGANIZATION_MATRIX["admin"][slug].rows != "none":
        api.force_authenticate(users["admin"])
        other = api.get(f"/api/v1/{kind.api_name}/?range=all&organization_id={second}")
        assert other.status_code == 200 and other.json()["results"] == []
