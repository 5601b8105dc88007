"""A rollup per user without status (UsageHourlyByUserOnly), filled from the per-user one:
usage by user per hour reads one row per user and hour instead of one per status."""

from django.db import migrations, models
from django.db.models import Sum

SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
        "cost", "quota", "credits", "latency_ms_sum")


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # no fold meanwhile (rollups.FOLD_LOCK)
        schema_editor.execute("SELECT pg_advisory_xact_lock(%s)", [0x4C43_524F])
    by_user = apps.get_model("logcenter", "UsageHourlyByUser")
    by_user_only = apps.get_model("logcenter", "UsageHourlyByUserOnly")
    grouped = (by_user.objects.values("hour", "user_id", "username")
               .annotate(**{f"sum_{c}": Sum(c) for c in SUMS}).order_by("hour"))
    batch = []
    for group in grouped.iterator(chunk_size=5000):
        batch.append(by_user_only(hour=group["hour"], user_id=group["user_id"],
                                  username=group["username"],
                                  **{c: group[f"sum_{c}"] or 0 for c in SUMS}))
        if len(batch) >= 5000:
            by_user_only.objects.bulk_create(batch)
            batch = []
    by_user_only.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0012_sort_indexes_check_the_time_window")]

    operations = [
        migrations.CreateModel(
            name="UsageHourlyByUserOnly",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("hour", models.DateTimeField()),
                ("requests", models.BigIntegerField(default=0)),
                ("prompt_tokens", models.BigIntegerField(default=0)),
                ("completion_tokens", models.BigIntegerField(default=0)),
                ("cached_tokens", models.BigIntegerField(default=0)),
                ("total_tokens", models.BigIntegerField(default=0)),
                ("cost", models.DecimalField(decimal_places=8, default=0, max_digits=24)),
                ("quota", models.BigIntegerField(default=0)),
                ("credits", models.DecimalField(decimal_places=4, default=0, max_digits=24)),
                ("latency_ms_sum", models.BigIntegerField(default=0)),
                ("user_id", models.CharField(blank=True, default="", max_length=64)),
                ("username", models.CharField(blank=True, default="", max_length=150)),
            ],
            options={"constraints": [models.UniqueConstraint(
                fields=["hour", "user_id", "username"], name="usage_hourly_user_only_key")]},
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
