"""Each usage filter's index (and the organization's and project's) carries the few-valued
filter columns (endpoint, protocol, is_stream, status, billing_mode, group, upstream_name) as
INCLUDE columns besides the sort keys: with two or three filters together, the most
selective filter's index checks the others on its entries, and their matches rank by cost,
tokens or latency index-only instead of reading each candidate's row (issue #16; "rag.query
calls over gemini, not streamed, costliest first": about 0.9 s over 30 days before).

Rebuilt online, partition by partition, like 0015: writes go on meanwhile. Hence
`atomic = False`."""

from django.db import migrations, models

from logcenter.engines.postgres.migration_operations import ReplaceIndexesOnline


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('logcenter', '0031_export_destination'),
    ]

    operations = [
        ReplaceIndexesOnline(
            model_name='usagerecord',
            remove=[
                'usage_org_idx',
                'usage_project_idx',
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
                models.Index(fields=['organization_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_org_idx'),
                models.Index(fields=['project_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_project_idx'),
                models.Index(fields=['user_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_user_id_idx'),
                models.Index(fields=['username', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_username_idx'),
                models.Index(fields=['api_key_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_api_key_id_idx'),
                models.Index(fields=['api_key_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_api_key_name_idx'),
                models.Index(fields=['group', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'upstream_name'), name='usage_group_idx'),
                models.Index(fields=['endpoint', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_endpoint_idx'),
                models.Index(fields=['platform_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_platform_model_idx'),
                models.Index(fields=['upstream_model', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_upstream_model_idx'),
                models.Index(fields=['upstream_name', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group'), name='usage_upstream_name_idx'),
                models.Index(fields=['channel_id', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_channel_id_idx'),
                models.Index(fields=['binding_code', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_binding_code_idx'),
                models.Index(fields=['protocol', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'is_stream', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_protocol_idx'),
                models.Index(fields=['billing_mode', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'status', 'group', 'upstream_name'), name='usage_billing_mode_idx'),
                models.Index(fields=['status', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'is_stream', 'billing_mode', 'group', 'upstream_name'), name='usage_status_idx'),
                models.Index(fields=['is_stream', 'occurred_at', 'id'], include=('cost', 'total_tokens', 'latency_ms', 'endpoint', 'protocol', 'status', 'billing_mode', 'group', 'upstream_name'), name='usage_is_stream_idx'),
            ],
        ),
    ]
