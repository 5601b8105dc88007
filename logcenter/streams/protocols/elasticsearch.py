"""Elasticsearch and OpenSearch: a batch is one `_bulk` request of `create` actions, each
document in ECS form with the event's id as `_id`, so sending a batch again is a no-op.

    POST <endpoint>/_bulk?filter_path=errors,items.*.status,items.*.error
    Content-Type: application/x-ndjson
    Authorization: ApiKey <base64 of id:api_key>   or   Basic <base64 of user:password>

    {"create": {"_index": "logcenter-2025.06.10", "_id": "<event_id>"}}
    {"@timestamp": "2025-06-10T08:00:00.123456Z", "event": {"action": …}, …}
    …

- Documents: documents.ecs_document (its ECS_FIELDS table is the one mapping; what ECS
  has no field for stays under `logcenter.*`).
- Where: an index per day, `<index_prefix>-YYYY.MM.DD` from @timestamp (UTC), or with the
  data_stream option that data stream (`create` is the only action a data stream takes;
  its index template must exist: Elasticsearch's built-in `logs-*-*` matches a name such
  as logs-logcenter-default). A per-day index dedupes for good; a data stream dedupes
  within its current backing index, so a batch sent again after a rollover can be stored
  twice (same event.id).
- Auth, either one: an API key (credential `api_key`: the `encoded` value Elasticsearch
  returns, or `id:api_key`, encoded here), or a user (option `username`, credential
  `password`: basic auth). A username set means the user, whatever key is stored, so
  switching back to the key is clearing the username (an empty credential keeps the stored
  one). Neither: no Authorization header (a cluster without security, behind a network
  boundary).

What counts as delivered: every item created (201) or already there (409
version_conflict_engine_exception: a batch sent again). Items that failed with 429 or a
5xx (es_rejected_execution_exception and the like) are sent again on their own, within
send, up to ITEM_TRIES times with a short doubling backoff; any other item error (a
mapping conflict) cannot heal by itself. Items still failing: DeliveryFailed naming the
first one's error type and reason; the whole batch is sent again later, and the items
already created come back as 409s. A 413 (the request over http.max_content_length)
splits the batch in halves, down to one document.

Why plain HTTP (urllib3, as base.Protocol.post uses it) and not elasticsearch-py or
opensearch-py: elasticsearch-py refuses to talk to OpenSearch (its product check), a client
per product would be two dependencies for one request, and both retry on their own
(hidden retries and their own backoff, where the pump must decide when to try again and
honour Retry-After). The bulk protocol is one POST; base.post gives one HTTP layer for
every type, with timeouts, Retry-After and credentials scrubbed from every error.
"""

import base64
import random
import time

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from logcenter.streams import documents as event_documents
from logcenter.streams.protocols.base import (DeliveryFailed, Protocol, ndjson,
                                              retry_after_seconds)

BULK_PATH = "/_bulk"
# Only what send reads: a 500-item answer shrinks from ~100 kB to a few kB.
BULK_QUERY = "?filter_path=errors,items.*.status,items.*.error"
DEFAULT_INDEX_PREFIX = "logcenter"
ITEM_TRIES = 4  # the first send and three more for items failing with 429 or 5xx
ITEM_BACKOFF_SECONDS = 0.25  # doubling: 0.25, 0.5, 1 s (with jitter)

# Index and data stream names: lower case, no \ / * ? " < > | , # : or space, not starting
# with - _ + or a dot (checked for the prefix and the data stream's name).
index_name = RegexValidator(r"^[a-z0-9][a-z0-9._-]*$",
                            _("Lower-case letters, digits, ., _ and -; starting with a letter "
                              "or a digit."))


def bulk_url(endpoint):
    base = endpoint.rstrip("/")
    if base.endswith(BULK_PATH):
        base = base[:-len(BULK_PATH)]
    return base + BULK_PATH + BULK_QUERY


def daily_index(prefix, timestamp):
    """`<prefix>-YYYY.MM.DD` of an ECS @timestamp ("2025-06-10T08:00:00.123456Z", UTC)."""
    return f"{prefix}-{timestamp[0:4]}.{timestamp[5:7]}.{timestamp[8:10]}"


def authorization(credentials, username):
    """The Authorization header's value, or None (no credentials: a cluster without
    security)."""
    if username:
        pair = f"{username}:{credentials.get('password', '')}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    api_key = credentials.get("api_key", "")
    if not api_key:
        return None
    if ":" in api_key:  # id:api_key as created; the `encoded` value has no colon
        api_key = base64.b64encode(api_key.encode()).decode()
    return "ApiKey " + api_key


def error_text(error):
    """"type: reason" of an Elasticsearch error object (or whatever was given)."""
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".rstrip(": ")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" (caused by {error_text(cause)})"
        return text
    return str(error)


def _header(headers, name):
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


class _Item:
    __slots__ = ("event_id", "lines", "status", "error")

    def __init__(self, event_id, lines):
        self.event_id, self.lines = event_id, lines
        self.status, self.error = None, None

    @property
    def retryable(self):
        return self.status == 429 or self.status >= 500


class ElasticsearchBulk(Protocol):
    type = "elasticsearch"
    endpoint_help = _("The cluster's address, such as https://es.example.com:9200 (Elastic "
                      "Cloud and Amazon OpenSearch: the endpoint the console shows).")
    option_fields = {
        "index_prefix": forms.CharField(
            label=_("Index prefix"), required=False, max_length=200, validators=[index_name],
            initial=DEFAULT_INDEX_PREFIX,
            help_text=_("One index per day: <prefix>-YYYY.MM.DD, by the event's time (UTC). "
                        "Empty: logcenter.")),
        "data_stream": forms.CharField(
            label=_("Data stream"), required=False, max_length=200, validators=[index_name],
            help_text=_("A data stream's name, such as logs-logcenter-default: events go "
                        "there instead of an index per day. An index template must make it "
                        "a data stream.")),
        "username": forms.CharField(
            label=_("Username"), required=False, max_length=200,
            help_text=_("For a user and password instead of an API key. Empty: the API "
                        "key is used.")),
    }
    credential_fields = {
        "api_key": forms.CharField(
            label=_("API key"), required=False,
            help_text=_("Its encoded value, or id:api_key. It needs the create_doc and "
                        "auto_configure privileges on the indices or the data stream.")),
        "password": forms.CharField(label=_("Password"), required=False,
                                    help_text=_("The password of the user named above.")),
    }

    @classmethod
    def check_endpoint(cls, endpoint):
        cls.check_base_address(endpoint, _("Enter the cluster's address without a query, such as "
                                    "https://es.example.com:9200."))

    def __init__(self, destination, credentials=None):
        super().__init__(destination, credentials)
        self.url = bulk_url(destination.endpoint)
        self.data_stream = self.options.get("data_stream") or ""
        self.index_prefix = self.options.get("index_prefix") or DEFAULT_INDEX_PREFIX
        self.username = self.options.get("username") or ""
        self.headers = {"Content-Type": "application/x-ndjson", "Accept": "application/json"}
        auth = authorization(self.credentials, self.username)
        if auth is not None:
            self.headers["Authorization"] = auth

    def target(self, ecs) -> str:
        return self.data_stream or daily_index(self.index_prefix, ecs["@timestamp"])

    def item(self, document) -> _Item:
        ecs = event_documents.ecs_document(document)
        action = {"create": {"_index": self.target(ecs), "_id": document["event_id"]}}
        return _Item(document["event_id"], ndjson([action, ecs]))

    def send(self, documents):
        if self.username and not self.credentials.get("password"):
            raise DeliveryFailed(f"The username {self.username} is set but no password is "
                                 "stored: enter it, or clear the username to use the API key.")
        items = [self.item(document) for document in documents]
        pending = items
        for attempt in range(ITEM_TRIES):
            if attempt:
                ceiling = ITEM_BACKOFF_SECONDS * 2 ** (attempt - 1)
                time.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
            self._bulk(pending)
            failed = [item for item in pending if item.error is not None]
            if not failed:
                return
            if not all(item.retryable for item in failed):
                break  # a mapping conflict or a bad document: retrying cannot help
            pending = failed
        first = next(item for item in items if item.error is not None)
        still = sum(item.error is not None for item in items)
        tries = f"{attempt + 1} tries" if attempt else "1 try"
        raise DeliveryFailed(
            self.scrub(f"{still} of {len(items)} documents not indexed ({tries}); the first "
                       f"(event {first.event_id}): HTTP {first.status}: "
                       f"{error_text(first.error)}"),
            status=first.status)

    def _bulk(self, items):
        """One bulk request for `items`, each item's status and error set from the answer
        (409: already there, delivered). A 413 halves the request."""
        response = self.post(self.url, b"".join(item.lines for item in items), self.headers,
                             ok=range(200, 600))
        if response.status == 413 and len(items) > 1:
            half = len(items) // 2
            self._bulk(items[:half])
            self._bulk(items[half:])
            return
        if not 200 <= response.status < 300:
            self._refused(response, items)
        try:
            answer = response.json()
            results = [next(iter(entry.values())) for entry in answer["items"]]
        except (ValueError, TypeError, KeyError, AttributeError, StopIteration):
            raise DeliveryFailed(f"HTTP {response.status}: not a bulk answer: "
                                 f"{response.body[:200]!r}") from None
        if len(results) != len(items):
            raise DeliveryFailed(f"The bulk answer has {len(results)} items for "
                                 f"{len(items)} documents.")
        for item, result in zip(items, results):
            item.status = int(result.get("status") or 0)
            delivered = 200 <= item.status < 300 or item.status == 409
            item.error = None if delivered else (result.get("error") or f"HTTP {item.status}")

    def _refused(self, response, items):
        """The whole request refused: DeliveryFailed with the cluster's error."""
        if response.status == 413:
            raise DeliveryFailed(
                f"HTTP 413: event {items[0].event_id} alone is larger than the cluster "
                "accepts in one request (http.max_content_length).", status=413)
        try:
            said = error_text(response.json()["error"])
        except (ValueError, TypeError, KeyError):
            said = response.body[:300].decode("utf-8", "replace").strip() or "(no body)"
        retry_after = (retry_after_seconds(_header(response.headers, "Retry-After"))
                       if response.status in (429, 503) else None)
        raise DeliveryFailed(self.scrub(f"HTTP {response.status}: {said}"),
                             retry_after=retry_after, status=response.status)
