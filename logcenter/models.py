"""The four log kinds.

Every kind shares one envelope (LogEnvelope). Rows hold snapshots (names, emails, key
prefixes) and never a cascading foreign key: deleting a user deletes no log.

Indexes: each list is always bounded by a time range, so each offered filter gets a
(field, occurred_at, id) index and each offered sort a (sort key, id, occurred_at) index, matching the
keyset pagination in logcenter.core.pagination.
"""

import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from logcenter.core.registry import registry
from logcenter.core.request_context import audit_suppressed


class ActorType(models.TextChoices):
    USER = "user", _("User")
    API_KEY = "api_key", _("API key")
    SERVICE = "service", _("Service")
    SYSTEM = "system", _("System")


class Result(models.TextChoices):
    SUCCESS = "success", _("Success")
    FAILURE = "failure", _("Failure")


# How far in the future an event's occurred_at may be (senders' clocks drift); ingestion
# rejects later ones, so lists can bound their window by it and skip the months ahead.
FUTURE_TOLERANCE = timedelta(minutes=5)
# A metadata key: letters, digits and underscore (ingestion checks it, filters parse it).
METADATA_KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
# `ingested_by` of the rows the app writes itself (sign-ins, admin changes, exports, …).
CONSOLE = "console"


class LogEnvelope(models.Model):
    event_id = models.UUIDField(_("event ID"), default=uuid.uuid4, unique=True,
                                editable=False)
    # The customer the row belongs to: the public ids of accounts.Organization and
    # accounts.Project, as snapshots (never a foreign key). Empty: a platform row.
    organization_id = models.CharField(_("organization ID"), max_length=64, blank=True,
                                       default="")
    project_id = models.CharField(_("project ID"), max_length=64, blank=True, default="")
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    ingested_at = models.DateTimeField(_("ingested at"), default=timezone.now, editable=False)
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType.choices,
                                  default=ActorType.USER)
    actor_id = models.CharField(_("actor ID"), max_length=64, blank=True, default="")
    actor_name = models.CharField(_("actor name"), max_length=254, blank=True, default="")
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True, default="")
    request_id = models.CharField(_("request ID"), max_length=64, blank=True, default="")
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    # Provenance, set by the server: the public id (prefix) and name of the ingest key that
    # wrote the row, or CONSOLE for the events the app writes itself.
    ingested_by = models.CharField(_("ingested by"), max_length=64, blank=True, default="")
    ingested_by_name = models.CharField(_("ingesting key"), max_length=100, blank=True,
                                        default="")

    class Meta:
        abstract = True
        ordering = ["-occurred_at", "-id"]
        get_latest_by = "occurred_at"

    @property
    def kind(self):
        return registry.for_model(type(self))

    def save(self, *args, **kwargs):
        if getattr(self, "_masked", False):
            raise RuntimeError("A masked display copy of a log row cannot be saved.")
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return detail_url(self.kind.slug, self.event_id)


# The detail URL of each kind with a placeholder event id, reversed once: a reverse() took
# 84 µs, and a list page links every row's time to its detail (50 rows: 4 ms).
_DETAIL_SLOT = str(uuid.UUID(int=0))
_DETAIL_URLS = {}


@receiver(setting_changed)
def _forget_detail_urls(**kwargs):
    _DETAIL_URLS.clear()


def detail_url(slug, event_id) -> str:
    """reverse("logcenter:detail", args=[slug, event_id]) for an event id (a UUID, which
    a URL carries as it is)."""
    key = (get_script_prefix(), slug)
    template = _DETAIL_URLS.get(key)
    if template is None:
        template = _DETAIL_URLS[key] = reverse("logcenter:detail", args=[slug, _DETAIL_SLOT])
    return template.replace(_DETAIL_SLOT, str(uuid.UUID(str(event_id))))


def log_permissions(model_name, label, *extra):
    """Per-kind permissions beyond Django's view_<model> (which opens the tab)."""
    return [
        (f"export_{model_name}", f"Can export {label}"),
        (f"view_sensitive_{model_name}", f"Can see sensitive fields of {label}"),
        (f"view_all_{model_name}", f"Can see every user's {label}, not only their own"),
        *extra,
    ]


def envelope_indexes(prefix, *filter_fields, sorts=(), time_extra=(), carried=(), paired=()):
    """Indexes every kind needs, plus (field, occurred_at, id) per filter,
    (key, id, occurred_at) per sort and (field, key, id, occurred_at) per `paired`
    (field, key).

    A filter's index holds the whole keyset order (occurred_at, id): its rows come out in
    page order and a cursor is one seek, so the planner has no reason to walk the time
    index instead. (With (field, occurred_at) it did, for a value absent from a month:
    the merge of the monthly partitions then read that month's whole window for nothing.)
    `time_extra` columns follow (occurred_at, id) in the time index: a range filter on them
    (cost ≥ x) is then checked on index entries, so only matching rows are read from the
    table, and capped counts are index-only.

    A filter's index also carries the sort keys (INCLUDE): "this model's costliest calls",
    when the sort's own index meets other models' calls first, ranks the model's matches on
    index entries alone (index-only) and reads only the page's rows from the table.

    It carries the `carried` columns too (INCLUDE), the few-valued filters (endpoint,
    protocol, status…): with two or three filters together, the most selective one's index
    checks the others on its entries, so their matches rank without a row read each ("rag.query
    calls over gemini, not streamed, costliest first": 0.9 s → 55 ms over 30 days)."""

    def included(field=None):
        return [*sorts, *(column for column in carried if column != field)]

    indexes = [
        models.Index(fields=["occurred_at", "id", *time_extra], name=f"{prefix}_time_idx"),
        models.Index(fields=["request_id"], name=f"{prefix}_request_idx"),
        models.Index(fields=["actor_name", "occurred_at", "id"], name=f"{prefix}_actor_idx"),
        models.Index(fields=["actor_id", "occurred_at", "id"], name=f"{prefix}_actorid_idx"),
        models.Index(fields=["ingested_by", "occurred_at", "id"], include=list(sorts),
                     name=f"{prefix}_ingested_by_idx"),
        # An organization's (or project's) rows in page order: the scope of every read by a
        # customer's administrator, and the staff's organization filter.
        models.Index(fields=["organization_id", "occurred_at", "id"], include=included(),
                     name=f"{prefix}_org_idx"),
        models.Index(fields=["project_id", "occurred_at", "id"], include=included(),
                     name=f"{prefix}_project_idx"),
    ]
    for field in filter_fields:
        indexes.append(models.Index(fields=[field, "occurred_at", "id"], include=included(field),
                                    name=f"{prefix}_{field[:16]}_idx"))
    for key in sorts:
        # occurred_at after the keyset order: the time window is checked on index entries,
        # so "the costliest calls of the last day" reads no row outside that day.
        indexes.append(models.Index(fields=[key, "id", "occurred_at"],
                                    name=f"{prefix}_{key[:12]}_sort_idx"))
    for field, key in paired:
        # One value's rows in the sort's order: "this model's costliest calls", where the
        # model's calls are all cheap, are its first entries here, where the walk down
        # the sort's own index meets the costlier calls of every other model first (and
        # ranking the model's every match costs 0.5 µs each: 74 ms for 141,000 calls).
        indexes.append(models.Index(fields=[field, key, "id", "occurred_at"],
                                    name=f"{prefix}_{field[:10]}_{key[:7]}_idx"))
    return indexes


class AuditEvent(LogEnvelope):
    action = models.CharField(_("action"), max_length=100)
    category = models.CharField(_("category"), max_length=64, blank=True, default="")
    resource_type = models.CharField(_("resource type"), max_length=64, blank=True, default="")
    resource_id = models.CharField(_("resource ID"), max_length=128, blank=True, default="")
    resource_name = models.CharField(_("resource name"), max_length=254, blank=True, default="")
    result = models.CharField(_("result"), max_length=16, choices=Result.choices,
                              default=Result.SUCCESS)
    reason = models.CharField(_("reason"), max_length=1000, blank=True, default="")
    # {"field": {"before": ..., "after": ...}}
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta(LogEnvelope.Meta):
        permissions = log_permissions("auditevent", "audit events")
        indexes = envelope_indexes(
            "audit", "action", "category", "resource_type", "resource_id", "result"
        )

    def __str__(self):
        return _("{action} by {actor}").format(
            action=self.action, actor=self.actor_name or self.actor_id or _("system"))


class UsageRecord(LogEnvelope):
    class Endpoint(models.TextChoices):
        CHAT = "chat", _("Chat")
        COMPLETION = "completion", _("Completion")
        EMBEDDING = "embedding", _("Embedding")
        RERANK = "rerank", _("Rerank")
        RAG_QUERY = "rag.query", _("RAG query")
        IMAGE = "image", _("Image")
        AUDIO = "audio", _("Audio")

    class BillingMode(models.TextChoices):
        PER_TOKEN = "per_token", _("Per token")
        PER_CALL = "per_call", _("Per call")

    class Status(models.TextChoices):
        SUCCESS = "success", _("Success")
        ERROR = "error", _("Error")

    user_id = models.CharField(_("user ID"), max_length=64, blank=True, default="")
    username = models.CharField(_("username"), max_length=150, blank=True, default="")
    api_key_id = models.CharField(_("API key ID"), max_length=64, blank=True, default="")
    api_key_name = models.CharField(_("API key"), max_length=100, blank=True, default="")
    group = models.CharField(_("group"), max_length=64, blank=True, default="")
    endpoint = models.CharField(_("endpoint"), max_length=32, choices=Endpoint.choices,
                                default=Endpoint.CHAT)
    platform_model = models.CharField(_("platform model"), max_length=100)
    upstream_model = models.CharField(_("upstream model"), max_length=100, blank=True, default="")
    upstream_name = models.CharField(_("upstream"), max_length=100, blank=True, default="")
    channel_id = models.CharField(_("channel"), max_length=64, blank=True, default="")
    binding_code = models.CharField(_("binding code"), max_length=64, blank=True, default="")
    protocol = models.CharField(_("protocol"), max_length=32, blank=True, default="")
    billing_mode = models.CharField(
        _("billing mode"), max_length=16, choices=BillingMode.choices,
        default=BillingMode.PER_TOKEN)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), default=0)
    cached_tokens = models.PositiveIntegerField(_("cached tokens"), default=0)
    total_tokens = models.PositiveIntegerField(_("total tokens"), default=0)
    cost = models.DecimalField(_("cost (USD)"), max_digits=18, decimal_places=8, default=0)
    quota = models.BigIntegerField(_("quota"), default=0)
    credits = models.DecimalField(_("credits"), max_digits=18, decimal_places=4, default=0)
    # [{"name": "input", "quantity": 1200, "unit_price": "0.0000025", "amount": "0.003"}]
    billing_items = models.JSONField(_("billing items"), default=list, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    first_token_ms = models.PositiveIntegerField(_("first token (ms)"), null=True, blank=True)
    is_stream = models.BooleanField(_("stream"), default=False)
    call_count = models.PositiveIntegerField(_("call count"), default=1)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.SUCCESS)
    error_code = models.CharField(_("error code"), max_length=64, blank=True, default="")
    error_message = models.TextField(_("error message"), blank=True, default="")

    class Meta(LogEnvelope.Meta):
        permissions = log_permissions(
            "usagerecord",
            "usage records",
            ("view_cost_usagerecord", "Can see cost, quota and credits of usage"),
            ("view_stats_usagerecord", "Can see usage statistics"),
        )
        indexes = envelope_indexes(
            "usage",
            "user_id",
            "username",
            "api_key_id",
            "api_key_name",
            "group",
            "endpoint",
            "platform_model",
            "upstream_model",
            "upstream_name",
            "channel_id",
            "binding_code",
            "protocol",
            "billing_mode",
            "status",
            "is_stream",
            sorts=("cost", "total_tokens", "latency_ms"),
            time_extra=("cost", "latency_ms"),
            carried=("endpoint", "protocol", "is_stream", "status", "billing_mode", "group",
                     "upstream_name"),
            # The filters finance and support sort by cost and tokens most, whose values'
            # calls are often all cheap or all small, and the upstream model by cost (an
            # embedding model's calls: 1.3M over 90 days, each cheaper than most others')
            # (docs/performance.md: what each costs ingestion, and gains).
            paired=[*((field, key) for field in ("platform_model", "api_key_name")
                      for key in ("cost", "total_tokens")),
                    ("upstream_model", "cost")],
        )

    def __str__(self):
        return _("{model} call by {caller}").format(
            model=self.platform_model, caller=self.username or self.api_key_name)


class AuthEvent(LogEnvelope):
    event = models.CharField(_("event"), max_length=64)
    user_id = models.CharField(_("user ID"), max_length=64, blank=True, default="")
    username_attempted = models.CharField(_("username"), max_length=254, blank=True, default="")
    identity_provider = models.CharField(_("identity provider"), max_length=64, blank=True,
                                         default="password")
    result = models.CharField(_("result"), max_length=16, choices=Result.choices,
                              default=Result.SUCCESS)
    failure_reason = models.CharField(_("failure reason"), max_length=64, blank=True, default="")
    # A SHA-256 of the session key: correlates a session's events without storing it.
    session_key_hash = models.CharField(_("session (hash)"), max_length=64, blank=True, default="")

    class Meta(LogEnvelope.Meta):
        permissions = log_permissions("authevent", "authentication events")
        indexes = envelope_indexes(
            "auth",
            "event",
            "user_id",
            "username_attempted",
            "identity_provider",
            "result",
            "failure_reason",
            "ip",
        )

    def __str__(self):
        return _("{event} for {user}").format(
            event=self.event, user=self.username_attempted or self.user_id)


class SystemEvent(LogEnvelope):
    class Level(models.TextChoices):
        DEBUG = "debug", _("Debug")
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")
        CRITICAL = "critical", _("Critical")

    source = models.CharField(_("source"), max_length=64)
    event = models.CharField(_("event"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices, default=Level.INFO)
    resource_type = models.CharField(_("resource type"), max_length=64, blank=True, default="")
    resource_id = models.CharField(_("resource ID"), max_length=128, blank=True, default="")
    message = models.TextField(_("message"), blank=True, default="")
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta(LogEnvelope.Meta):
        permissions = log_permissions("systemevent", "system events")
        indexes = envelope_indexes(
            "system", "source", "event", "level", "resource_type", "resource_id"
        )

    def __str__(self):
        return f"[{self.level}] {self.source}: {self.event}"


class JobProgress:
    """`progress` in percent for a background job: `done_field` rows of estimated_total;
    100 only once completed, so a bar never fills before the job is done."""

    done_field = ""

    @property
    def progress(self):
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.estimated_total:
            return 0
        return min(99, int(getattr(self, self.done_field) * 100 / self.estimated_total))


class ExportJob(JobProgress, models.Model):
    """An asynchronous export of one kind's rows for one filter (not a log row)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"
        NDJSON = "ndjson", "NDJSON"

    export_id = models.UUIDField("export ID", default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="exports")
    kind = models.CharField(max_length=16)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    # The list's query parameters ({"name": [values]}), exactly as the page or API had them.
    params = models.JSONField(default=dict, blank=True)
    excel_bom = models.BooleanField("UTF-8 BOM for Excel", default=False)
    # JSON and NDJSON: end with the signed digest blocks covering the rows (integrity).
    include_digests = models.BooleanField(default=False)
    # The file's columns (field names, in order), resolved when the job was made: a CSV's
    # default is the tab's visible columns, JSON's every field (logcenter.exports.jobs).
    columns = models.JSONField(default=list, blank=True)
    # A time zone name: the file gets an extra `occurred_at_local` column in it. Empty: UTC only.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # The snapshot the file holds, for its manifest and download headers (no trailing line
    # in the file: that would be a junk record in a spreadsheet): the rows stored up to
    # snapshot_at, within the window (an open start: the kind's whole history).
    snapshot_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_written = models.PositiveBigIntegerField(default=0)
    done_field = "rows_written"
    estimated_total = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    file_name = models.CharField(max_length=200, blank=True, default="")
    size_bytes = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # An S3 destination the finished file is also uploaded to (logcenter.streams), at
    # destination_key in its bucket; the local file stays for the download.
    destination = models.ForeignKey("logcenter.Destination", on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="export_jobs")
    destination_key = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="export_user_idx"),
                   models.Index(fields=["status", "expires_at"], name="export_status_idx")]

    def __str__(self):
        return f"{self.kind} export {self.export_id} ({self.status})"

    @property
    def filter_query(self):
        """The export's filter as the list's query string."""
        return urlencode([(k, v) for k, values in self.params.items() for v in values])


    @property
    def is_active(self):
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class RetentionPolicy(models.Model):
    """How long one kind's rows are kept; a legal hold stops every purge of that kind.

    A kind without a stored policy gets its registry entry's `retention_days` when the
    policy is first read."""

    kind = models.CharField(max_length=16, unique=True)
    days = models.PositiveIntegerField()
    legal_hold = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        verbose_name_plural = "retention policies"
        ordering = ["kind"]

    def __str__(self):
        return f"{self.kind}: {self.days} days{' (legal hold)' if self.legal_hold else ''}"

    @classmethod
    def for_kind(cls, kind_slug):
        with audit_suppressed():  # the default, stored when first read, is nobody's change
            policy, _ = cls.objects.get_or_create(
                kind=kind_slug, defaults={"days": registry[kind_slug].retention_days})
        return policy


class DeletionJob(JobProgress, models.Model):
    """An administrator's "delete logs older than …" request, run as a task with progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    job_id = models.UUIDField("job ID", default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16)
    before = models.DateTimeField(help_text="rows that occurred before this time are deleted")
    requested_by = models.CharField(max_length=150)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_deleted = models.PositiveBigIntegerField(default=0)
    done_field = "rows_deleted"
    estimated_total = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"delete {self.kind} before {self.before:%Y-%m-%d} ({self.status})"



class UsageRollup(models.Model):
    """Usage summed per hour (UTC) and a set of dimensions.

    Several rollups of different width exist; a stats query reads the narrowest one that
    has every dimension it groups or filters by (logcenter.analytics.stats). All are kept current
    as rows arrive (logcenter.analytics.rollups): the portable engine adds to each in the
    ingestion's transaction; the PostgreSQL engine appends to UsageRollupInbox, which a job
    folds in within seconds (stats add what still waits there).
    """

    DIMENSIONS: tuple = ()

    hour = models.DateTimeField()
    requests = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=8, default=0)
    quota = models.BigIntegerField(default=0)
    credits = models.DecimalField(max_digits=24, decimal_places=4, default=0)
    latency_ms_sum = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 {self.requests} requests"


def _dimension(max_length):
    return models.CharField(max_length=max_length, blank=True, default="")


class UserDimensions(models.Model):
    user_id = _dimension(64)
    username = _dimension(150)

    class Meta:
        abstract = True


class KeyDimensions(models.Model):
    api_key_id = _dimension(64)
    api_key_name = _dimension(100)

    class Meta:
        abstract = True


class RouteDimensions(models.Model):
    platform_model = _dimension(100)
    upstream_name = _dimension(100)
    group = _dimension(64)
    endpoint = _dimension(32)

    class Meta:
        abstract = True


class StatusDimension(models.Model):
    status = _dimension(16)

    class Meta:
        abstract = True


class OrganizationDimensions(models.Model):
    organization_id = _dimension(64)
    project_id = _dimension(64)

    class Meta:
        abstract = True


# A user belongs to one organization and a key to one project: the organization columns
# add few rows to the rollups keyed by user or key.
HOURLY_DIMENSIONS = ("user_id", "username", "api_key_id", "api_key_name", "platform_model",
                     "upstream_name", "group", "endpoint", "status", "organization_id",
                     "project_id")
BY_ROUTE_DIMENSIONS = ("platform_model", "upstream_name", "group", "endpoint", "status")
BY_USER_DIMENSIONS = ("user_id", "username", "status")
BY_USER_ONLY_DIMENSIONS = ("user_id", "username")
BY_MODEL_DIMENSIONS = ("platform_model", "status")
BY_KEY_DIMENSIONS = ("api_key_id", "api_key_name")
BY_ORGANIZATION_DIMENSIONS = ("organization_id", "project_id", "status")


class UsageHourly(UsageRollup, UserDimensions, KeyDimensions, RouteDimensions,
                  StatusDimension, OrganizationDimensions):
    """Every dimension the usage filters can name: the fallback of the rollups (and an
    organization's figures by model, user or key, read through its organization index)."""

    DIMENSIONS = HOURLY_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *HOURLY_DIMENSIONS],
                                               name="usage_hourly_key_by_organization")]
        indexes = [models.Index(fields=["user_id", "hour"], name="usage_hourly_user_idx"),
                   models.Index(fields=["organization_id", "hour"],
                                name="usage_hourly_org_idx")]


class UsageHourlyByRoute(UsageRollup, RouteDimensions, StatusDimension):
    """Model routes: spend by model, upstream, group, endpoint and status."""

    DIMENSIONS = BY_ROUTE_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_ROUTE_DIMENSIONS],
                                               name="usage_hourly_route_key")]


class UsageHourlyByUser(UsageRollup, UserDimensions, StatusDimension):
    """People only: usage per user (and so a member's own figures)."""

    DIMENSIONS = BY_USER_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_USER_DIMENSIONS],
                                               name="usage_hourly_user_key")]


class UsageHourlyByUserOnly(UsageRollup, UserDimensions):
    """People only, every status together: a user's hour is one row, so usage by user per
    hour (and a member's own totals) reads no row twice to add statuses up."""

    DIMENSIONS = BY_USER_ONLY_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_USER_ONLY_DIMENSIONS],
                                               name="usage_hourly_user_only_key")]


class UsageHourlyByModel(UsageRollup, StatusDimension):
    """Platform models only: the spend chart, and totals without any dimension."""

    DIMENSIONS = BY_MODEL_DIMENSIONS

    platform_model = _dimension(100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_MODEL_DIMENSIONS],
                                               name="usage_hourly_model_key")]


class UsageHourlyByKey(UsageRollup, KeyDimensions):
    """API keys only, every status together: usage by API key per hour (a breakdown by key
    over a week reads one row per key and hour, not one per user, model and route)."""

    DIMENSIONS = BY_KEY_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_KEY_DIMENSIONS],
                                               name="usage_hourly_key_key")]


class UsageHourlyByOrganization(UsageRollup, OrganizationDimensions, StatusDimension):
    """Customers: usage per organization, project and status (an organization's own
    totals and error rate, the staff's top organizations, buckets grouped by them)."""

    DIMENSIONS = BY_ORGANIZATION_DIMENSIONS

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", *BY_ORGANIZATION_DIMENSIONS],
                                               name="usage_hourly_organization_key")]
        indexes = [models.Index(fields=["organization_id", "hour"],
                                name="usage_hourly_organization_idx")]


# Narrowest first: stats read the first one that has every dimension a query needs.
USAGE_ROLLUPS = (UsageHourlyByModel, UsageHourlyByUserOnly, UsageHourlyByKey,
                 UsageHourlyByOrganization, UsageHourlyByUser, UsageHourlyByRoute, UsageHourly)


class UsageRollupInbox(UsageRollup, UserDimensions, KeyDimensions, RouteDimensions,
                       StatusDimension, OrganizationDimensions):
    """Sums of freshly ingested rows, not yet folded into the rollups (PostgreSQL).

    Ingestion appends one row per group of its batch: a plain insert, where upserting
    every rollup cost more than storing the rows. A job folds the inbox into every rollup
    within seconds (logcenter.analytics.rollups.rollup_fold); stats add what is still here, so they
    are exact at any moment.
    """

    DIMENSIONS = HOURLY_DIMENSIONS

    class Meta:
        verbose_name_plural = "usage rollup inbox"
        # "Does anything wait for these closed hours?" (stats._pending_within, every usage
        # chart): a seek, not a scan of the rows (and the dead rows of every fold) that
        # wait for the current hour.
        indexes = [models.Index(fields=["hour"], name="usage_inbox_hour_idx")]


# Hours this far behind the clock are "closed": their rollup rows change only when a late
# row arrives for them, or a purge or rebuild recomputes them, and each of those gives
# UsageRollupEpoch a new version.
CLOSED_HOURS_LAG = timedelta(hours=2)


class UsageRollupEpoch(models.Model):
    """One row: a version of the rollups' closed hours, made anew each time they change.

    Stats cache what the rollups say about closed hours (analytics.stats), keyed by this
    version, read in the same snapshot as the rows it stands for: a fold of late rows, a
    purge or a rebuild sets a new one in its own transaction, so no cached answer outlives
    the rows it was read from. Random rather than a count: a database put back to an
    earlier state (a test's rollback) never meets answers cached after it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    closed_hours_version = models.UUIDField(default=uuid.uuid4)

    def __str__(self):
        return f"closed hours version {self.closed_hours_version}"


class UsageLedger(models.Model):
    """Every usage event_id stored, once, whatever its time.

    The partitioned usage table can hold event_id unique only per occurred_at (PostgreSQL
    wants the partition key in every unique index), so an event re-sent with another time
    would be stored, and billed, twice. Ingestion inserts here in the same statement as the
    rows and stores only the ids this insert took (logcenter.ingest.ingestion); retention deletes
    an id once the rows it covers are gone (`occurred_at`: the time stored with it).
    """

    event_id = models.UUIDField("event ID", primary_key=True)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["occurred_at"], name="usage_ledger_time_idx")]

    def __str__(self):
        return str(self.event_id)


# The integrity room's models (digest blocks, removal records, verification runs).
from logcenter.integrity.models import DigestBlock, IntegrityCheck, RemovalRecord  # noqa: E402,F401
# The streams room's (log stream destinations).
from logcenter.streams.models import Destination  # noqa: E402,F401


# --- the console's own settings per user: saved views, columns; known values -----------

class SavedView(models.Model):
    """A named list query of one kind: its filters and window, sort, columns and page size.

    Private to its owner, or shared with one role (every holder of it may apply it, only the
    owner changes it). One of an owner's views per kind may be their default: opening the
    tab without parameters applies it. Resolved for every face in logcenter.core.presentation.
    """

    owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE,
                              related_name="saved_views")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16)
    # The filters and the window, {"name": [values]}, as a list's query string gives them.
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    ordering = models.CharField(_("sort"), max_length=32, blank=True, default="")
    # Visible columns (field names, in order); empty: the user's or the table's own.
    columns = models.JSONField(_("columns"), default=list, blank=True)
    page_size = models.PositiveIntegerField(_("page size"), null=True, blank=True)
    # None: private. Deleting the role makes its views private again.
    shared_with_role = models.ForeignKey("auth.Group", on_delete=models.SET_NULL, null=True,
                                         blank=True, related_name="+",
                                         verbose_name=_("shared with role"))
    is_default = models.BooleanField(_("default"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [models.UniqueConstraint(
            fields=["owner", "kind"], condition=models.Q(is_default=True),
            name="saved_view_one_default")]
        indexes = [models.Index(fields=["owner", "kind"], name="saved_view_owner_idx"),
                   models.Index(fields=["shared_with_role", "kind"],
                                name="saved_view_role_idx")]

    def __str__(self):
        return f"{self.kind}: {self.name}"

    def as_params(self) -> dict:
        """{"name": [values]}: the view as a list's query string (filters, sort, columns,
        page size)."""
        params = {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
                  for k, vs in (self.filters or {}).items()}
        if self.ordering:
            params["ordering"] = [self.ordering]
        if self.columns:
            params["columns"] = [",".join(self.columns)]
        if self.page_size:
            params["page_size"] = [str(self.page_size)]
        return params


class ColumnPreference(models.Model):
    """The columns a user chose for one tab's table (field names, in order)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE,
                             related_name="column_preferences")
    kind = models.CharField(max_length=16)
    columns = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"],
                                               name="column_preference_key")]

    def __str__(self):
        return f"{self.user_id} {self.kind}: {', '.join(self.columns)}"


class KnownValue(models.Model):
    """A value seen in one field of one kind: what the filter bar suggests.

    Filled by a beat job from the rows stored since its last run
    (logcenter.analytics.known_values), so that a suggestion never reads the log tables.
    Global: shown only to roles that see every row of the kind."""

    kind = models.CharField(max_length=16)
    field = models.CharField(max_length=64)
    value = models.CharField(max_length=254)
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "field", "value"],
                                               name="known_value_key")]

    def __str__(self):
        return f"{self.kind}.{self.field}={self.value}"
