"""Splunk HTTP Event Collector (HEC): a batch is one POST of concatenated JSON events, and
with indexer acknowledgement the cursor moves only once Splunk says the batch is indexed.

    POST <endpoint>/services/collector/event
    Authorization: Splunk <token>
    X-Splunk-Request-Channel: <the destination's channel>     (with acknowledgement)

    {"time": 1718000000.123456, "host": "logcenter", "source": "logcenter",
     "sourcetype": "logcenter:audit", "index": "security", "event": {<event document>}}
    {"time": …, "event": {…}}                                  (one object per event)

- `time` is occurred_at in epoch seconds, its microseconds kept; `event` is the event
  document (documents.event_document) as every destination receives it.
- `sourcetype`: logcenter:<kind> by default (logcenter:audit, logcenter:usage…), because
  the kinds' records differ and Splunk attaches field aliases, CIM mappings and
  retention to a sourcetype; the option sets one fixed sourcetype for every kind instead.
  Splunk extracts the JSON fields at search time either way (AUTO_KV_JSON).
- `index`: left out when empty (the token's default index); `source` defaults to
  "logcenter", `host` to "logcenter" (set it to the name your searches expect).
- The endpoint is the collector's base address (https://splunk.example.com:8088), with a
  path prefix when a proxy adds one; a pasted …/services/collector/event is accepted too.

Acknowledgement (option use_ack; Splunk Enterprise, a token with indexer acknowledgement
enabled): HEC's 200 only says the batch parsed. With use_ack every request names the
destination's own channel (a UUID derived from its public id, the same from any worker),
the answer carries an `ackId`, and `POST /services/collector/ack` with {"acks": [id]} is
polled (0.1 s, doubling to 2 s) until it answers {"acks": {"<id>": true}}. No true within
ack_timeout_seconds: DeliveryFailed, and the batch is sent again later (Splunk may then
hold it twice; repeats carry the same event_id).

Errors: HEC answers {"text": …, "code": …}; the error names both with the HTTP status
("HTTP 403: Invalid token (HEC code 4)"). A busy indexer answers 503 with code 9; its
Retry-After, like a 429's, sets when the pump tries again.

Why plain HTTP (urllib3, as base.Protocol.post uses it) and not a Splunk library: the
splunk-sdk speaks the management REST API (port 8089), not HEC, and the HEC protocol is
two small POSTs. One HTTP layer for every type gives exact control of timeouts, no hidden
retries, Retry-After, and credentials scrubbed from every error.
"""

import datetime
import json
import time
import uuid

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from logcenter.streams.protocols.base import (DeliveryFailed, Protocol, ndjson,
                                              retry_after_seconds)

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
CHANNEL_HEADER = "X-Splunk-Request-Channel"
# A destination's channel: uuid5 of its public id in this namespace (stable, per destination).
CHANNEL_NAMESPACE = uuid.UUID("5d0c3c2e-6f3b-4f53-9a43-6c6f6763656e")
DEFAULT_SOURCE = "logcenter"
DEFAULT_HOST = "logcenter"
DEFAULT_ACK_TIMEOUT = 60
ACK_FIRST_WAIT, ACK_MAX_WAIT = 0.1, 2.0

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def collector_base(endpoint):
    """The HEC base address of an endpoint (a pasted collector path taken off)."""
    base = endpoint.rstrip("/")
    for suffix in (EVENT_PATH, "/services/collector"):
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return base


def channel_of(destination):
    return str(uuid.uuid5(CHANNEL_NAMESPACE, destination.public_id))


def epoch_seconds(iso_time):
    """An event document's UTC time ("…T08:00:00.123456Z") in epoch seconds, exact to the
    microsecond (the float nearest the decimal value, which JSON writes back unchanged)."""
    when = datetime.datetime.fromisoformat(iso_time)
    micros = (when - _EPOCH) // datetime.timedelta(microseconds=1)
    return micros / 1_000_000  # an integer's true division: correctly rounded


def hec_error(body: bytes):
    """(text, code) of an HEC error answer; a body that is not HEC's JSON: its start."""
    try:
        answer = json.loads(body)
        return str(answer["text"]), answer.get("code")
    except (ValueError, TypeError, KeyError):
        return body[:300].decode("utf-8", "replace").strip() or "(no body)", None


def _header(headers, name):
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


# Splunk index names: lower-case letters, digits, _ and -, not starting with _ or -.
index_name = RegexValidator(r"^[a-z0-9][a-z0-9_-]*$",
                            _("Lower-case letters, digits, _ and -; not starting with _ or -."))


class SplunkHec(Protocol):
    type = "splunk_hec"
    endpoint_help = _("The HTTP Event Collector's address, such as "
                      "https://splunk.example.com:8088.")
    option_fields = {
        "index": forms.CharField(
            label=_("Index"), required=False, max_length=80, validators=[index_name],
            help_text=_("Empty: the token's default index. The token must be allowed to "
                        "write to the index named here.")),
        "source": forms.CharField(label=_("Source"), required=False, max_length=200,
                                  initial=DEFAULT_SOURCE,
                                  help_text=_("Empty: logcenter.")),
        "sourcetype": forms.CharField(
            label=_("Sourcetype"), required=False, max_length=200,
            help_text=_("Empty: one per kind of log, logcenter:<kind> (logcenter:audit, "
                        "logcenter:usage…). A value here is used for every kind.")),
        "host": forms.CharField(label=_("Host"), required=False, max_length=200,
                                initial=DEFAULT_HOST, help_text=_("Empty: logcenter.")),
        "use_ack": forms.BooleanField(
            label=_("Wait for indexer acknowledgement"), required=False,
            help_text=_("Splunk Enterprise, with acknowledgement enabled on the token: a batch "
                        "counts as delivered only once Splunk confirms it is indexed.")),
        "ack_timeout_seconds": forms.IntegerField(
            label=_("Acknowledgement timeout (seconds)"), required=False, min_value=1,
            max_value=600, initial=DEFAULT_ACK_TIMEOUT,
            help_text=_("Without an acknowledgement by then, the batch is sent again.")),
    }
    credential_fields = {
        "token": forms.CharField(label=_("HEC token"),
                                 help_text=_("The HTTP Event Collector token's value.")),
    }

    @classmethod
    def check_endpoint(cls, endpoint):
        cls.check_base_address(endpoint, _("Enter the collector's address without a query, such as "
                                    "https://splunk.example.com:8088."))

    def __init__(self, destination, credentials=None):
        super().__init__(destination, credentials)
        self.base = collector_base(destination.endpoint)
        self.use_ack = bool(self.options.get("use_ack"))
        self.ack_timeout = float(self.options.get("ack_timeout_seconds") or DEFAULT_ACK_TIMEOUT)
        self.channel = channel_of(destination)
        self.headers = {"Authorization": f"Splunk {self.credentials.get('token', '')}",
                        "Content-Type": "application/json"}
        if self.use_ack:
            self.headers[CHANNEL_HEADER] = self.channel

    def hec_event(self, document) -> dict:
        event = {"time": epoch_seconds(document["occurred_at"]),
                 "host": self.options.get("host") or DEFAULT_HOST,
                 "source": self.options.get("source") or DEFAULT_SOURCE,
                 "sourcetype": (self.options.get("sourcetype")
                                or f"logcenter:{document['kind']}")}
        if self.options.get("index"):
            event["index"] = self.options["index"]
        event["event"] = document
        return event

    def send(self, documents):
        body = ndjson(self.hec_event(document) for document in documents)
        response = self._post(self.base + EVENT_PATH, body)
        if self.use_ack:
            self._await_ack(self._ack_id(response))

    # --- HEC's answers -------------------------------------------------------------------

    def _post(self, url, body):
        """base.post, with HEC's own error text and code in the error."""
        response = self.post(url, body, self.headers, ok=range(200, 600))
        if 200 <= response.status < 300:
            return response
        text, code = hec_error(response.body)
        retry_after = (retry_after_seconds(_header(response.headers, "Retry-After"))
                       if response.status in (429, 503) else None)
        said = f"{text} (HEC code {code})" if code is not None else text
        raise DeliveryFailed(self.scrub(f"HTTP {response.status}: {said}"),
                             retry_after=retry_after, status=response.status)

    def _ack_id(self, response):
        try:
            ack_id = response.json().get("ackId")
        except (ValueError, AttributeError):
            ack_id = None
        if not isinstance(ack_id, int):  # 0 is an ackId: test the type, not the truth
            raise DeliveryFailed(
                "Splunk accepted the batch without an ackId: the token does not have indexer "
                "acknowledgement enabled. Enable it on the token, or turn off acknowledgement "
                "for this destination. The batch is sent again.")
        return ack_id

    def _await_ack(self, ack_id):
        """Poll the ack endpoint until the batch is indexed; DeliveryFailed at the timeout."""
        body = json.dumps({"acks": [ack_id]}).encode()
        deadline = time.monotonic() + self.ack_timeout
        wait = ACK_FIRST_WAIT
        while True:
            time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
            try:
                acks = self._post(self.base + ACK_PATH, body).json().get("acks") or {}
            except (ValueError, AttributeError):
                acks = {}
            if acks.get(str(ack_id)) is True:
                return
            if time.monotonic() >= deadline:
                raise DeliveryFailed(
                    f"Splunk did not acknowledge the batch (ackId {ack_id} on channel "
                    f"{self.channel}) within {self.ack_timeout:g} s; it is sent again.")
            wait = min(wait * 2, ACK_MAX_WAIT)
