"""Each filter's index, and the actor indexes, gain id after occurred_at: the whole keyset
order (occurred_at, id). Their rows then come out in page order and a cursor is one seek, so
for "the newest 50 of one API key" PostgreSQL walks that key's index in every monthly
partition, not the time index filtering for a key that one month may not hold at all.
On a populated table each index is rebuilt once."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('logcenter', '0010_usage_time_index_with_cost'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_actor_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_actorid_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_action_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_category_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_resource_type_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_resource_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_result_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_actor_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_actorid_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_event_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_user_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_username_attempt_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_identity_provide_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_result_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_failure_reason_idx',
        ),
        migrations.RemoveIndex(
            model_name='authevent',
            name='auth_ip_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_actor_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_actorid_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_source_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_event_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_level_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_resource_type_idx',
        ),
        migrations.RemoveIndex(
            model_name='systemevent',
            name='system_resource_id_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_actor_idx',
        ),
        migrations.RemoveIndex(
            model_name='usagerecord',
            name='usage_actorid_idx',
        ),
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
            model_name='auditevent',
            index=models.Index(fields=['actor_name', 'occurred_at', 'id'], name='audit_actor_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['actor_id', 'occurred_at', 'id'], name='audit_actorid_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['action', 'occurred_at', 'id'], name='audit_action_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['category', 'occurred_at', 'id'], name='audit_category_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['resource_type', 'occurred_at', 'id'], name='audit_resource_type_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['resource_id', 'occurred_at', 'id'], name='audit_resource_id_idx'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['result', 'occurred_at', 'id'], name='audit_result_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['actor_name', 'occurred_at', 'id'], name='auth_actor_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['actor_id', 'occurred_at', 'id'], name='auth_actorid_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['event', 'occurred_at', 'id'], name='auth_event_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['user_id', 'occurred_at', 'id'], name='auth_user_id_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['username_attempted', 'occurred_at', 'id'], name='auth_username_attempt_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['identity_provider', 'occurred_at', 'id'], name='auth_identity_provide_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['result', 'occurred_at', 'id'], name='auth_result_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['failure_reason', 'occurred_at', 'id'], name='auth_failure_reason_idx'),
        ),
        migrations.AddIndex(
            model_name='authevent',
            index=models.Index(fields=['ip', 'occurred_at', 'id'], name='auth_ip_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['actor_name', 'occurred_at', 'id'], name='system_actor_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['actor_id', 'occurred_at', 'id'], name='system_actorid_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['source', 'occurred_at', 'id'], name='system_source_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['event', 'occurred_at', 'id'], name='system_event_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['level', 'occurred_at', 'id'], name='system_level_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['resource_type', 'occurred_at', 'id'], name='system_resource_type_idx'),
        ),
        migrations.AddIndex(
            model_name='systemevent',
            index=models.Index(fields=['resource_id', 'occurred_at', 'id'], name='system_resource_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['actor_name', 'occurred_at', 'id'], name='usage_actor_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['actor_id', 'occurred_at', 'id'], name='usage_actorid_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['user_id', 'occurred_at', 'id'], name='usage_user_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['username', 'occurred_at', 'id'], name='usage_username_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['api_key_id', 'occurred_at', 'id'], name='usage_api_key_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['api_key_name', 'occurred_at', 'id'], name='usage_api_key_name_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['group', 'occurred_at', 'id'], name='usage_group_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['endpoint', 'occurred_at', 'id'], name='usage_endpoint_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['platform_model', 'occurred_at', 'id'], name='usage_platform_model_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['upstream_model', 'occurred_at', 'id'], name='usage_upstream_model_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['upstream_name', 'occurred_at', 'id'], name='usage_upstream_name_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['channel_id', 'occurred_at', 'id'], name='usage_channel_id_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['binding_code', 'occurred_at', 'id'], name='usage_binding_code_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['protocol', 'occurred_at', 'id'], name='usage_protocol_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['billing_mode', 'occurred_at', 'id'], name='usage_billing_mode_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['status', 'occurred_at', 'id'], name='usage_status_idx'),
        ),
        migrations.AddIndex(
            model_name='usagerecord',
            index=models.Index(fields=['is_stream', 'occurred_at', 'id'], name='usage_is_stream_idx'),
        ),
    ]
