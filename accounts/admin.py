"""The Django admin of users, roles and API keys. Every change made here is audited by the
model signals (logcenter.core.admin_audit); AuditedAdminMixin makes each many-to-many field a
form saves one change. tests/accounts/test_admin_audit_walk.py walks every registered
model's forms and actions and fails on any change that writes no audit event."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils import timezone

from logcenter.core.admin_audit import AuditedAdminMixin

from accounts import services
from accounts.models import ApiKey, User


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
    list_display = ("name", "prefix", "owner", "status", "created_at", "last_used_at")
    list_filter = ("status",)
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
