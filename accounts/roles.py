"""The console's roles: Django groups with permissions, created by a data migration.

Administrators may edit the groups afterwards (Django admin); `sync_roles` only adds
what a role is missing, so it never undoes such an edit.
"""

KIND_MODELS = ("auditevent", "usagerecord", "authevent", "systemevent")


def _perms(model, *actions):
    return [f"logcenter.{action}_{model}" for action in actions]


FULL = ("view", "view_all", "view_sensitive", "export")

ROLES = {
    "Administrator": [
        *(perm for model in KIND_MODELS for perm in _perms(model, *FULL)),
        *_perms("usagerecord", "view_cost", "view_stats"),
        "accounts.view_user", "accounts.add_user", "accounts.change_user",
        "accounts.view_apikey", "accounts.add_apikey", "accounts.change_apikey",
        "accounts.add_ingest_apikey",
        "auth.view_group", "auth.change_group", "auth.add_group",
        "logcenter.view_retentionpolicy", "logcenter.change_retentionpolicy",
        "logcenter.add_deletionjob", "logcenter.view_deletionjob",
    ],
    "Auditor": [
        *_perms("auditevent", *FULL),
        *_perms("authevent", *FULL),
        *_perms("systemevent", *FULL),
    ],
    "Support": [
        *_perms("authevent", "view", "view_all", "view_sensitive"),
        *_perms("systemevent", "view", "view_all", "view_sensitive"),
        *_perms("usagerecord", "view", "view_all"),  # no cost, no sensitive fields
    ],
    "Finance": [
        *_perms("usagerecord", "view", "view_all", "export", "view_cost", "view_stats"),
    ],
    "Member": [
        # Their own usage (with their own cost) and their own sign-ins only; exports of
        # those hold only their own rows too (the selector decides).
        *_perms("usagerecord", "view", "view_cost", "view_stats", "export"),
        *_perms("authevent", "view", "export"),
    ],
}
DEFAULT_ROLE = "Member"


def sync_roles(apps=None):
    """Create the role groups and grant any permission they lack."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.add(*wanted)
