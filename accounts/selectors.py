"""Reads about accounts for support: is this person locked out, since when, until when, and
what did their recent sign-ins say. The sign-ins are read through the log selectors, so the
one visibility rule (logcenter.core.access) decides who sees them and how."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from logcenter.core import selectors
from logcenter.core.access import access_for, membership_of
from logcenter.core.registry import registry

from accounts.models import ApiKey, Organization, OrganizationRole, SignInThrottle
from accounts.services import throttle_key

# The log kind holding sign-ins (accounts.services writes it).
SIGN_IN_KIND = "auth"
RECENT_SIGN_INS = 20


@dataclass(frozen=True)
class AccountStatus:
    is_active: bool
    failures: int  # failed sign-ins counted in the current window (0 once it has passed)
    window_ends_at: datetime | None  # when the count starts afresh
    locked_until: datetime | None  # None when not locked now

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def may_view_accounts(viewer) -> bool:
    """Account pages are for the roles that see everyone's sign-ins (Administrator,
    Auditor, Support): a member sees only their own sign-ins, on the list."""
    return access_for(viewer, registry[SIGN_IN_KIND]).can_view_all


def may_unlock(viewer) -> bool:
    return bool(viewer.is_active and viewer.has_perm("accounts.unlock_user"))


def account_status(user, now=None) -> AccountStatus:
    """The account's lockout state as sign_in judges it (its one per-account counter)."""
    now = now or timezone.now()
    throttle = SignInThrottle.objects.filter(key=throttle_key("", user)).first()
    failures, window_ends_at, locked_until = 0, None, None
    if throttle is not None:
        if throttle.window_started_at is not None:
            window_ends_at = throttle.window_started_at + timedelta(
                seconds=settings.SIGNIN["WINDOW_SECONDS"])
            if window_ends_at > now:
                failures = throttle.failures
            else:
                window_ends_at = None
        if throttle.is_locked(now):
            locked_until = throttle.locked_until
    return AccountStatus(is_active=user.is_active, failures=failures,
                         window_ends_at=window_ends_at, locked_until=locked_until)


def account_sign_ins(viewer, user, limit=RECENT_SIGN_INS):
    """The user's newest authentication events of the last 30 days, as `viewer` may see
    them (masked for their role)."""
    query = {"user_id": [str(user.pk)], "range": ["30d"], "page_size": [str(limit)]}
    listing = selectors.log_list(registry[SIGN_IN_KIND], viewer, query)
    return listing.page.rows


def sign_ins_url(account, viewer=None):
    """The Authentication tab filtered to the account's sign-ins (the last 30 days); with
    no account, the viewer's own tab, or None when their role does not see it."""
    url = reverse("logcenter:list", args=[SIGN_IN_KIND])
    if account is None:
        return url if access_for(viewer, registry[SIGN_IN_KIND]).can_view else None
    return f"{url}?user_id={account.pk}&range=30d"


def account_url(viewer, user_id):
    """The account page of the console user `user_id` (a row's user ID), for a viewer who
    may see it; None otherwise (or when the ID is no console user's: an ingested row's)."""
    if not (user_id and str(user_id).isdigit() and may_view_accounts(viewer)):
        return None
    return reverse("account-status", args=[int(user_id)])


# --- organizations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OrganizationOverview:
    """What the Organizations and My organization pages show of one organization."""

    organization: object
    members: list  # Memberships, by role (owner first), then username
    projects: list  # Projects (the default first), each with `key_count`
    keys: list  # the customer API keys of its projects
    retention: list  # [(kind, days or None: unlimited)] by the plan, in registry order

    @property
    def plan(self):
        return self.organization.plan


def plan_retention(plan):
    """[(kind, days or None)]: how far back `plan` keeps and shows each kind."""
    return [(kind, plan.retention_for(kind.slug)) for kind in registry]


def organizations_list():
    """Every organization with its plan, its retention per kind (`retention`) and the number
    of its members, projects and keys (one query)."""
    found = list(Organization.objects.select_related("plan").annotate(
        member_count=Count("memberships", distinct=True),
        project_count=Count("projects", distinct=True),
        key_count=Count("projects__api_keys", distinct=True)).order_by("name"))
    for organization in found:
        organization.retention = plan_retention(organization.plan)
    return found


def organization_names():
    """[(public_id, name)] of every organization, by name: the staff's organization
    switcher on the lists."""
    return list(Organization.objects.order_by("name").values_list("public_id", "name"))


def organization_overview(organization):
    rank = {role: n for n, role in enumerate(OrganizationRole.values)}
    members = sorted(organization.memberships.select_related("user"),
                     key=lambda m: (rank.get(m.role, len(rank)), m.user.username))
    projects = list(organization.projects.annotate(key_count=Count("api_keys")))
    keys = list(ApiKey.objects.filter(project__organization=organization)
                .select_related("owner", "project").order_by("project__name", "name"))
    return OrganizationOverview(organization=organization, members=members, projects=projects,
                                keys=keys, retention=plan_retention(organization.plan))


def readable_organization(user):
    """The organization whose page `user` may read: theirs, when their organization role
    reads its logs (owner, admin, auditor: audit.read); else None."""
    membership = membership_of(user)
    if membership is None or not user.is_active or not membership.has_permission("audit.read"):
        return None
    return membership.organization
