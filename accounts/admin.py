from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from . import services
from .models import ApiKey, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Console", {"fields": ("display_name", "timezone")}),)
    list_display = ("username", "email", "display_name", "is_staff", "is_active")
    actions = ["unlock_sign_in"]

    @admin.action(description="Unlock sign-in for the selected users")
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            services.unlock_account(actor=request.user, user=user)
        messages.success(request, f"Unlocked {queryset.count()} account(s).")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "owner", "status", "created_at", "last_used_at")
    list_filter = ("status",)
    readonly_fields = ("prefix", "secret_hash", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "owner__username")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are created in the console, where the secret is shown once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(actor=request.user, key=key)
