"""Every log row names its customer: `organization_id` and `project_id` (snapshot strings,
empty for platform rows), each indexed in page order like the other filters. Adding the
columns rewrites nothing (a constant default); the indexes are built while writes go on.
Rows sealed before these columns existed keep their leaves: the canonical form leaves the
two fields out while they are empty (logcenter.integrity.canonical.ADDED_FIELDS)."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ('logcenter', '0026_search_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='organization_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='organization ID'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='project_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='project ID'),
        ),
        migrations.AddField(
            model_name='authevent',
            name='organization_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='organization ID'),
        ),
        migrations.AddField(
            model_name='authevent',
            name='project_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='project ID'),
        ),
        migrations.AddField(
            model_name='systemevent',
            name='organization_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='organization ID'),
        ),
        migrations.AddField(
            model_name='systemevent',
            name='project_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='project ID'),
        ),
        migrations.AddField(
            model_name='usagerecord',
            name='organization_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='organization ID'),
        ),
        migrations.AddField(
            model_name='usagerecord',
            name='project_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='project ID'),
        ),
        ReplaceIndexesOnline('AuditEvent', remove=[], add=[
            models.Index(fields=['organization_id', 'occurred_at', 'id'], name='audit_org_idx'),
            models.Index(fields=['project_id', 'occurred_at', 'id'], name='audit_project_idx'),
        ]),
        ReplaceIndexesOnline('AuthEvent', remove=[], add=[
            models.Index(fields=['organization_id', 'occurred_at', 'id'], name='auth_org_idx'),
            models.Index(fields=['project_id', 'occurred_at', 'id'], name='auth_project_idx'),
        ]),
        ReplaceIndexesOnline('SystemEvent', remove=[], add=[
            models.Index(fields=['organization_id', 'occurred_at', 'id'], name='system_org_idx'),
            models.Index(fields=['project_id', 'occurred_at', 'id'], name='system_project_idx'),
        ]),
        ReplaceIndexesOnline('UsageRecord', remove=[], add=[
            models.Index(fields=['organization_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_org_idx'),
            models.Index(fields=['project_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_project_idx'),
        ]),
    ]
