"""The rollup inbox gets an index on its hour.

Every usage chart asks whether sums wait in the inbox for the closed hours it would take from
the cache (stats._pending_within). Under ingestion every waiting row is of the current hour,
so the answer is no, and without an index finding that out read the whole inbox, live rows
and every fold's dead ones (3-4 ms a chart at 2,000 events/s, 2026-12-05). The inbox holds a
few thousand rows: the index is built at once."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('logcenter', '0033_rollup_inbox_autovacuum'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='usagerollupinbox',
            index=models.Index(fields=['hour'], name='usage_inbox_hour_idx'),
        ),
    ]
