"""A rollup per API key (UsageHourlyByKey), filled from the widest one: usage by API key per
hour reads one row per key and hour (a week by key: 168 x keys rows, not every user, model
and route of each)."""

from django.db import migrations, models
from django.db.models import Sum

SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
        "cost", "quota", "credits", "latency_ms_sum")


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # no fold meanwhile (rollups.FOLD_LOCK)
        schema_editor.execute("SELECT pg_advisory_xact_lock(%s)", [0x4C43_524F])
    hourly = apps.get_model("logcenter", "UsageHourly")
    by_key = apps.get_model("logcenter", "UsageHourlyByKey")
    grouped = (hourly.objects.values("hour", "api_key_id", "api_key_name")
               .annotate(**{f"sum_{c}": Sum(c) for c in SUMS}).order_by("hour"))
    batch = []
    for group in grouped.iterator(chunk_size=5000):
        batch.append(by_key(hour=group["hour"], api_key_id=group["api_key_id"],
                            api_key_name=group["api_key_name"],
                            **{c: group[f"sum_{c}"] or 0 for c in SUMS}))
        if len(batch) >= 5000:
            by_key.objects.bulk_create(batch)
            batch = []
    by_key.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0021_verbose_names")]

    operations = [
        migrations.CreateModel(
            name="UsageHourlyByKey",
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
                ("api_key_id", models.CharField(blank=True, default="", max_length=64)),
                ("api_key_name", models.CharField(blank=True, default="", max_length=100)),
            ],
            options={"constraints": [models.UniqueConstraint(
                fields=["hour", "api_key_id", "api_key_name"], name="usage_hourly_key_key")]},
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
