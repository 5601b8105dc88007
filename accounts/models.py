import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

TIMEZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]


class User(AbstractUser):
    """A console user. Log rows keep snapshots of name and email, never a foreign key."""

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, choices=TIMEZONE_CHOICES, default="UTC")
    # The console's language for this user (the switcher saves it); empty: the browser's.
    language = models.CharField(_("language"), max_length=16, choices=settings.LANGUAGES,
                                blank=True, default="")

    REQUIRED_FIELDS = ["email"]

    class Meta(AbstractUser.Meta):
        # Support lifts a lockout from the user's account page without being able to
        # edit users (accounts.roles grants it to Administrator and Support).
        permissions = [("unlock_user", "Can unlock an account locked out of sign-in")]

    def __str__(self):
        return self.display_name or self.username


def _public_id(prefix):
    return lambda: f"{prefix}_{secrets.token_hex(8)}"


def new_organization_id():
    return _public_id("org")()


def new_project_id():
    return _public_id("proj")()


class Plan(models.Model):
    """What an organization's subscription allows: how far back it sees and keeps each
    kind of log, which export formats it may use, whether it may stream. Data, not code:
    platform administrators edit plans (audited); the seeds are made by migration 0007."""

    slug = models.SlugField(_("slug"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    # {kind slug: days, or null for unlimited}. A kind the plan does not name is unlimited
    # (the platform's own retention policy still applies to everyone).
    retention_days = models.JSONField(_("retention days per kind"), default=dict, blank=True)
    # The export formats (ExportJob.Format values) the organization may use; empty: none.
    export_formats = models.JSONField(_("export formats"), default=list, blank=True)
    streaming_allowed = models.BooleanField(_("log streaming allowed"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self):
        return self.name

    def retention_for(self, kind_slug):
        """Days of `kind_slug` this plan keeps and shows, or None for unlimited."""
        days = self.retention_days.get(kind_slug)
        return None if days is None else int(days)

    def allows_export(self, fmt=None):
        return bool(self.export_formats) if fmt is None else fmt in self.export_formats


class Organization(models.Model):
    """A customer. Log rows name it by `public_id` (a snapshot string, never a foreign
    key): `organization_id` on every row."""

    public_id = models.CharField(_("organization ID"), max_length=64, unique=True,
                                 default=new_organization_id)
    name = models.CharField(_("name"), max_length=150)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations",
                             verbose_name=_("plan"))
    # Stops every purge of this organization's rows (per-plan and platform), like the
    # per-kind legal hold of the retention policy.
    legal_hold = models.BooleanField(_("legal hold"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self):
        return self.name

    @property
    def default_project(self):
        return self.projects.filter(is_default=True).first()


class Project(models.Model):
    """A part of an organization (OpenAI's project): API keys belong to one, and rows
    name it by `public_id` in `project_id`. Every organization has one default project."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="projects", verbose_name=_("organization"))
    public_id = models.CharField(_("project ID"), max_length=64, unique=True,
                                 default=new_project_id)
    name = models.CharField(_("name"), max_length=150)
    slug = models.SlugField(_("slug"), max_length=64)
    is_default = models.BooleanField(_("default project"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["organization", "-is_default", "name"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"],
                                    name="accounts_project_slug_per_org"),
            models.UniqueConstraint(fields=["organization"], condition=models.Q(is_default=True),
                                    name="accounts_project_one_default_per_org"),
        ]

    def __str__(self):
        return self.name


class OrganizationRole(models.TextChoices):
    OWNER = "owner", pgettext_lazy("organization role", "Owner")
    ADMIN = "admin", pgettext_lazy("organization role", "Admin")
    AUDITOR = "auditor", pgettext_lazy("organization role", "Auditor")
    MEMBER = "member", pgettext_lazy("organization role", "Member")


# What each organization role may do with its organization's logs (the seeds' audit.read
# and audit.export): read sees every row of the organization, export also needs a plan
# that allows the format. A member sees their own rows, as without an organization.
ORGANIZATION_ROLE_PERMISSIONS = {
    OrganizationRole.OWNER: {"audit.read", "audit.export", "streams.manage"},
    OrganizationRole.ADMIN: {"audit.read", "audit.export", "streams.manage"},
    OrganizationRole.AUDITOR: {"audit.read", "audit.export"},
    OrganizationRole.MEMBER: set(),
}


class Membership(models.Model):
    """A user's place in an organization. A user belongs to at most one organization;
    platform staff (the console roles that see every user's rows) belong to none."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership",
                                verbose_name=_("user"))
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE,
                                     related_name="memberships",
                                     verbose_name=_("organization"))
    role = models.CharField(_("organization role"), max_length=16,
                            choices=OrganizationRole.choices, default=OrganizationRole.MEMBER)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["organization", "user"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.role})"

    def has_permission(self, name):
        """`audit.read` or `audit.export`, as the organization role grants them."""
        return name in ORGANIZATION_ROLE_PERMISSIONS.get(self.role, set())


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=ApiKey.Status.ACTIVE)


class ApiKey(models.Model):
    """A platform API key. Only a prefix and a SHA-256 of the secret are stored."""

    PREFIX_LENGTH = 12  # "lc_" + 9 characters: enough to tell keys apart in logs

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REVOKED = "revoked", _("Revoked")

    class Scope(models.TextChoices):
        READ = "read", _("Read logs")
        INGEST = "ingest", _("Ingest logs")

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    # A customer's key belongs to one of its organization's projects: the rows it writes
    # carry that organization and project (ingestion fills and enforces them). Platform
    # keys (the gateway's own service keys, staff read keys) belong to none.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="api_keys", verbose_name=_("project"))
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    group = models.CharField(max_length=64, blank=True, default="default")
    scopes = models.JSONField(default=list)
    # The log kinds an ingest key may write (registry slugs): a service key for the gateway
    # writes usage, auth and system events; only a key that lists "audit" may report audit
    # events. Only administrators create ingest keys (add_ingest_apikey).
    kinds = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("add_ingest_apikey",
                        "Can create ingest keys (service keys that write logs)")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_service_key(self) -> bool:
        """An ingest key: it writes log rows, so only an administrator may make one."""
        return self.Scope.INGEST in self.scopes

    def may_ingest(self, kind_slug: str) -> bool:
        return self.is_service_key and kind_slug in self.kinds

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def generate(cls, *, owner, name, scopes, group="default", kinds=(), project=None):
        """Create a key; returns (key, secret). The secret exists only in this return value."""
        secret = "lc_" + secrets.token_urlsafe(32)
        key = cls.objects.create(
            owner=owner,
            name=name,
            prefix=secret[: cls.PREFIX_LENGTH],
            secret_hash=cls.hash_secret(secret),
            scopes=sorted(set(scopes)),
            kinds=sorted(set(kinds)),
            group=group,
            project=project,
        )
        return key, secret

    @classmethod
    def from_secret(cls, secret: str):
        return cls.objects.active().select_related("owner", "project__organization").filter(
            secret_hash=cls.hash_secret(secret)
        ).first()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class SignInThrottle(models.Model):
    """Failure counter for one account ("account:<pk>", whichever of its username or e-mail
    was typed), one identifier that names no account ("user:<typed name>"), or one client
    IP ("ip:<addr>").

    Rows are locked with SELECT … FOR UPDATE while an attempt is judged, so parallel
    attempts are counted one at a time (see accounts.services.sign_in).
    """

    key = models.CharField(max_length=300, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.key

    def is_locked(self, now):
        return self.locked_until is not None and self.locked_until > now
