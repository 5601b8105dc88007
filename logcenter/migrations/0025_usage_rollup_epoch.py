"""UsageRollupEpoch: the version of the rollups' closed hours, which keys the stats' cache of
closed hours (analytics.stats)."""

import uuid

from django.db import migrations, models


def create_row(apps, schema_editor):
    apps.get_model("logcenter", "UsageRollupEpoch").objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0024_export_snapshot")]

    operations = [
        migrations.CreateModel(
            name="UsageRollupEpoch",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True,
                                                        serialize=False)),
                ("closed_hours_version", models.UUIDField(default=uuid.uuid4)),
            ],
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
    ]
