"""One value's usage rows in a sort's order: (platform model or API key, cost or total tokens,
id, occurred_at). "This model's costliest calls", where the model's calls are all cheap, then
reads its first entries, where the walk down the cost index met the costlier calls of every
other model first and then ranked every call of the model (issue #16: 120–150 ms over 7 days
for the cheapest models; docs/performance.md has what they cost ingestion).

Built online, partition by partition, like 0015: writes go on meanwhile. Hence
`atomic = False`."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('logcenter', '0034_rollup_inbox_hour_index'),
    ]

    operations = [
        ReplaceIndexesOnline(
            model_name='usagerecord',
            remove=[],
            add=[
                models.Index(fields=['platform_model', 'cost', 'id', 'occurred_at'],
                             name='usage_platform_m_cost_idx'),
                models.Index(fields=['platform_model', 'total_tokens', 'id', 'occurred_at'],
                             name='usage_platform_m_total_t_idx'),
                models.Index(fields=['api_key_name', 'cost', 'id', 'occurred_at'],
                             name='usage_api_key_na_cost_idx'),
                models.Index(fields=['api_key_name', 'total_tokens', 'id', 'occurred_at'],
                             name='usage_api_key_na_total_t_idx'),
            ],
        ),
    ]
