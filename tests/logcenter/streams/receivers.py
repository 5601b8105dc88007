"""Receivers the stream tests deliver to: small HTTP servers (pytest-httpserver) speaking
each destination's protocol, recording what they accepted, and able to fail on demand.

A receiver's `fail_next(n, status, headers)` makes the next n requests fail; `down()`
fails every request until `up()`; `events` lists the event documents accepted, in order."""

import json
import threading

from werkzeug.wrappers import Response

from logcenter.streams.protocols.webhook import SIGNATURE_HEADER, verify


class Receiver:
    def __init__(self, httpserver, path):
        self.server, self.path = httpserver, path
        self.events = []  # accepted documents, in arrival order
        self.requests = 0
        self.rejected = 0
        self._failures = []  # (status, headers) for the next requests
        self._down = None
        self._lock = threading.Lock()
        httpserver.expect_request(path, method="POST").respond_with_handler(self._handle)

    @property
    def url(self):
        return self.server.url_for(self.path)

    def fail_next(self, count, status=503, headers=None):
        self._failures += [(status, headers or {})] * count

    def down(self, status=503, headers=None):
        self._down = (status, headers or {})

    def up(self):
        self._down = None

    @property
    def event_ids(self):
        return [doc["event_id"] for doc in self.events]

    def _handle(self, request):
        with self._lock:
            self.requests += 1
            failure = self._down or (self._failures.pop(0) if self._failures else None)
            if failure is not None:
                status, headers = failure
                return Response("receiver unavailable", status=status, headers=headers)
            return self.accept(request)

    def accept(self, request):  # the protocol's own answer
        raise NotImplementedError


class WebhookReceiver(Receiver):
    """Checks the signature as docs/operations.md tells a receiver to; 401 otherwise."""

    def __init__(self, httpserver, secret, path="/hook"):
        super().__init__(httpserver, path)
        self.secret = secret

    def accept(self, request):
        body = request.get_data()
        if not verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
            self.rejected += 1
            return Response("bad signature", status=401)
        self.events += json.loads(body)["events"]
        return Response(status=204)


class DatadogReceiver(Receiver):
    """The logs intake API v2: checks DD-API-KEY (403 otherwise, echoing the key it got, so
    that a test proves the key is scrubbed from the error), gunzips a gzipped body, parses
    the JSON array and answers 202. `entries`: the entries accepted; `events`: each entry's
    message parsed (the event document); `requests_seen`: per accepted request, its entry
    count, uncompressed size and Content-Encoding."""

    def __init__(self, httpserver, api_key, path="/api/v2/logs"):
        super().__init__(httpserver, path)
        self.api_key = api_key
        self.entries = []
        self.requests_seen = []

    @property
    def base_url(self):  # the destination's endpoint: the intake's base address
        return self.url[: -len(self.path)]

    def accept(self, request):
        import gzip

        key = request.headers.get("DD-API-KEY", "")
        if key != self.api_key:
            self.rejected += 1
            return Response(json.dumps({"errors": [f"Forbidden: invalid API key {key}"]}),
                            status=403, content_type="application/json")
        body = request.get_data()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        entries = json.loads(body)
        self.requests_seen.append({"entries": len(entries), "bytes": len(body),
                                   "encoding": encoding})
        self.entries += entries
        self.events += [json.loads(entry["message"]) for entry in entries]
        return Response(json.dumps({}), status=202, content_type="application/json")
