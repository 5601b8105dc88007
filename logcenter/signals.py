from django.db.models.signals import post_save
from django.dispatch import receiver

from logcenter.core import admin_audit
from logcenter.core.audit_actions import AuditAction
from logcenter.models import RetentionPolicy, UsageRecord
from logcenter.analytics.rollups import rollup_add


@receiver(post_save, sender=UsageRecord)
def add_saved_usage_to_rollup(sender, instance, created, raw=False, **kwargs):
    # Rows saved one at a time (the ORM); batches are added by ingestion itself.
    if created and not raw:
        rollup_add([instance])


# Retention policies are administrative changes wherever they are made (the console's
# retention page, a shell); who saved one last is bookkeeping, not a change of its own.
admin_audit.register(admin_audit.Audited(
    model=RetentionPolicy, resource_type="retention_policy", category="config",
    created=AuditAction.RETENTION_CREATED, updated=AuditAction.RETENTION_UPDATED,
    deleted=AuditAction.RETENTION_DELETED, ignore=("updated_at", "updated_by"),
    resource_id=lambda policy: policy.kind,
    resource_name=lambda policy: f"{policy.kind} retention",
))
