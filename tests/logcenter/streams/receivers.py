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


# --- Splunk HEC and Elasticsearch/OpenSearch bulk ------------------------------------

def _json_answer(payload, status=200, headers=None):
    return Response(json.dumps(payload), status=status, headers=headers or {},
                    content_type="application/json")


def _hec_answer(status, text, code, headers=None):
    return _json_answer({"text": text, "code": code}, status, headers)


def concatenated_json(text):
    """The JSON values of a body that is several of them one after another (HEC's form)."""
    decoder, position, values = json.JSONDecoder(), 0, []
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)


class HecReceiver(Receiver):
    """Splunk's HTTP Event Collector, with Splunk's answers: `Authorization: Splunk <token>`
    (none: 401 "Token is required", code 2; another scheme: 401 code 3; a wrong token: 403
    {"text": "Invalid token", "code": 4}), concatenated JSON events each with an `event`,
    {"text": "Success", "code": 0} when accepted.

    `ack=True`: the token has indexer acknowledgement. Each request must name a channel
    (X-Splunk-Request-Channel; 400 code 10 otherwise), an accepted batch's answer carries
    an `ackId` (from 0), and /services/collector/ack answers it true at its `acks_after`-th
    poll (None: never), then forgets it (a later poll answers false, as Splunk does).
    `busy(n, retry_after)`: the next n batches get 503 {"text": "Server is busy", "code": 9}.

    `events`: the event documents accepted, in order; `received`: the HEC objects around
    them (time, host, source, sourcetype, index); `channels`: each accepted batch's channel.
    The endpoint to configure is `base_url` (with `prefix`, a proxy's path before it)."""

    def __init__(self, httpserver, token, *, ack=False, acks_after=1, prefix=""):
        super().__init__(httpserver, prefix + "/services/collector/event")
        self.token, self.ack, self.acks_after, self.prefix = token, ack, acks_after, prefix
        self.received = []
        self.channels = []
        self.ack_polls = {}  # ackId -> polls answered
        self.acked = []  # ackIds answered true, in order
        self._issued = {}  # ackId -> channel, until answered true
        self._next_ack = 0
        self._busy = []
        httpserver.expect_request(prefix + "/services/collector/ack",
                                  method="POST").respond_with_handler(self._handle_ack)

    @property
    def base_url(self):
        return self.server.url_for(self.prefix or "/").rstrip("/")

    def busy(self, count, retry_after=None):
        self._busy += [{"Retry-After": str(retry_after)} if retry_after else {}] * count

    def _refusal(self, request):
        """(an error answer or None, the request's channel)."""
        channel = (request.headers.get("X-Splunk-Request-Channel")
                   or request.args.get("channel"))
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not scheme:
            return _hec_answer(401, "Token is required", 2), channel
        if scheme != "Splunk" or not token:
            return _hec_answer(401, "Invalid authorization", 3), channel
        if token != self.token:
            return _hec_answer(403, "Invalid token", 4), channel
        if self.ack and not channel:
            return _hec_answer(400, "Data channel is missing", 10), channel
        return None, channel

    def accept(self, request):
        refused, channel = self._refusal(request)
        if refused is not None:
            self.rejected += 1
            return refused
        if self._busy:
            return _hec_answer(503, "Server is busy", 9, self._busy.pop(0))
        try:
            objects = concatenated_json(request.get_data(as_text=True))
        except ValueError:
            return _hec_answer(400, "Invalid data format", 6)
        if not objects:
            return _hec_answer(400, "No data", 5)
        for number, item in enumerate(objects):
            if not isinstance(item, dict) or "event" not in item:
                return _json_answer({"text": "Event field is required", "code": 12,
                                     "invalid-event-number": number}, 400)
            if item["event"] in ("", {}, None):
                return _json_answer({"text": "Event field cannot be blank", "code": 13,
                                     "invalid-event-number": number}, 400)
        self.received += objects
        self.events += [item["event"] for item in objects]
        self.channels.append(channel)
        answer = {"text": "Success", "code": 0}
        if self.ack:
            ack_id, self._next_ack = self._next_ack, self._next_ack + 1
            self._issued[ack_id] = channel
            answer["ackId"] = ack_id
        return _json_answer(answer)

    def _handle_ack(self, request):
        with self._lock:
            if self._down is not None:
                status, headers = self._down
                return Response("receiver unavailable", status=status, headers=headers)
            refused, channel = self._refusal(request)
            if refused is not None:
                return refused
            if not self.ack:
                return _hec_answer(400, "ACK is disabled", 14)
            try:
                wanted = json.loads(request.get_data())["acks"]
            except (ValueError, KeyError, TypeError):
                return _hec_answer(400, "Invalid data format", 6)
            acks = {}
            for ack_id in wanted:
                polls = self.ack_polls[ack_id] = self.ack_polls.get(ack_id, 0) + 1
                done = (self._issued.get(ack_id) == channel and self.acks_after is not None
                        and polls >= self.acks_after)
                if done:
                    del self._issued[ack_id]
                    self.acked.append(ack_id)
                acks[str(ack_id)] = done
            return _json_answer({"acks": acks})


class BulkReceiver(Receiver):
    """Elasticsearch's (and OpenSearch's) `_bulk`: the Authorization header must be one of
    the given API key (`ApiKey <encoded>`) or user (`Basic …`), else 401
    security_exception (given neither, the cluster runs without security and takes any;
    `authorizations_seen` lists each request's header or None); the body NDJSON (Content-Type application/x-ndjson, a newline at
    the end) of action and document pairs (`create` or `index`).

    Documents are kept by index and _id (`indices`); a `create` of an _id already in its
    index is the item's 409 version_conflict_engine_exception; a data stream (named in
    `data_streams`) takes only `create`. A body over `max_bytes` is a 413.
    `fail_items({2: 429, 5: 500}, times=1)`: the 2nd and 5th items of the next request fail
    (es_rejected_execution_exception unless `error_type` says otherwise), and those
    documents fail again the next `times - 1` times they come.

    `events`: the documents created, in order (ECS: `event_ids` reads event.id);
    `items`: every item answered as (action, index, _id, status); `bulk_sizes`: the items
    of each request answered."""

    def __init__(self, httpserver, *, api_key=None, username=None, password=None,
                 prefix="", max_bytes=None, data_streams=()):
        super().__init__(httpserver, prefix + "/_bulk")
        self.prefix, self.max_bytes, self.data_streams = prefix, max_bytes, set(data_streams)
        self.authorizations = set()
        if api_key:
            self.authorizations.add(f"ApiKey {api_key}")
        if username:
            import base64

            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.authorizations.add(f"Basic {pair}")
        self.authorizations_seen = []
        self.indices = {}  # index -> {_id: document}
        self.items = []
        self.bulk_sizes = []
        self._fail_positions = {}  # 1-based position in the next request -> (status, ...)
        self._failing_ids = {}  # _id -> [status, type, further failures]

    @property
    def base_url(self):
        return self.server.url_for(self.prefix or "/").rstrip("/")

    @property
    def event_ids(self):
        return [doc["event"]["id"] for doc in self.events]

    def fail_items(self, positions, *, times=1, error_type="es_rejected_execution_exception"):
        self._fail_positions = {position: (status, error_type, times)
                                for position, status in positions.items()}

    def _security_exception(self):
        reason = "unable to authenticate with provided credentials"
        return _json_answer({"error": {"type": "security_exception", "reason": reason},
                             "status": 401}, 401, {"WWW-Authenticate": 'ApiKey, Basic'})

    def accept(self, request):
        authorization = request.headers.get("Authorization")
        self.authorizations_seen.append(authorization)
        if self.authorizations and authorization not in self.authorizations:
            self.rejected += 1
            return self._security_exception()
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in ("application/x-ndjson", "application/json"):
            return _json_answer({"error": f"Content-Type header [{content_type}] is not "
                                          "supported", "status": 406}, 406)
        body = request.get_data()
        if self.max_bytes is not None and len(body) > self.max_bytes:
            return Response(status=413)
        if not body.endswith(b"\n"):
            return self._bad_request("The bulk request must be terminated by a newline [\\n]")
        lines = [json.loads(line) for line in body.split(b"\n") if line.strip()]
        if len(lines) % 2:
            return self._bad_request("Malformed action/metadata line")
        failures, self._fail_positions = self._fail_positions, {}
        answered, errors = [], False
        for position, (action, document) in enumerate(zip(lines[::2], lines[1::2]), 1):
            (op, meta), = action.items()
            if op not in ("create", "index"):
                return self._bad_request(f"Malformed action/metadata line [{op}]")
            index, _id = meta["_index"], meta.get("_id")
            result = {"_index": index, "_id": _id}
            error = self._failure(position, _id, failures)
            if error is None and index in self.data_streams and op != "create":
                error = (400, {"type": "illegal_argument_exception",
                               "reason": "only write ops with an op_type of create are "
                                         "allowed in data streams"})
            stored = self.indices.setdefault(index, {})
            if error is None and op == "create" and _id in stored:
                error = (409, {"type": "version_conflict_engine_exception",
                               "reason": f"[{_id}]: version conflict, document already "
                                         "exists (current version [1])"})
            if error is None:
                stored[_id] = document
                self.events.append(document)
                result.update(status=201, result="created")
            else:
                result.update(status=error[0], error={**error[1], "index": index})
                errors = True
            self.items.append((op, index, _id, result["status"]))
            answered.append({op: result})
        self.bulk_sizes.append(len(answered))
        return _json_answer({"took": 1, "errors": errors, "items": answered})

    def _failure(self, position, _id, failures):
        """(status, error) when this item is told to fail, or None."""
        if position in failures:
            status, error_type, times = failures[position]
            self._failing_ids[_id] = [status, error_type, times - 1]
        elif self._failing_ids.get(_id, [0, "", 0])[2] > 0:
            self._failing_ids[_id][2] -= 1
            status, error_type, _ = self._failing_ids[_id]
        else:
            return None
        return status, {"type": error_type,
                        "reason": f"rejected execution of coordinating operation (item {_id})"}

    def _bad_request(self, reason):
        return _json_answer({"error": {"type": "illegal_argument_exception", "reason": reason},
                             "status": 400}, 400)
