"""A custom JSON webhook: batches POSTed as JSON, signed so a receiver can reject forgeries
and replays.

    POST <endpoint>
    Content-Type: application/json
    Logcenter-Destination: dst_…
    Logcenter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

    {"destination": "dst_…", "events": [<event document>, …]}

The receiver recomputes the HMAC over the timestamp, a dot and the raw body, compares in
constant time, and refuses a timestamp older than its tolerance (5 minutes is usual):
docs/operations.md has the check in Python. Any 2xx is an acknowledgement.
"""

import hashlib
import hmac
import time

import orjson

from django import forms
from django.utils.translation import gettext_lazy as _

from logcenter.streams.protocols.base import Protocol

SIGNATURE_HEADER = "Logcenter-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, tolerance=300, now=None) -> bool:
    """The receiver's check (the reference for docs/operations.md's snippet)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class Webhook(Protocol):
    type = "webhook"
    endpoint_help = _("The receiver's https:// address.")
    credential_fields = {
        "secret": forms.CharField(label=_("Signing secret"), min_length=16,
                                  help_text=_("At least 16 characters, shared with the "
                                              "receiver, which checks each batch's signature.")),
    }

    def send(self, documents):
        body = orjson.dumps({"destination": self.destination.public_id, "events": documents})
        headers = {"Content-Type": "application/json",
                   "Logcenter-Destination": self.destination.public_id,
                   SIGNATURE_HEADER: signature(self.credentials["secret"], int(time.time()),
                                               body)}
        self.post(self.destination.endpoint, body, headers)
