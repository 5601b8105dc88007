"""The demo's customers: one organization per company of the demo users, on different
plans, each with its default project and one or two more; the users in them with roles
spread over owner, admin, auditor and member; their API keys in the projects; and an
organization admin to sign in as (`acme-admin`). Platform staff belong to none.

Created once and found on later runs (by slug; the public ids are fixed, `org_<slug>` as the
demo's audit history names them). Draws nothing from the demo's random stream, so the
rows come out as before, now carrying their organization and project.
"""

from django.contrib.auth.hashers import make_password

from accounts.models import ApiKey, Membership, Organization, OrganizationRole, Plan, Project, User
from accounts.organizations import default_project_create

from demo.common import COMPANIES, DEMO_LOGINS, KEY_TEMPLATES, assign_roles

# company slug -> (plan slug, projects beside the default): at least one of each plan.
ORGANIZATIONS = {
    "acme": ("enterprise", ("Production", "Staging")),
    "globex": ("pro", ("Production", "Staging")),
    "initech": ("free", ("Production",)),
    "umbrella": ("business", ("Production", "Staging")),
    "hooli": ("basic", ("Production",)),
    "stark": ("pro", ("Production", "Staging")),
    "wayne": ("free", ("Production",)),
    "tyrell": ("business", ("Production", "Research")),
}
# The organization roles of each organization's people, in username order; the rest are
# members.
FIRST_ROLES = (OrganizationRole.OWNER, OrganizationRole.ADMIN, OrganizationRole.AUDITOR)
# Demo logins that belong to an organization: (username, company, role).
ORGANIZATION_LOGINS = (("member", "acme", OrganizationRole.MEMBER),
                       ("acme-admin", "acme", OrganizationRole.ADMIN))
KEY_ENVS = {name: env for name, _app, env, _mix in KEY_TEMPLATES}


def _project_slug(name):
    return name.lower()


def ensure_organizations(people, now):
    """Create (or find) the organizations, their projects, the memberships and the
    organization admin's login; put each customer's keys in a project and fill
    `organization_id` on `people`. Returns the number of organizations created."""
    plans = {plan.slug: plan for plan in Plan.objects.all()}
    created = 0
    organizations, projects = {}, {}
    for slug, name in COMPANIES:
        plan_slug, extra = ORGANIZATIONS[slug]
        organization, made = Organization.objects.get_or_create(
            slug=slug, defaults={"name": name, "plan": plans[plan_slug],
                                 "public_id": f"org_{slug}", "created_at": now})
        created += made
        if not organization.projects.filter(is_default=True).exists():
            default_project_create(organization)
        for project_name in extra:
            Project.objects.get_or_create(
                organization=organization, slug=_project_slug(project_name),
                defaults={"name": project_name,
                          "public_id": f"proj_{slug}_{_project_slug(project_name)}"})
        organizations[slug] = organization
        projects[slug] = {p.slug: p for p in organization.projects.all()}

    _ensure_organization_logins(organizations, now)
    members = dict(Membership.objects.values_list("user_id", "organization__slug"))
    login_companies = {username: company for username, company, _role in ORGANIZATION_LOGINS}
    roles = {username: role for username, _company, role in ORGANIZATION_LOGINS}
    by_company = {}
    for person in people:
        company = login_companies.get(person.user.username, person.company)
        if not person.user.is_staff and company in organizations:
            by_company.setdefault(company, []).append(person)
    for company, members_of in by_company.items():
        first = iter(FIRST_ROLES)
        for person in sorted(members_of, key=lambda p: p.user.username):
            role = roles.get(person.user.username) or next(first, OrganizationRole.MEMBER)
            if person.user.pk not in members:
                Membership.objects.create(user=person.user, organization=organizations[company],
                                          role=role)
                members[person.user.pk] = company
    for person in people:
        company = members.get(person.user.pk)
        if company is None:
            continue
        person.organization_id = organizations[company].public_id
        for key in person.keys:
            if key.project_id is None:
                env = KEY_ENVS.get(key.name, "prod")
                wanted = "production" if env == "prod" else "staging"
                key.project = projects[company].get(wanted) or projects[company]["default"]
                ApiKey.objects.filter(pk=key.pk).update(project=key.project)
    return created


def _ensure_organization_logins(organizations, now):
    """The demo's sign-ins that exist for their organization alone (`acme-admin`)."""
    passwords = {username: password for username, password, _role in DEMO_LOGINS}
    for username, company, role in ORGANIZATION_LOGINS:
        if User.objects.filter(username=username).exists():
            continue
        user = User.objects.create(
            username=username, email=f"{username}@{company}.example.com",
            display_name=username.replace("-", " ").title(), timezone="UTC",
            password=make_password(passwords[username]), date_joined=now)
        assign_roles([user])
        Membership.objects.create(user=user, organization=organizations[company], role=role)
