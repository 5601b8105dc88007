"""Per-request context for the app's own events: request ID, client IP, user agent; and
whether the admin audit is suppressed (logcenter.core.admin_audit) where this runs.

The middleware honours a well-formed incoming X-Request-ID (else makes one), returns it
in the response, and keeps it in a context variable so any event written while the
request runs (sign-ins, audited changes, system events) carries it.
"""

import ipaddress
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    request: object = None

    @property
    def user(self):
        """The signed-in user of the request (resolved late: auth runs after us)."""
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None


_current: ContextVar[RequestContext] = ContextVar("logcenter_request", default=RequestContext())


def current() -> RequestContext:
    return _current.get()


def _trusted(addr):
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False)
               for net in settings.LOGCENTER["TRUSTED_PROXIES"])


def client_ip(request):
    """The peer's address; X-Forwarded-For is believed only when the peer is a trusted
    proxy, and then the right-most address that is not itself a trusted proxy wins."""
    peer = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if peer and forwarded and _trusted(peer):
        for candidate in reversed([p.strip() for p in forwarded.split(",") if p.strip()]):
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                break
            if not _trusted(candidate):
                return candidate
    return peer


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if REQUEST_ID_RE.match(incoming) else f"req_{uuid.uuid4().hex[:24]}"
        request.request_id = request_id
        request.client_ip = client_ip(request)
        token = _current.set(RequestContext(
            request_id=request_id,
            ip=request.client_ip,
            user_agent=request.headers.get("User-Agent", "")[:512],
            request=request,
        ))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


_audit_suppressed: ContextVar[bool] = ContextVar("admin_audit_suppressed", default=False)


@contextmanager
def audit_suppressed():
    """For loading demo data, which writes its own audit history, and for defaults the
    app creates itself: the admin audit (logcenter.core.admin_audit) writes no events."""
    token = _audit_suppressed.set(True)
    try:
        yield
    finally:
        _audit_suppressed.reset(token)


def is_audit_suppressed() -> bool:
    return _audit_suppressed.get()
