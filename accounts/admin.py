from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiKey, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Console", {"fields": ("display_name", "timezone")}),)
    list_display = ("username", "email", "display_name", "is_staff", "is_active")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "owner", "status", "created_at", "last_used_at")
    list_filter = ("status",)
    readonly_fields = ("prefix", "secret_hash", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "owner__username")
