"""One upstream model's usage rows in cost order: (upstream_model, cost, id, occurred_at),
as 0035 did for the platform model and the API key. "This upstream model's costliest calls"
for an embedding model (1.3M calls over 90 days, each cheaper than most calls of other
models) ranked every one of its calls: 340–400 ms over 90 days (issue #16;
docs/performance.md has what it costs ingestion).

Built online, partition by partition, like 0015: writes go on meanwhile. Hence
`atomic = False`."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('logcenter', '0035_usage_paired_sort_indexes'),
    ]

    operations = [
        ReplaceIndexesOnline(
            model_name='usagerecord',
            remove=[],
            add=[
                models.Index(fields=['upstream_model', 'cost', 'id', 'occurred_at'],
                             name='usage_upstream_m_cost_idx'),
            ],
        ),
    ]
