"""Datadog logs: each batch POSTed to the logs intake API v2, gzipped.

    POST https://http-intake.logs.<site>/api/v2/logs
    DD-API-KEY: <the API key>
    Content-Type: application/json
    Content-Encoding: gzip

    [{"ddsource": "logcenter", "service": "logcenter", "hostname": "…",
      "ddtags": "env:prod,kind:audit", "message": "<the event document as JSON text>"}, …]

Why plain HTTP and not the datadog-api-client package: that client is a large generated
library for every Datadog API, while the intake is one POST of a JSON array; base.post
already gives us the pump's timeouts, Retry-After on 429/503 and credentials scrubbed from
every error.

Where: the `site` option (datadoghq.com, datadoghq.eu, us3/us5/ap1/ap2/uk1.datadoghq.com,
ddog-gov.com, us2.ddog-gov.com) names the intake, `intake_url(site)`. Destination.endpoint
overrides it: an intake base address (a proxy, an Observability Pipelines Worker, a test
receiver), to which /api/v2/logs is added unless it already ends with it; an empty endpoint
means the site's intake.

Each entry: `message` is the event document as JSON text, with one key added, `message`
(the document's summary). Datadog parses a JSON message into attributes (event_id, kind,
event_type, actor.*, record.*…, all searchable as facets) and shows the inner `message` as
the log's line; the document's `severity` (debug … critical) is one of the attributes
Datadog's status remapper reads by default. None of the document's times is an attribute
Datadog reads as the log's date, on purpose: the intake drops a log dated more than 18 hours
back, so a replay or a stream catching up after an outage would lose events silently; the
log is dated when Datadog receives it, and `occurred_at` is an attribute (a date remapper on
it in a pipeline dates recent logs by it, docs/operations.md). Tags: the `tags` option
(comma-separated key:value) and `kind:<audit|usage|auth|system>`: tags stay few and of low
cardinality (Datadog's advice); everything else is an attribute.

Datadog's limits, per request: 1000 entries and 5 MB uncompressed (a batch is split into as
many requests as needed; a failed request fails the whole batch, so the requests already
accepted are sent again: a receiver may see an event twice, with the same event_id); per
entry 1 MB, beyond which Datadog cuts the entry (and its JSON with it): an entry over 1 MB is
sent without the document's `record` and with `"truncated": true`, never dropped, and the
full row stays in Logcenter.

Answers: 202 is an acknowledgement (any 2xx is); 400 (unreadable request), 403 (the API key
refused) and 413 (too large) are errors said plainly; 429 and 5xx are tried again (after the
Retry-After Datadog sends).
"""

import gzip
from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

from logcenter.streams.documents import compact, fitted  # noqa: F401 (compact: the tests')
from logcenter.streams.protocols.base import DeliveryFailed, Protocol

SITES = ("datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu",
         "ap1.datadoghq.com", "ap2.datadoghq.com", "uk1.datadoghq.com", "ddog-gov.com",
         "us2.ddog-gov.com")
DEFAULT_SITE = "datadoghq.com"
DEFAULT_SOURCE = "logcenter"
DEFAULT_SERVICE = "logcenter"
INTAKE_PATH = "/api/v2/logs"

MAX_ENTRIES = 1000  # per request
MAX_REQUEST_BYTES = 5_000_000  # per request, uncompressed (Datadog: 5 MB)
MAX_ENTRY_BYTES = 1_000_000  # per entry (Datadog: 1 MB, cut beyond)

def intake_url(site=DEFAULT_SITE, endpoint="") -> str:
    """Where a batch is POSTed: `endpoint` (an intake base address) + /api/v2/logs, or the
    site's intake when `endpoint` is empty."""
    base = (endpoint or "").strip().rstrip("/") or f"https://http-intake.logs.{site}"
    return base if base.endswith(INTAKE_PATH) else base + INTAKE_PATH


def split_tags(text) -> list[str]:
    return [tag.strip() for tag in (text or "").split(",") if tag.strip()]


class DatadogLogs(Protocol):
    type = "datadog"
    endpoint_help = _("The intake's address: https://http-intake.logs.<site> for the chosen "
                      "site (for example https://http-intake.logs.datadoghq.eu), or a proxy's "
                      "or an Observability Pipelines Worker's address.")
    option_fields = {
        "site": forms.ChoiceField(
            label=_("Datadog site"), choices=[(site, site) for site in SITES],
            initial=DEFAULT_SITE, required=False,
            help_text=_("The site of your Datadog account, as in its address (app.datadoghq.eu "
                        "is datadoghq.eu). Its API keys work on that site only.")),
        "service": forms.CharField(
            label=_("Service"), initial=DEFAULT_SERVICE, required=False, max_length=100,
            help_text=_("The service attribute of every log (default: logcenter).")),
        "source": forms.CharField(
            label=_("Source"), initial=DEFAULT_SOURCE, required=False, max_length=100,
            help_text=_("The ddsource attribute of every log (default: logcenter).")),
        "hostname": forms.CharField(
            label=_("Host name"), required=False, max_length=255,
            help_text=_("The host attribute of every log; empty: none.")),
        "tags": forms.CharField(
            label=_("Tags"), required=False, max_length=1000,
            help_text=_("Comma-separated key:value tags added to every log, for example "
                        "env:prod,team:security. Logcenter adds kind:<kind of log>.")),
    }
    credential_fields = {
        "api_key": forms.CharField(
            label=_("API key"), min_length=16,
            help_text=_("A Datadog API key (not an application key) of the chosen site.")),
    }

    @classmethod
    def check_endpoint(cls, endpoint):
        if endpoint:  # empty: the site's intake
            super().check_endpoint(endpoint)

    @property
    def site(self):
        return self.options.get("site") or DEFAULT_SITE

    @property
    def url(self):
        return intake_url(self.site, self.destination.endpoint)

    def entry(self, document) -> bytes:
        """The intake's entry for one document, encoded: the document's JSON (with its
        summary as `message`) as the entry's `message`, fitted to MAX_ENTRY_BYTES."""
        tags = ",".join([*split_tags(self.options.get("tags")), f"kind:{document['kind']}"])
        entry = {"ddsource": self.options.get("source") or DEFAULT_SOURCE,
                 "service": self.options.get("service") or DEFAULT_SERVICE,
                 "ddtags": tags}
        if self.options.get("hostname"):
            entry["hostname"] = self.options["hostname"]

        def encode(doc):
            text = compact({"message": doc.get("summary", ""), **doc}).decode()
            return compact({**entry, "message": text})

        return fitted(document, MAX_ENTRY_BYTES, encode)

    def requests(self, documents) -> list[list[bytes]]:
        """The batch's entries (encoded), in order, in requests of at most MAX_ENTRIES and
        MAX_REQUEST_BYTES."""
        requests, current, size = [], [], 2  # the array's brackets
        for document in documents:
            encoded = self.entry(document)
            if current and (len(current) == MAX_ENTRIES
                            or size + 1 + len(encoded) > MAX_REQUEST_BYTES):
                requests.append(current)
                current, size = [], 2
            current.append(encoded)
            size += len(encoded) + (1 if len(current) > 1 else 0)
        if current:
            requests.append(current)
        return requests

    def send(self, documents):
        api_key = self.credentials.get("api_key")
        if not api_key:
            raise DeliveryFailed("No Datadog API key is stored: enter it again.")
        if not self.destination.endpoint and self.site not in SITES:
            raise DeliveryFailed(f"{self.site} is not a Datadog site: choose one of "
                                 f"{', '.join(SITES)}.")
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                   "DD-API-KEY": api_key}
        requests = self.requests(documents)
        for number, entries in enumerate(requests, 1):
            body = gzip.compress(b"[" + b",".join(entries) + b"]", compresslevel=6)
            try:
                self.post(self.url, body, headers)
            except DeliveryFailed as exc:
                raise self.explained(exc, number, len(requests)) from None

    def explained(self, exc, number, total) -> DeliveryFailed:
        """The failure with what Datadog's status means and, for a split batch, what was
        accepted before it."""
        reasons = {
            400: "Datadog could not read the request.",
            403: (f"Datadog refused the API key: check that it is an API key (not an "
                  f"application key) of the account at {urlsplit(self.url).netloc} (a "
                  f"key works on its own site only) and that it was not revoked."),
            413: "The request was over Datadog's 5 MB.",
        }
        text = str(exc)
        if exc.status in reasons:
            text = f"{text} — {reasons[exc.status]}"
        if number > 1:
            text += (f" (request {number} of {total}: the events of the {number - 1} accepted "
                     "before it are sent again with the batch, under the same event_id)")
        return DeliveryFailed(self.scrub(text), retry_after=exc.retry_after, status=exc.status)
