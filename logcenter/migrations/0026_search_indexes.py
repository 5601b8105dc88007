"""Free text search indexes: pg_trgm, and a GIN trigram index per log table over the text `q`
looks in (logcenter.engines.postgres.search), built while writes go on. PostgreSQL only:
other databases search without them."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from logcenter.engines.postgres.migration_operations import AddSearchIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("logcenter", "0025_usage_rollup_epoch")]

    operations = [
        TrigramExtension(),
        AddSearchIndexOnline("UsageRecord", ["username", "api_key_name", "platform_model",
                                             "upstream_model", "error_message"]),
        AddSearchIndexOnline("AuditEvent", ["action", "actor_name", "resource_name",
                                            "resource_id", "reason"]),
        AddSearchIndexOnline("AuthEvent", ["username_attempted", "event", "failure_reason",
                                           "identity_provider", "user_agent"]),
        AddSearchIndexOnline("SystemEvent", ["source", "event", "message", "resource_id"]),
    ]
