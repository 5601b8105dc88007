"""What every destination type is: its settings, its secrets, and how it sends a batch.

A Protocol subclass per type (named in `protocols.CLASSES`) declares:
- `option_fields`: its non-secret settings as form fields (stored in Destination.options);
- `credential_fields`: its secrets as form fields (stored encrypted, never shown again);
- `check_endpoint`: the endpoint's validation (a ValidationError naming the problem);
- `send(documents)`: deliver one batch, returning only once the receiver acknowledged it
  (DeliveryFailed otherwise, with the receiver's Retry-After when it gave one).

A send may be repeated (a retry after a timeout whose request did arrive, a worker killed
after sending): every document carries its `event_id`, and the types that can make a
repeat a no-op do (Elasticsearch `create` with `_id`, S3 objects named by their cursor).
"""

import email.utils
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from logcenter.streams import secrets


class DeliveryFailed(Exception):
    """The batch was not acknowledged: it stays after the cursor and is sent again."""

    def __init__(self, message, *, retry_after=None, status=None):
        super().__init__(message)
        self.retry_after = retry_after  # seconds the receiver asked us to wait, or None
        self.status = status


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return orjson.loads(self.body or b"null")


def retry_after_seconds(value):
    """A Retry-After header (seconds, or an HTTP date) in seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_pool = None


def http_pool():
    """One connection pool per process (keep-alive to every receiver), no hidden retries:
    the pump decides when to try again."""
    global _pool
    if _pool is None:
        _pool = urllib3.PoolManager(num_pools=50, maxsize=4, retries=False)
    return _pool


class Protocol:
    type = ""
    option_fields: dict = {}  # name -> django.forms.Field
    credential_fields: dict = {}  # name -> django.forms.Field (write-only)
    endpoint_help = ""

    def __init__(self, destination, credentials=None):
        self.destination = destination
        self.options = destination.options or {}
        self.credentials = (secrets.decrypt(destination.credentials)
                            if credentials is None else credentials)

    @classmethod
    def check_endpoint(cls, endpoint):
        """ValidationError unless `endpoint` suits the type (the default: an http(s) URL)."""
        if not endpoint.startswith(("https://", "http://")):
            raise ValidationError(_("Enter an http:// or https:// address."))

    @classmethod
    def check_base_address(cls, endpoint, message):
        """ValidationError(`message`) unless `endpoint` is an http(s) address with a host
        and no query or fragment: a service's base, which the type appends its paths to."""
        Protocol.check_endpoint(endpoint)
        parts = urlsplit(endpoint)
        if not parts.hostname or parts.query or parts.fragment:
            raise ValidationError(message)

    def send(self, documents: list[dict]) -> None:
        raise NotImplementedError

    def close(self):
        pass

    # --- HTTP, for the types that speak it ------------------------------------------------

    def post(self, url, body: bytes, headers: dict, *, ok=range(200, 300)) -> Response:
        """POST and return the response if its status is in `ok` (any 2xx); else DeliveryFailed
        (with Retry-After on 429 and 503). Credentials never reach the error's text."""
        timeout = settings.LOGCENTER_STREAMS["HTTP_TIMEOUT_SECONDS"]
        try:
            raw = http_pool().request("POST", url, body=body, headers=headers,
                                      timeout=urllib3.Timeout(connect=min(5.0, timeout),
                                                              read=timeout),
                                      redirect=False, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            raise DeliveryFailed(self.scrub(f"{type(exc).__name__}: {exc}")) from None
        response = Response(raw.status, dict(raw.headers), raw.data)
        if response.status not in ok:
            retry_after = (retry_after_seconds(raw.headers.get("Retry-After"))
                           if response.status in (429, 503) else None)
            text = response.body[:300].decode("utf-8", "replace")
            raise DeliveryFailed(self.scrub(f"HTTP {response.status}: {text}"),
                                 retry_after=retry_after, status=response.status)
        return response

    def scrub(self, text):
        return secrets.scrub(text, self.credentials)


def ndjson(documents) -> bytes:
    """One JSON document a line (orjson: compact UTF-8, several times json's speed)."""
    return b"".join(orjson.dumps(doc) + b"\n" for doc in documents)
