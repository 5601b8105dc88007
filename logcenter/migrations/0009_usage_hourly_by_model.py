"""The route rollup (model, upstream, group, endpoint, status) is renamed ByRoute, and a
narrower ByModel (platform model and status only) joins it, filled from the widest rollup:
the spend-by-model chart reads a few rows an hour instead of every route's."""

from django.db import migrations, models
from django.db.models import Sum

SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens",
        "cost", "quota", "credits", "latency_ms_sum")


def fill(apps, schema_editor):
    hourly = apps.get_model("logcenter", "UsageHourly")
    by_model = apps.get_model("logcenter", "UsageHourlyByModel")
    grouped = (hourly.objects.values("hour", "platform_model", "status")
               .annotate(**{f"sum_{c}": Sum(c) for c in SUMS}).order_by("hour"))
    batch = []
    for group in grouped.iterator(chunk_size=5000):
        batch.append(by_model(hour=group["hour"], platform_model=group["platform_model"],
                              status=group["status"],
                              **{c: group[f"sum_{c}"] or 0 for c in SUMS}))
        if len(batch) >= 5000:
            by_model.objects.bulk_create(batch)
            batch = []
    by_model.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("logcenter", "0008_usage_rollup_inbox")]

    operations = [
        migrations.RenameModel("UsageHourlyByModel", "UsageHourlyByRoute"),
        migrations.RemoveConstraint("usagehourlybyroute", "usage_hourly_model_key"),
        migrations.AddConstraint("usagehourlybyroute", models.UniqueConstraint(
            fields=["hour", "platform_model", "upstream_name", "group", "endpoint", "status"],
            name="usage_hourly_route_key")),
        migrations.CreateModel(
            name="UsageHourlyByModel",
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
                ("status", models.CharField(blank=True, default="", max_length=16)),
                ("platform_model", models.CharField(blank=True, default="", max_length=100)),
            ],
            options={"constraints": [models.UniqueConstraint(
                fields=["hour", "platform_model", "status"], name="usage_hourly_model_key")]},
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
