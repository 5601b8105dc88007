"""The console's first roles. Their permissions are written out here, as they were when this
migration was made: a migration runs the same whatever the code becomes. After every migrate
`accounts.roles.sync_roles` adds what the registry grants now (accounts/apps.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FULL = ("view", "view_all", "view_sensitive", "export")


def _perms(model, *actions):
    return [f"logcenter.{action}_{model}" for action in actions]


ROLES = {
    "Administrator": [
        *(perm for model in ("auditevent", "usagerecord", "authevent", "systemevent")
          for perm in _perms(model, *FULL)),
        *_perms("usagerecord", "view_cost", "view_stats"),
        "accounts.view_user", "accounts.add_user", "accounts.change_user",
        "accounts.view_apikey", "accounts.add_apikey", "accounts.change_apikey",
        "accounts.add_ingest_apikey",
        "auth.view_group", "auth.change_group", "auth.add_group",
        "logcenter.view_retentionpolicy", "logcenter.change_retentionpolicy",
        "logcenter.add_deletionjob", "logcenter.view_deletionjob",
    ],
    "Auditor": [*_perms("auditevent", *FULL), *_perms("authevent", *FULL),
                *_perms("systemevent", *FULL)],
    "Support": [*_perms("authevent", "view", "view_all", "view_sensitive"),
                *_perms("systemevent", "view", "view_all", "view_sensitive"),
                *_perms("usagerecord", "view", "view_all")],
    "Finance": [*_perms("usagerecord", "view", "view_all", "export", "view_cost", "view_stats")],
    "Member": [*_perms("usagerecord", "view", "view_cost", "view_stats", "export"),
               *_perms("authevent", "view", "export")],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the roles need them now.
    for label in ("auth", "accounts", "logcenter"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

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


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("logcenter", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
