"""Who may see what: one answer per (user, kind), used by every face of the logs.

The selector applies the row rule (scope); the table, the detail page, the serializer and
the export apply the field rules (masked sensitive fields, hidden cost fields) from the
same Access object. The row rule:

- platform staff (no organization; a role with view_all_<kind>) see every organization's
  rows; without view_all, anyone sees only their own rows (the kind's owner_field);
- a user in an organization (accounts.Membership) sees only rows of that organization
  (organization_id), never older than their plan's window for the kind: its owner, admin
  and auditor (audit.read) every such row of every kind, a member only their own.
"""

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext

MASK = "[masked]"
_UNREAD = object()


def membership_of(user):
    """The user's accounts.Membership (its organization and plan loaded), or None: platform
    staff and users outside any organization. Read once per user object; a request's user
    is loaded afresh, so a plan or role change counts from the next request."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    found = getattr(user, "_lc_membership", _UNREAD)
    if found is _UNREAD:
        from accounts.models import Membership

        found = (Membership.objects.select_related("organization__plan")
                 .filter(user_id=user.pk).first())
        user._lc_membership = found
    return found


def plan_window_start(plan, kind):
    """The oldest occurred_at an organization on `plan` sees of `kind`; None: unlimited.
    Computed at each read, so a plan change shows at once (the purge catches up later)."""
    days = plan.retention_for(kind.slug)
    return None if days is None else timezone.now() - timedelta(days=days)


def organization_scope(queryset, organization, kind, time_field="occurred_at"):
    """`queryset`'s rows of `organization` within its plan's window for `kind`
    (`time_field`: the rows' time, `hour` for a rollup)."""
    queryset = queryset.filter(organization_id=organization.public_id)
    start = plan_window_start(organization.plan, kind)
    return queryset if start is None else queryset.filter(**{f"{time_field}__gte": start})


@dataclass(frozen=True)
class Access:
    user: object
    kind: object

    @property
    def _active(self):
        user = self.user
        return bool(user and user.is_authenticated and user.is_active)

    def _has(self, action):
        return self._active and self.user.has_perm(self.kind.perm(action))

    @cached_property
    def membership(self):
        """The user's organization membership, or None (platform staff, plain users)."""
        return membership_of(self.user) if self._active else None

    @cached_property
    def reads_organization(self):
        """An organization's owner, admin or auditor (audit.read): every row of their
        organization, of every kind, with its sensitive fields and cost (the organization's
        own data)."""
        return self.membership is not None and self.membership.has_permission("audit.read")

    @cached_property
    def can_view(self):
        return self.reads_organization or self._has("view")

    @cached_property
    def can_view_all(self):
        """Every organization's rows: platform staff only (the integrity pages, the
        platform-wide suggestions and rollups go with it)."""
        return self.membership is None and self._has("view_all")

    @property
    def sees_others(self):
        """Rows of other users: every row (staff), or every row of the organization."""
        return self.can_view_all or self.reads_organization

    @cached_property
    def can_export(self):
        """The role's export permission; in an organization, its role's audit.export (the
        plan must include the format too: check_export)."""
        if self.membership is not None:
            return self._active and self.membership.has_permission("audit.export")
        return self._has("export")

    @cached_property
    def can_view_sensitive(self):
        return self.reads_organization or self._has("view_sensitive")

    @cached_property
    def can_view_cost(self):
        return not self.kind.cost_fields or self.reads_organization or self._has("view_cost")

    @cached_property
    def can_view_stats(self):
        """Figures and charts: a kind with a view_stats_<model> permission (usage) needs
        it (or audit.read in an organization); the others' charts go with the tab."""
        codename = f"view_stats_{self.kind.model_name}"
        if not any(name == codename for name, _ in self.kind.model._meta.permissions):
            return self.can_view
        return self.reads_organization or self._has("view_stats")

    @cached_property
    def window_start(self):
        """The oldest occurred_at this user may see of the kind (their organization's plan
        window), or None."""
        if self.membership is None:
            return None
        return plan_window_start(self.membership.organization.plan, self.kind)

    def check_export(self, fmt=None):
        """PermissionDenied, saying why, unless this user may export the kind (in `fmt`):
        the role's export permission, and in an organization a plan including the format."""
        if not self.can_export:
            raise PermissionDenied(gettext("Your role may not export {kind} logs.").format(
                kind=self.kind.label.lower()))
        plan = self.membership.organization.plan if self.membership is not None else None
        if plan is None or plan.allows_export(fmt):
            return
        if not plan.export_formats:
            message = gettext("The {plan} plan does not include exports; an owner of your "
                              "organization can move it to a plan that does.")
        else:
            message = gettext("The {plan} plan does not include {format} exports; it "
                              "includes: {formats}.")
        raise PermissionDenied(message.format(
            plan=plan.name, format=str(fmt).upper(),
            formats=", ".join(f.upper() for f in plan.export_formats)))

    @cached_property
    def masked_fields(self) -> frozenset:
        if self.can_view_sensitive:
            return frozenset()
        masked = set(self.kind.sensitive_fields)
        if not self.sees_others:
            # Every row this user sees is their own (scope): their own IP address and user
            # agent are not secret to them. A role seeing everyone's rows keeps the mask.
            masked -= set(self.kind.owner_visible_fields)
        return frozenset(masked)

    @cached_property
    def hidden_fields(self) -> frozenset:
        return frozenset(() if self.can_view_cost else self.kind.cost_fields)

    @property
    def restricted_fields(self) -> frozenset:
        """Fields this user may neither see plainly nor filter, search or sort by."""
        return self.masked_fields | self.hidden_fields

    def mask(self, name, value):
        if name in self.masked_fields and value not in (None, "", {}, []):
            return MASK
        return value

    def apply(self, rows):
        """Mask sensitive and blank hidden fields on rows about to be shown or exported.

        The rows are display copies from then on: LogEnvelope.save() refuses them.
        """
        if not self.restricted_fields:
            return rows
        for row in rows:
            for name in self.masked_fields:
                setattr(row, name, self.mask(name, getattr(row, name)))
            for name in self.hidden_fields:
                setattr(row, name, None)
            row._masked = True
        return rows

    def scope(self, queryset, time_field="occurred_at"):
        """The rows of `queryset` this user may see (the module's rule). `queryset` holds
        the kind's rows, or a rollup's with the columns of scope_fields (`time_field`
        then names its time: `hour`; the caller reads only hours inside window_start)."""
        if self.membership is not None:
            queryset = organization_scope(queryset, self.membership.organization, self.kind,
                                          time_field)
        if not self.sees_others:
            queryset = queryset.filter(**{self.kind.owner_field: str(self.user.pk)})
        return queryset

    @property
    def scope_fields(self) -> frozenset:
        """The columns scope() compares besides time: a rollup (or any table) lacking one
        cannot answer for this user."""
        fields = {"organization_id"} if self.membership is not None else set()
        if not self.sees_others:
            fields.add(self.kind.owner_field)
        return frozenset(fields)


def access_for(user, kind) -> Access:
    return Access(user, kind)


def visible_kinds(user):
    from logcenter.core.registry import registry

    return [kind for kind in registry if access_for(user, kind).can_view]


def log_visible(kind, user):
    """Rows of `kind` the user may see: PermissionDenied without the kind's view
    permission (or audit.read in an organization); else Access.scope's rows."""
    access = access_for(user, kind)
    if not access.can_view:
        raise PermissionDenied(gettext("Your role may not see the {kind} logs.").format(
            kind=kind.label))
    return access.scope(kind.model.objects.all())
