from django.db.models.signals import post_save
from django.dispatch import receiver

from logcenter.core import admin_audit
from logcenter.core.audit_actions import AuditAction
from logcenter.models import Destination, RetentionPolicy, UsageRecord
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


def _destination_action(changes):
    if "paused_at" in changes:
        paused = changes["paused_at"]["after"] is not None
        return AuditAction.DESTINATION_PAUSED if paused else AuditAction.DESTINATION_RESUMED
    if set(changes) == {"credentials"}:
        return AuditAction.DESTINATION_CREDENTIALS_CHANGED
    return None


# Stream destinations: every change wherever made, the credentials never with their values.
# Delivery's own bookkeeping (the cursor, the counts) is written with UPDATE, not audited; a
# replay is recorded by its service.
admin_audit.register(admin_audit.Audited(
    model=Destination, resource_type="destination", category="config",
    created=AuditAction.DESTINATION_CREATED, updated=AuditAction.DESTINATION_UPDATED,
    deleted=AuditAction.DESTINATION_DELETED, transition=_destination_action,
    ignore=Destination.DELIVERY_FIELDS, secret={"credentials": "credentials"},
    resource_id=lambda destination: destination.public_id,
    resource_name=lambda destination: destination.name,
    details=lambda destination: {"type": destination.type,
                                 "organization": getattr(destination.organization,
                                                         "public_id", "")},
))
