"""The Django admin of users, roles, API keys, organizations (their projects and members)
and plans. Every change made here is audited by the model signals
(logcenter.core.admin_audit); AuditedAdminMixin makes each many-to-many field a form saves
one change. tests/accounts/test_admin_audit_walk.py walks every registered
model's forms and actions and fails on any change that writes no audit event."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils import timezone

from logcenter.core.admin_audit import AuditedAdminMixin
from logcenter.models import ExportJob

from accounts import organizations, services
from accounts.models import ApiKey, Membership, Organization, Plan, Project, User


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Console", {"fields": ("display_name", "timezone", "language")}),)
    list_display = ("username", "email", "display_name", "is_staff", "is_active")
    # Facts, not settings; an editable date field would also drop their microseconds on
    # every save of the form (a change the audit would have to report).
    readonly_fields = ("last_login", "date_joined")
    actions = ["unlock_sign_in"]

    @admin.action(description="Unlock sign-in for the selected users")
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            services.unlock_account(actor=request.user, user=user)
        messages.success(request, f"Unlocked {queryset.count()} account(s).")


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(AuditedAdminMixin, BaseGroupAdmin):
    pass


class ApiKeyAdminForm(forms.ModelForm):
    """Scopes and, for an ingest key, the kinds it may write, as choices; the same rules as
    the console (accounts.services.api_key_create)."""

    scopes = forms.MultipleChoiceField(choices=ApiKey.Scope.choices,
                                       widget=forms.CheckboxSelectMultiple)
    kinds = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple, required=False,
        help_text="For an ingest key: the log kinds it may write.")
    may_ingest = True  # set per request by ApiKeyAdmin.get_form

    class Meta:
        model = ApiKey
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kinds"].choices = [(slug, slug) for slug in services.ingest_kinds()]

    def clean_scopes(self):
        return sorted(set(self.cleaned_data["scopes"]))

    def clean_kinds(self):
        return sorted(set(self.cleaned_data["kinds"]))

    def clean(self):
        data = super().clean()
        scopes, kinds = data.get("scopes") or [], data.get("kinds") or []
        ingest = ApiKey.Scope.INGEST in scopes
        was_ingest = self.instance.pk and ApiKey.Scope.INGEST in (self.initial.get("scopes") or [])
        if ingest and not was_ingest and not self.may_ingest:
            self.add_error("scopes", "Only administrators make ingest keys.")
        if ingest and not kinds:
            self.add_error("kinds", "Name the kinds this ingest key may write.")
        if kinds and not ingest:
            self.add_error("kinds", "Only an ingest key writes log kinds.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ApiKeyAdminForm
    list_display = ("name", "prefix", "owner", "project", "status", "created_at",
                    "last_used_at")
    list_filter = ("status", "project__organization")
    readonly_fields = ("prefix", "secret_hash", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "owner__username")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are created in the console, where the secret is shown once

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.may_ingest = request.user.has_perm("accounts.add_ingest_apikey")
        return form

    def save_model(self, request, obj, form, change):
        if "status" in form.changed_data:  # re-activated or revoked here
            obj.revoked_at = timezone.now() if obj.status == ApiKey.Status.REVOKED else None
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(actor=request.user, key=key)


@admin.register(Plan)
class PlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Plans as data; the console's Plans page edits the same fields with the same rules
    (accounts.organizations.plan_update)."""

    class Form(forms.ModelForm):
        export_formats = forms.MultipleChoiceField(
            choices=ExportJob.Format.choices, widget=forms.CheckboxSelectMultiple,
            required=False)

        class Meta:
            model = Plan
            fields = "__all__"
            help_texts = {"retention_days": 'Days per kind, e.g. {"audit": 90, "usage": 30}; '
                                            "null or a kind left out: unlimited."}

        def clean_retention_days(self):
            return organizations.clean_retention_days(self.cleaned_data["retention_days"])

        def clean_export_formats(self):
            return organizations.clean_export_formats(self.cleaned_data["export_formats"])

    form = Form
    list_display = ("name", "slug", "retention_days", "export_formats", "streaming_allowed")


@admin.register(Organization)
class OrganizationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "public_id", "plan", "legal_hold", "created_at")
    list_filter = ("plan", "legal_hold")
    search_fields = ("name", "slug", "public_id")
    readonly_fields = ("public_id", "created_at")

    def get_changeform_initial_data(self, request):
        # A new customer starts on the first plan (Free); a required plan with no value
        # would only be an error to correct.
        first = Plan.objects.first()
        return {"plan": first.pk if first else None,
                **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # every organization has its default project
            organizations.default_project_create(obj)


@admin.register(Project)
class ProjectAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "organization", "public_id", "is_default", "created_at")
    list_filter = ("organization",)
    search_fields = ("name", "slug", "public_id", "organization__name")

    def get_readonly_fields(self, request, obj=None):
        # A project stays in its organization (its rows say so); the default project is
        # made with the organization and stays its default.
        fixed = ("public_id", "created_at", "is_default")
        return fixed + ("organization",) if obj is not None else fixed

    def has_delete_permission(self, request, obj=None):
        # The default project goes only with its organization (whose deletion lists it).
        own_pages = (getattr(request.resolver_match, "url_name", "") or "").startswith(
            "accounts_project_")
        return super().has_delete_permission(request, obj) and not (
            obj is not None and obj.is_default and own_pages)


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A user's organization and role. The user and organization are chosen once: to move
    someone, remove them and add them to the other organization."""

    class Form(forms.ModelForm):
        class Meta:
            model = Membership
            fields = "__all__"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "user" in self.fields:  # adding: users in no organization yet
                self.fields["user"].queryset = User.objects.filter(
                    membership__isnull=True, is_staff=False).order_by("username")

        def clean_user(self):
            user = self.cleaned_data["user"]
            if organizations.is_platform_staff(user):
                raise forms.ValidationError(
                    "Platform staff see every organization and belong to none.")
            return user

    form = Form
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("organization", "role")
    search_fields = ("user__username", "organization__name")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "organization", "created_at") if obj is not None else ("created_at",)
