"""A destination: where a stream of log rows goes, and how far it has got."""

import secrets as _secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_destination_id():
    return f"dst_{_secrets.token_hex(8)}"


class Destination(models.Model):
    class Type(models.TextChoices):
        SPLUNK_HEC = "splunk_hec", _("Splunk HTTP Event Collector")
        ELASTICSEARCH = "elasticsearch", _("Elasticsearch / OpenSearch")
        DATADOG = "datadog", _("Datadog logs")
        CLOUDWATCH = "cloudwatch", _("AWS CloudWatch Logs")
        WEBHOOK = "webhook", _("Webhook (signed JSON)")
        S3 = "s3", _("Object storage (S3-compatible)")

    public_id = models.CharField(_("destination ID"), max_length=32, unique=True,
                                 default=new_destination_id, editable=False)
    name = models.CharField(_("name"), max_length=150)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    # The organization whose rows it carries; none: a platform destination (every row).
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     null=True, blank=True, related_name="destinations",
                                     verbose_name=_("organization"))
    # Whose view of the rows it sends (masking, cost): its creator. Gone: it pauses.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("created by"))
    endpoint = models.CharField(_("endpoint"), max_length=500)
    # The type's other settings (an index, a sourcetype, a site, a region…): never secret.
    options = models.JSONField(_("options"), default=dict, blank=True)
    # The type's secrets (a token, an API key, a signing secret, access keys) as one
    # Fernet token of their JSON: never shown again, never in an audit event.
    credentials = models.TextField(_("credentials"), blank=True, default="")
    kinds = models.JSONField(_("kinds"), default=list)  # kind slugs
    event_patterns = models.JSONField(_("event types"), default=list, blank=True)  # none: all
    include_sensitive = models.BooleanField(_("send sensitive fields"), default=False)
    batch_size = models.PositiveIntegerField(_("batch size"), default=500)
    interval_seconds = models.PositiveIntegerField(_("interval (seconds)"), default=5)
    pause_after_minutes = models.PositiveIntegerField(_("pause after failing for (minutes)"),
                                                      default=60)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Delivery state, written by the pump with UPDATE (bookkeeping, not an administrator's
    # change). The cursor is per kind: the id of the last row delivered or passed over.
    cursor = models.JSONField(_("cursor"), default=dict, blank=True)
    # Bumped by every replay: a pump advances the cursor only if it did not change.
    cursor_generation = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_reason = models.TextField(_("why paused"), blank=True, default="")
    delivered_count = models.BigIntegerField(_("events delivered"), default=0)
    failed_count = models.BigIntegerField(_("failed attempts"), default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)  # not before (interval, backoff)
    last_error = models.TextField(_("last error"), blank=True, default="")
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)

    DELIVERY_FIELDS = ("cursor", "cursor_generation", "delivered_count", "failed_count",
                       "consecutive_failures", "failing_since", "next_run_at", "last_error",
                       "last_error_at", "last_success_at")

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("log stream destination")
        verbose_name_plural = _("log stream destinations")

    def __str__(self):
        return self.name

    @property
    def is_paused(self):
        return self.paused_at is not None

    @property
    def status(self):
        """"disabled", "paused", "failing" or "running"."""
        if not self.enabled:
            return "disabled"
        if self.paused_at is not None:
            return "paused"
        return "failing" if self.consecutive_failures else "running"
