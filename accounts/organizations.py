"""Managing organizations, their members and the plans: the writes behind the
Organizations and Plans pages (and the demo, as an operator).

Each service checks that the actor may make the change (a platform Administrator: the
permissions accounts.roles grants that role; None is an operator at the shell) and saves
through the model, so every change is audited with before/after values by
logcenter.core.admin_audit (accounts.signals says how). Bad values raise ValidationError
naming the field; a refused actor, PermissionDenied.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext

from logcenter.core import admin_audit
from logcenter.core.access import access_for
from logcenter.core.registry import registry
from logcenter.models import ExportJob

from accounts.models import Membership, Organization, OrganizationRole, Project

# What each write needs; accounts.roles grants them to the Administrator.
MANAGE_ORGANIZATIONS = "accounts.change_organization"
MANAGE_PLANS = "accounts.change_plan"
MAX_RETENTION_DAYS = 36_500  # a hundred years: beyond it, say unlimited


def may_manage_organizations(user) -> bool:
    return bool(user.is_active and user.has_perm(MANAGE_ORGANIZATIONS))


def may_manage_plans(user) -> bool:
    return bool(user.is_active and user.has_perm(MANAGE_PLANS))


def _require(actor, permission):
    if actor is not None and not (actor.is_active and actor.has_perm(permission)):
        raise PermissionDenied(gettext("Only platform administrators manage organizations "
                                       "and plans."))


def is_platform_staff(user) -> bool:
    """A console role that sees every user's rows of some kind (Administrator, Auditor,
    Support, Finance): platform staff belong to no organization."""
    return user.is_staff or any(access_for(user, kind).can_view_all for kind in registry)


# --- organizations ------------------------------------------------------------------------

def organization_create(*, actor, name, slug="", plan):
    """A new organization on `plan`, with its default project (both audited)."""
    _require(actor, "accounts.add_organization")
    name = (name or "").strip()
    slug = slug or slugify(name)
    errors = {}
    if not name:
        errors["name"] = gettext("Name the organization.")
    if not slug:
        errors["slug"] = gettext("Give the organization a slug (letters, digits, hyphens).")
    elif Organization.objects.filter(slug=slug).exists():
        errors["slug"] = gettext("Another organization has the slug {slug}.").format(slug=slug)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), admin_audit.acting_as(actor):
        organization = Organization.objects.create(name=name, slug=slug, plan=plan)
        default_project_create(organization)
    return organization


def default_project_create(organization):
    """The project every organization has from its start (keys and rows without a project
    of their own belong to it)."""
    return Project.objects.create(organization=organization, name="Default", slug="default",
                                  is_default=True)


def organization_plan_set(*, actor, organization, plan):
    """Move the organization to `plan` (organization.plan_changed). Reads follow at once;
    the purge catches up with a shorter window."""
    _require(actor, MANAGE_ORGANIZATIONS)
    if organization.plan_id != plan.pk:
        organization.plan = plan
        with admin_audit.acting_as(actor):
            organization.save(update_fields=["plan"])
    return organization


def organization_legal_hold_set(*, actor, organization, legal_hold):
    """Place or lift the organization's legal hold (organization.legal_hold_changed): while
    it holds, no purge removes the organization's rows."""
    _require(actor, MANAGE_ORGANIZATIONS)
    if organization.legal_hold != bool(legal_hold):
        organization.legal_hold = bool(legal_hold)
        with admin_audit.acting_as(actor):
            organization.save(update_fields=["legal_hold"])
    return organization


# --- members --------------------------------------------------------------------------------

def membership_set(*, actor, organization, user, role):
    """Add `user` to `organization` with `role`, or change their role there
    (organization.member_added / organization.member_role_changed)."""
    _require(actor, "accounts.change_membership")
    if role not in OrganizationRole.values:
        raise ValidationError({"role": gettext("Choose one of: {roles}.").format(
            roles=", ".join(OrganizationRole.values))})
    membership = Membership.objects.filter(user=user).select_related("organization").first()
    if membership is not None and membership.organization_id != organization.pk:
        raise ValidationError({"user": gettext(
            "{user} already belongs to {organization}: remove them there first.").format(
                user=user.get_username(), organization=membership.organization.name)})
    if membership is None and is_platform_staff(user):
        raise ValidationError({"user": gettext(
            "{user} is platform staff, who see every organization and belong to none.").format(
                user=user.get_username())})
    with admin_audit.acting_as(actor):
        if membership is None:
            membership = Membership.objects.create(user=user, organization=organization,
                                                   role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def membership_remove(*, actor, membership):
    """Take a user out of their organization (organization.member_removed)."""
    _require(actor, "accounts.delete_membership")
    with admin_audit.acting_as(actor):
        membership.delete()


# --- plans -----------------------------------------------------------------------------------

def clean_retention_days(value):
    """{kind slug: days or None}, every key a registered kind, every value a whole number of
    days from 1 to MAX_RETENTION_DAYS, or None for unlimited."""
    if not isinstance(value, dict):
        raise ValidationError(gettext("Give the days per kind, e.g. {\"audit\": 90}."))
    kinds = {kind.slug for kind in registry}
    cleaned = {}
    for slug, days in value.items():
        if slug not in kinds:
            raise ValidationError(gettext("{kind} is no kind of log; the kinds are: "
                                          "{kinds}.").format(kind=slug,
                                                             kinds=", ".join(sorted(kinds))))
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                                 or not 1 <= days <= MAX_RETENTION_DAYS):
            raise ValidationError(gettext(
                "{kind}: days are a whole number from 1 to {max}, or empty for unlimited."
            ).format(kind=slug, max=MAX_RETENTION_DAYS))
        cleaned[slug] = days
    return cleaned


def clean_export_formats(value):
    """A list of ExportJob.Format values, in their order."""
    if not isinstance(value, (list, tuple)):
        raise ValidationError(gettext("Give the export formats as a list."))
    unknown = [str(fmt) for fmt in value if fmt not in ExportJob.Format.values]
    if unknown:
        raise ValidationError(gettext("Unknown export format {formats}; the formats are: "
                                      "{known}.").format(formats=", ".join(unknown),
                                                         known=", ".join(ExportJob.Format.values)))
    return [fmt for fmt in ExportJob.Format.values if fmt in value]


def plan_update(*, actor, plan, retention_days, export_formats, streaming_allowed):
    """Change what a plan allows (plan.updated, before/after): every organization on it
    follows at once."""
    _require(actor, MANAGE_PLANS)
    errors = {}
    cleaned = {}
    for name, clean, value in (("retention_days", clean_retention_days, retention_days),
                               ("export_formats", clean_export_formats, export_formats)):
        try:
            cleaned[name] = clean(value)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)
    plan.retention_days = cleaned["retention_days"]
    plan.export_formats = cleaned["export_formats"]
    plan.streaming_allowed = bool(streaming_allowed)
    with admin_audit.acting_as(actor):
        plan.save()  # audited only where something changed
    return plan
