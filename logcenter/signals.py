from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import UsageRecord
from .rollups import rollup_add


@receiver(post_save, sender=UsageRecord)
def add_saved_usage_to_rollup(sender, instance, created, raw=False, **kwargs):
    # Rows saved one at a time (the ORM); batches are added by ingestion itself.
    if created and not raw:
        rollup_add([instance])
