"""Each usage filter's index carries the sort keys (cost, total_tokens, latency_ms) as
INCLUDE columns: a page of one filter's matches sorted by cost, tokens or latency ranks them
on index entries alone (index-only) instead of reading every match from the table, where
the sort's own index meets other values first ("the costliest calls of an embedding model":
about 1 s over 30 days).

The indexes are rebuilt online, partition by partition (`ReplaceIndexesOnline`): writes go
on while they are built, and the table is locked only for the moment the new ones take the
old ones' names. Hence `atomic = False`."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('logcenter', '0014_sum_int8_aggregate'),
    ]

    operations = [
        ReplaceIndexesOnline(
            model_name='usagerecord',
            remove=[
                'usage_user_id_idx',
                'usage_username_idx',
                'usage_api_key_id_idx',
                'usage_api_key_name_idx',
                'usage_group_idx',
                'usage_endpoint_idx',
                'usage_platform_model_idx',
                'usage_upstream_model_idx',
                'usage_upstream_name_idx',
                'usage_channel_id_idx',
                'usage_binding_code_idx',
                'usage_protocol_idx',
                'usage_billing_mode_idx',
                'usage_status_idx',
                'usage_is_stream_idx',
            ],
            add=[
                models.Index(fields=['user_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_user_id_idx'),
                models.Index(fields=['username', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_username_idx'),
                models.Index(fields=['api_key_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_api_key_id_idx'),
                models.Index(fields=['api_key_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_api_key_name_idx'),
                models.Index(fields=['group', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_group_idx'),
                models.Index(fields=['endpoint', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_endpoint_idx'),
                models.Index(fields=['platform_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_platform_model_idx'),
                models.Index(fields=['upstream_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_upstream_model_idx'),
                models.Index(fields=['upstream_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_upstream_name_idx'),
                models.Index(fields=['channel_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_channel_id_idx'),
                models.Index(fields=['binding_code', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_binding_code_idx'),
                models.Index(fields=['protocol', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_protocol_idx'),
                models.Index(fields=['billing_mode', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_billing_mode_idx'),
                models.Index(fields=['status', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_status_idx'),
                models.Index(fields=['is_stream', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms'), name='usage_is_stream_idx'),
            ],
        ),
    ]
