"""The Organizations and Plans pages (platform administrators) and My organization (an
organization's owner, admin or auditor, read-only). One organization page serves both: an
administrator's has the forms, a customer's only the facts. The writes are
accounts.organizations' (permission-checked, audited)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext

from logcenter.core.params import page_takes
from logcenter.core.registry import registry

from accounts import organizations, selectors
from accounts.forms import MemberForm, OrganizationCreateForm, OrganizationSettingsForm, PlanForm
from accounts.models import Membership, Organization, Plan


def _administrator_only(request, may):
    if not may(request.user):
        raise PermissionDenied(gettext("Only platform administrators manage organizations "
                                       "and plans."))


def _apply(form, write):
    """Run `write()` for a valid form; a service's ValidationError becomes the form's
    errors (under the field it names). True when it was saved."""
    if not form.is_valid():
        return False
    try:
        write()
    except ValidationError as error:
        for field, messages_ in getattr(error, "message_dict", {None: error.messages}).items():
            form.add_error(field if field in form.fields else None, messages_)
        return False
    return True


@login_required
@page_takes()
def organizations_page(request):
    """Every organization: plan, members, projects, keys, retention, legal hold; a form
    to create one."""
    _administrator_only(request, organizations.may_manage_organizations)
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST":
        created = {}

        def create():
            created["organization"] = organizations.organization_create(
                actor=request.user, name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"], plan=form.cleaned_data["plan"])

        if _apply(form, create):
            messages.success(request, gettext("Organization {name} created.").format(
                name=created["organization"].name))
            return redirect("organization", public_id=created["organization"].public_id)
    return render(request, "accounts/organizations.html", {
        "organizations": selectors.organizations_list(), "form": form,
        "kinds": list(registry),
    }, status=400 if form.errors else 200)


@login_required
@page_takes()
def organization_page(request, public_id):
    """One organization for platform administrators: its facts, and forms to change its
    plan and legal hold and its members."""
    _administrator_only(request, organizations.may_manage_organizations)
    organization = get_object_or_404(Organization.objects.select_related("plan"),
                                     public_id=public_id)
    settings_form = OrganizationSettingsForm(initial={
        "plan": organization.plan, "legal_hold": organization.legal_hold})
    member_form = MemberForm()
    action = request.POST.get("action")
    saved = None
    if request.method == "POST" and action == "settings":
        settings_form = OrganizationSettingsForm(request.POST)

        def save_settings():
            data = settings_form.cleaned_data
            organizations.organization_plan_set(actor=request.user, organization=organization,
                                                plan=data["plan"])
            organizations.organization_legal_hold_set(
                actor=request.user, organization=organization, legal_hold=data["legal_hold"])

        saved = _apply(settings_form, save_settings) and gettext(
            "{name}: plan and legal hold saved.").format(name=organization.name)
    elif request.method == "POST" and action == "member":
        member_form = MemberForm(request.POST)

        def save_member():
            organizations.membership_set(actor=request.user, organization=organization,
                                         user=member_form.cleaned_data["user"],
                                         role=member_form.cleaned_data["role"])

        saved = _apply(member_form, save_member) and gettext(
            "{user} is now {role} of {name}.").format(
                user=member_form.cleaned_data["user"].get_username(),
                role=dict(member_form.fields["role"].choices)[member_form.cleaned_data["role"]],
                name=organization.name)
    elif request.method == "POST" and action == "remove":
        user_id = request.POST.get("user_id", "")
        membership = get_object_or_404(Membership, organization=organization,
                                       user_id=int(user_id) if user_id.isdigit() else None)
        organizations.membership_remove(actor=request.user, membership=membership)
        saved = gettext("{user} was removed from {name}.").format(
            user=membership.user.get_username(), name=organization.name)
    if saved:
        messages.success(request, saved)
        return redirect("organization", public_id=organization.public_id)
    invalid = request.method == "POST"
    return render(request, "accounts/organization.html", {
        "overview": selectors.organization_overview(organization), "editable": True,
        "settings_form": settings_form, "member_form": member_form,
    }, status=400 if invalid else 200)


@login_required
@page_takes()
def my_organization(request):
    """The signed-in user's organization, read-only: for its owner, admin and auditor."""
    organization = selectors.readable_organization(request.user)
    if organization is None:
        raise PermissionDenied(gettext("Only an organization's owner, admin or auditor may "
                                       "open its page."))
    return render(request, "accounts/organization.html", {
        "overview": selectors.organization_overview(organization), "editable": False})


@login_required
@page_takes()
def plans_page(request):
    """Every plan, each with a form: retention days per kind, export formats, streaming."""
    _administrator_only(request, organizations.may_manage_plans)
    plans = list(Plan.objects.annotate(organization_count=Count("organizations")))
    forms = [PlanForm(plan=plan) for plan in plans]
    status = 200
    if request.method == "POST":
        plan = next((p for p in plans if p.slug == request.POST.get("plan")), None)
        if plan is None:
            raise Http404(gettext("No such plan."))
        form = PlanForm(request.POST, plan=plan)

        def save_plan():
            organizations.plan_update(
                actor=request.user, plan=plan, retention_days=form.retention_days,
                export_formats=form.cleaned_data["export_formats"],
                streaming_allowed=form.cleaned_data["streaming_allowed"])

        if _apply(form, save_plan):
            messages.success(request, gettext("Plan {name} saved.").format(name=plan.name))
            return redirect("plans")
        forms = [form if other.pk == plan.pk else other_form
                 for other, other_form in zip(plans, forms)]
        status = 400
    return render(request, "accounts/plans.html", {"forms": forms}, status=status)
