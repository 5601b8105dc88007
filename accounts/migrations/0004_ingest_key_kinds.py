"""Ingest keys say which log kinds they may write, and only administrators make them.

Keys made before this rule: an administrator's ingest key keeps writing what a gateway
writes (usage, auth, system) but no longer audit events (an administrator grants "audit"
explicitly); anyone else's key loses its ingest scope (a member could post audit events
that administrators took for genuine) and keeps reading."""

from django.db import migrations, models

GATEWAY_KINDS = ["auth", "system", "usage"]


def restrict_existing_keys(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    for key in ApiKey.objects.using(schema_editor.connection.alias).select_related("owner"):
        if "ingest" not in key.scopes:
            continue
        owner = key.owner
        if owner.is_superuser or owner.groups.filter(name="Administrator").exists():
            key.kinds = GATEWAY_KINDS
        else:
            key.scopes = [scope for scope in key.scopes if scope != "ingest"]
        key.save(update_fields=["kinds", "scopes"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_signin_throttle"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apikey",
            options={"ordering": ["-created_at"],
                     "permissions": [("add_ingest_apikey",
                                      "Can create ingest keys (service keys that write logs)")]},
        ),
        migrations.AddField(
            model_name="apikey",
            name="kinds",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(restrict_existing_keys, migrations.RunPython.noop),
    ]
