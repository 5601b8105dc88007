"""Sign-in with lockout, unlock, and API key lifecycle: each writes its log events."""

from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from logcenter.models import Result
from logcenter.core.request_context import client_ip
from logcenter.core import admin_audit
from logcenter.core.audit_actions import AuditAction
from logcenter.core.services import auth_event_record

from accounts.models import ApiKey, SignInThrottle

def ingest_kinds():
    """The log kinds an ingest key may be allowed to write: every registered kind."""
    from logcenter.core.registry import registry

    return [kind.slug for kind in registry]


INVALID = "invalid"
LOCKED = "locked"


@dataclass
class SignInResult:
    user: object = None
    failure: str = ""  # "" on success; INVALID or LOCKED: what the page may say
    reason: str = ""  # the precise reason, for the auth log only


def utc_text(moment):
    """A moment as ISO 8601 UTC to the second, as the API writes times."""
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _throttle_for_update(key):
    # INSERT … ON CONFLICT DO NOTHING, then lock the row: safe under concurrency.
    SignInThrottle.objects.bulk_create([SignInThrottle(key=key)], ignore_conflicts=True)
    return SignInThrottle.objects.select_for_update().get(key=key)


def _count_failure(throttle, now, limit):
    """Count one failure; True when this failure reaches the limit and locks."""
    window = timedelta(seconds=settings.SIGNIN["WINDOW_SECONDS"])
    if throttle.window_started_at is None or now - throttle.window_started_at > window:
        throttle.failures = 0
        throttle.window_started_at = now
    throttle.failures += 1
    locked = throttle.failures >= limit
    if locked:
        throttle.locked_until = now + timedelta(seconds=settings.SIGNIN["LOCK_SECONDS"])
        throttle.failures = 0
        throttle.window_started_at = None
    throttle.save()
    return locked


def find_user(identifier):
    User = get_user_model()
    return User.objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier)).first()


def throttle_key(identifier, user=None):
    """The failure counter an attempt counts against: one per account, whichever of its
    names (username or e-mail, any case) was typed; an identifier that names no account
    has a counter of its own, so unknown names are throttled as known ones are."""
    if user is not None:
        return f"account:{user.pk}"
    return f"user:{identifier.lower()}"[:300]


def sign_in(request, identifier, password) -> SignInResult:
    """Judge one sign-in attempt. Counting is atomic: the account's (and the IP's)
    throttle rows stay locked until the attempt is recorded."""
    identifier = (identifier or "").strip()
    now = timezone.now()
    ip = getattr(request, "client_ip", None) or client_ip(request)
    with transaction.atomic():
        known = find_user(identifier)
        user_throttle = _throttle_for_update(throttle_key(identifier, known))
        ip_throttle = _throttle_for_update(f"ip:{ip}") if ip else None
        if user_throttle.is_locked(now):
            result = SignInResult(failure=LOCKED, reason="locked")
        elif ip_throttle is not None and ip_throttle.is_locked(now):
            result = SignInResult(failure=LOCKED, reason="ip_blocked")
        else:
            user = authenticate(request, username=known.username if known else identifier,
                                password=password)
            if user is not None:
                user_throttle.failures = 0
                user_throttle.window_started_at = None
                user_throttle.save()
                return SignInResult(user=user)
            if known is None:
                reason = "unknown_user"
            elif not known.is_active:
                reason = "inactive"
            else:
                reason = "bad_password"
            result = SignInResult(failure=INVALID, reason=reason)
            newly_locked = _count_failure(user_throttle, now, settings.SIGNIN["MAX_FAILURES"])
            if ip_throttle is not None:
                _count_failure(ip_throttle, now, settings.SIGNIN["IP_MAX_FAILURES"])
            if newly_locked:
                # Support answering "why can't I sign in" reads until when on the event.
                auth_event_record(event="account.locked", user=known,
                                  username_attempted=identifier, result=Result.FAILURE,
                                  failure_reason="too_many_failures",
                                  metadata={"locked_until": utc_text(user_throttle.locked_until)})
        auth_event_record(event="login.failed", user=known, username_attempted=identifier,
                          result=Result.FAILURE, failure_reason=result.reason)
        return result


def record_sign_in(request, user):
    """After login(): the success event, with a hash of the new session key."""
    auth_event_record(event="login.succeeded", user=user,
                      session_key=request.session.session_key or "")


def unlock_account(*, actor, user):
    """An administrator lifts a lockout (audited, and an auth event for the user)."""
    key = throttle_key("", user)
    # Counters from before failures were counted per account were kept per typed name.
    by_name = [f"user:{user.username.lower()}", f"user:{user.email.lower()}"]
    with transaction.atomic():
        throttle = SignInThrottle.objects.select_for_update().filter(key=key).first()
        was_locked = bool(throttle and throttle.is_locked(timezone.now()))
        SignInThrottle.objects.filter(
            key__in=[key, *by_name]
        ).update(failures=0, locked_until=None, window_started_at=None)
        auth_event_record(event="account.unlocked", user=user, actor=actor)
        admin_audit.record(AuditAction.USER_UNLOCKED, user, actor=actor,
                           changes={"locked": {"before": was_locked, "after": False}})


def api_key_create(*, actor, owner, name, scopes, group="default", kinds=()):
    """Returns (key, secret); the secret is shown once and stored only as a hash.

    An ingest key is a service key: it writes log rows, so only an actor with
    add_ingest_apikey (administrators; None is an operator at the shell) may make one, and
    it names the kinds it may write. PermissionDenied / ValueError otherwise."""
    kinds = sorted(set(kinds))
    if ApiKey.Scope.INGEST in scopes:
        if actor is not None and not actor.has_perm("accounts.add_ingest_apikey"):
            raise PermissionDenied("Only administrators create ingest keys.")
        unknown = set(kinds) - set(ingest_kinds())
        if not kinds or unknown:
            raise ValueError(f"An ingest key names the kinds it may write, among: "
                             f"{', '.join(ingest_kinds())}.")
    elif kinds:
        raise ValueError("Only an ingest key writes log kinds.")
    with admin_audit.acting_as(actor):  # api_key.created, with every field (accounts.signals)
        key, secret = ApiKey.generate(owner=owner, name=name, scopes=scopes, group=group,
                                      kinds=kinds)
    return key, secret


def api_key_revoke(*, actor, key):
    if key.status == ApiKey.Status.REVOKED:
        return key
    key.status = ApiKey.Status.REVOKED
    key.revoked_at = timezone.now()
    with admin_audit.acting_as(actor):  # api_key.revoked (accounts.signals)
        key.save(update_fields=["status", "revoked_at"])
    return key
