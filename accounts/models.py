import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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
    def generate(cls, *, owner, name, scopes, group="default", kinds=()):
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
        )
        return key, secret

    @classmethod
    def from_secret(cls, secret: str):
        return cls.objects.active().select_related("owner").filter(
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
