"""The usage time index gains cost and latency after (occurred_at, id): a cost range filter
is checked on index entries instead of on every row of the window, and the p95 latency of
the latest calls is read from the index alone (the same index serves the time order and
keyset paging as before). On a populated table the index is rebuilt once."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('logcenter', '0009_usage_hourly_by_model'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_time_idx',
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['occurred_at', 'id', 'cost', 'latency_ms'], name='usage_time_idx'),
        ),
    ]
