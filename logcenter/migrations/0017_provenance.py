"""Provenance on every log row: `ingested_by` (the ingest key's public id, or `console`)
and `ingested_by_name` (the key's name), set by the server, never by the sender.

Rows stored before this migration keep both empty: who wrote them was not recorded, and
nothing is made up for them. The columns are added without rewriting a table (a constant
default); the filter index is built online, partition by partition (`atomic = False`)."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline

KINDS = {"auditevent": ("audit", ()), "authevent": ("auth", ()), "systemevent": ("system", ()),
         "usagerecord": ("usage", ("cost", "total_tokens", "latency_ms"))}


def _columns(model_name):
    return [
        migrations.AddField(
            model_name=model_name, name="ingested_by",
            field=models.CharField(blank=True, default="", max_length=64,
                                   verbose_name="ingested by")),
        migrations.AddField(
            model_name=model_name, name="ingested_by_name",
            field=models.CharField(blank=True, default="", max_length=100,
                                   verbose_name="ingesting key")),
    ]


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("logcenter", "0016_usage_ledger"),
    ]

    operations = [
        *(operation for model_name in KINDS for operation in _columns(model_name)),
        *(ReplaceIndexesOnline(
            model_name=model_name, remove=[],
            add=[models.Index(fields=["ingested_by", "occurred_at", "id"], include=sorts,
                              name=f"{prefix}_ingested_by_idx")])
          for model_name, (prefix, sorts) in KINDS.items()),
    ]
