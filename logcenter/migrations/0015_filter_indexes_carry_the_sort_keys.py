"""Each usage filter's index carries the sort keys (cost, total_tokens, latency_ms) as
INCLUDE columns: a page of one filter's matches sorted by cost, tokens or latency ranks them
on index entries alone (index-only) instead of reading every match from the table, where
the sort's own index meets other values first ("the costliest calls of an embedding model":
about 1 s over 30 days). On a populated table each index is rebuilt once."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('logcenter', '0014_sum_int8_aggregate'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_user_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_username_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_api_key_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_api_key_name_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_group_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_endpoint_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_platform_model_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_upstream_model_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_upstream_name_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_channel_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_binding_code_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_protocol_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_billing_mode_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_status_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_is_stream_idx',
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['user_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_user_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['username', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_username_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['api_key_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_api_key_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['api_key_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_api_key_name_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['group', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_group_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['endpoint', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_endpoint_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['platform_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_platform_model_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['upstream_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_upstream_model_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['upstream_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_upstream_name_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['channel_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_channel_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['binding_code', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_binding_code_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['protocol', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_protocol_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['billing_mode', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_billing_mode_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['status', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_status_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['is_stream', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_is_stream_idx'),
        ),
    ]
