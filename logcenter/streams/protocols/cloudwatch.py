"""AWS CloudWatch Logs: each batch written with PutLogEvents into one log stream.

Why boto3 here (when Datadog is plain HTTP): CloudWatch Logs is an AWS JSON API signed with
Signature Version 4, with regional endpoints and credentials that may come from keys or
from the default chain (environment, shared config, an ECS task role, an EC2 instance role):
boto3 (pinned in requirements.txt) does all of that, and the tests run it against moto's
server. One client per Protocol instance (one per pump), closed by close(); no hidden
retries (the pump decides when to try again).

Where:
- Destination.endpoint is the log group: its name (`/logcenter/audit`) or its ARN
  (`arn:aws:logs:eu-west-1:123456789012:log-group:/logcenter/audit`, with or without the
  `:*` the AWS console shows), whose region then wins over the `region` option;
- options: `region` (empty: the ARN's, else boto3's default: AWS_REGION…), `log_stream`
  (empty: `logcenter-<destination ID>`), `endpoint_url` (another address for the Logs
  API: a VPC endpoint, a compatible service, moto in the tests);
- credentials: an access key ID and secret access key (and a session token, for
  temporary keys); none stored: boto3's default chain, e.g. the instance's or task's role.

Each event: `message` is the event document as compact JSON (CloudWatch Logs Insights
discovers its fields: event_id, kind, actor.name, record.*…), `timestamp` its occurred_at
in milliseconds. CloudWatch keeps a stream in timestamp order, so events are read back in
occurred_at order, not in the order delivered.

PutLogEvents' limits, per request: 10,000 events; 1,048,576 bytes (each event's UTF-8
message plus 26 bytes); events in chronological order; a span under 24 hours. A batch is
sorted by timestamp and split where any limit would be passed. An event over 1 MB is sent
without the document's `record` and with `"truncated": true` (never dropped; the full row
stays in Logcenter). Sequence tokens are not sent (CloudWatch has ignored them since
January 2023), so no DescribeLogStreams either.

A missing log stream (or log group) is created when PutLogEvents says it is missing:
CreateLogStream, and CreateLogGroup first when the group is missing too; one created
meanwhile by someone else (ResourceAlreadyExistsException) is fine. An operator who creates
the group beforehand need not grant logs:CreateLogGroup.

Refused events: CloudWatch accepts a request but rejects the events older than 14 days or
than the log group's retention, or more than 2 hours ahead (rejectedLogEventsInfo). It will
never take them, so sending them again would block the stream for good (a replay of last
month's events would never get past them): they are counted, a warning system event
`stream.rejected` says how many, why and which, and the batch counts as delivered.

Errors (DeliveryFailed, the batch sent again after a backoff; credentials scrubbed from the
text): throttling and unavailability are tried again as they are; InvalidParameterException,
denied permissions and refused credentials say what to fix; a connection failure or missing
credentials or region is said as it is. A failed request fails the whole batch: the requests
already accepted are sent again with it, under the same event_id.
"""

import datetime
import re

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from logcenter.streams.delivery import stream_event
from logcenter.streams.protocols.base import DeliveryFailed, Protocol
from logcenter.streams.documents import compact, fitted

MAX_EVENTS = 10_000  # per request
MAX_REQUEST_BYTES = 1_048_576  # per request: the messages' UTF-8 bytes + EVENT_OVERHEAD each
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD  # one message (CloudWatch: 1 MB an event)
MAX_SPAN_MS = 24 * 3600 * 1000  # a request's events span less than this

GROUP_NAME = r"[\w./#-]{1,512}"  # CloudWatch: letters, digits, _ - / . #
GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:(?P<region>[a-z0-9-]+):\d{12}:log-group:"
                       rf"(?P<name>{GROUP_NAME}?)(?::\*)?$", re.ASCII)
GROUP = re.compile(rf"^{GROUP_NAME}$", re.ASCII)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

RETRIED = {"ThrottlingException", "ServiceUnavailableException", "ServiceUnavailable",
           "InternalFailure", "InternalServerError", "RequestTimeout",
           "RequestTimeoutException", "LimitExceededException"}
CREDENTIALS_REFUSED = {"UnrecognizedClientException", "InvalidClientTokenId",
                       "InvalidSignatureException", "SignatureDoesNotMatch",
                       "ExpiredTokenException", "ExpiredToken", "IncompleteSignature"}


def log_group(endpoint) -> tuple[str, str]:
    """(the log group's name, the region its ARN names or ""); ValueError unless
    `endpoint` is a log group's name or ARN."""
    endpoint = (endpoint or "").strip()
    match = GROUP_ARN.match(endpoint)
    if match:
        return match["name"], match["region"]
    if endpoint.startswith("arn:") or not GROUP.match(endpoint):
        raise ValueError(endpoint)
    return endpoint, ""


def timestamp_ms(text) -> int:
    """An ISO 8601 time (the document's occurred_at) in milliseconds since 1970."""
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return (when - EPOCH) // datetime.timedelta(milliseconds=1)


def put_requests(events) -> list[list]:
    """`events` ((timestamp ms, message bytes, document), any order) sorted by timestamp
    (ties kept in the given order) and cut into PutLogEvents requests: at most MAX_EVENTS
    and MAX_REQUEST_BYTES each, spanning less than MAX_SPAN_MS."""
    requests, current, size = [], [], 0
    for event in sorted(events, key=lambda event: event[0]):
        timestamp, message = event[0], event[1]
        cost = len(message) + EVENT_OVERHEAD
        if current and (len(current) == MAX_EVENTS or size + cost > MAX_REQUEST_BYTES
                        or timestamp - current[0][0] >= MAX_SPAN_MS):
            requests.append(current)
            current, size = [], 0
        current.append(event)
        size += cost
    if current:
        requests.append(current)
    return requests


def rejected_indexes(info, count) -> dict:
    """rejectedLogEventsInfo of a request of `count` events as {reason: the indexes
    refused}: too old (14 days), expired (the group's retention), too new (2 hours ahead)."""
    too_old = set(range(info["tooOldLogEventEndIndex"] + 1)) if (
        info.get("tooOldLogEventEndIndex") is not None) else set()
    expired = set(range(info["expiredLogEventEndIndex"] + 1)) if (
        info.get("expiredLogEventEndIndex") is not None) else set()
    too_new = set(range(info["tooNewLogEventStartIndex"], count)) if (
        info.get("tooNewLogEventStartIndex") is not None) else set()
    return {"too_old": too_old, "expired": expired - too_old, "too_new": too_new}


REJECTED_WHY = {"too_old": "older than 14 days",
                "expired": "older than the log group's retention",
                "too_new": "more than 2 hours ahead"}


class CloudWatchLogs(Protocol):
    type = "cloudwatch"
    endpoint_help = _("The log group: its name (for example /logcenter/audit) or its ARN "
                      "(arn:aws:logs:<region>:<account>:log-group:<name>), whose region is then "
                      "used. It is created when missing, if the credentials may.")
    option_fields = {
        "region": forms.CharField(
            label=_("AWS region"), required=False, max_length=32,
            validators=[RegexValidator(r"^[a-z]{2,}(-[a-z]+)+-\d+$",
                                       _("Enter a region such as eu-west-1."))],
            help_text=_("For example eu-west-1. Empty: the region of the log group's ARN, or "
                        "the server's AWS configuration (AWS_REGION).")),
        "log_stream": forms.CharField(
            label=_("Log stream"), required=False, max_length=512,
            validators=[RegexValidator(r"^[^:*]+$", _("A log stream's name has no : or *."))],
            help_text=_("Empty: logcenter-<destination ID>. Created when missing.")),
        "endpoint_url": forms.URLField(
            label=_("API address"), required=False, max_length=500, assume_scheme="https",
            help_text=_("Only for a VPC endpoint or a CloudWatch-compatible service; empty: "
                        "the region's own (logs.<region>.amazonaws.com).")),
    }
    credential_fields = {
        "access_key_id": forms.CharField(
            label=_("Access key ID"), required=False, max_length=128,
            help_text=_("Empty (with the secret): the server's own AWS credentials, such as "
                        "its instance or task role.")),
        "secret_access_key": forms.CharField(
            label=_("Secret access key"), required=False, max_length=128),
        "session_token": forms.CharField(
            label=_("Session token"), required=False, max_length=4096,
            help_text=_("Only for temporary credentials, which expire.")),
    }

    def __init__(self, destination, credentials=None):
        super().__init__(destination, credentials)
        self._client = None
        self._stream_ready = False  # the stream was created (or found) by this instance

    @classmethod
    def check_endpoint(cls, endpoint):
        try:
            log_group(endpoint)
        except ValueError:
            raise ValidationError(_(
                "Enter a log group's name (letters, digits and _ - / . #, 512 at most) or "
                "its ARN, arn:aws:logs:<region>:<account>:log-group:<name>.")) from None

    # --- where ---------------------------------------------------------------------------

    @property
    def group(self):
        return log_group(self.destination.endpoint)[0]

    @property
    def region(self):
        return log_group(self.destination.endpoint)[1] or self.options.get("region") or None

    @property
    def stream(self):
        return self.options.get("log_stream") or f"logcenter-{self.destination.public_id}"

    @property
    def client(self):
        if self._client is None:
            timeout = settings.LOGCENTER_STREAMS["HTTP_TIMEOUT_SECONDS"]
            session = boto3.session.Session(
                aws_access_key_id=self.credentials.get("access_key_id") or None,
                aws_secret_access_key=self.credentials.get("secret_access_key") or None,
                aws_session_token=self.credentials.get("session_token") or None,
                region_name=self.region)
            self._client = session.client(
                "logs", endpoint_url=self.options.get("endpoint_url") or None,
                config=Config(connect_timeout=min(5.0, timeout), read_timeout=timeout,
                              retries={"mode": "standard", "total_max_attempts": 1},
                              user_agent_extra="logcenter-streams"))
        return self._client

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- sending -------------------------------------------------------------------------

    def send(self, documents):
        events = [(timestamp_ms(doc["occurred_at"]), fitted(doc, MAX_EVENT_BYTES, compact), doc)
                  for doc in documents]
        refused = {reason: [] for reason in REJECTED_WHY}
        try:
            for request in put_requests(events):
                response = self.put([{"timestamp": timestamp, "message": message.decode()}
                                     for timestamp, message, _document in request])
                info = response.get("rejectedLogEventsInfo") or {}
                for reason, indexes in rejected_indexes(info, len(request)).items():
                    refused[reason] += [request[i][2]["event_id"] for i in sorted(indexes)]
        except ClientError as exc:
            raise self.failure(exc, exc.operation_name) from None
        except (BotoCoreError, ValueError) as exc:  # no connection, credentials, region…
            raise DeliveryFailed(self.scrub(f"CloudWatch Logs: {type(exc).__name__}: {exc}"
                                            f"{self.hint(exc)}")) from None
        if any(refused.values()):
            self.report_refused(refused)

    def put(self, events):
        params = {"logGroupName": self.group, "logStreamName": self.stream,
                  "logEvents": events}
        try:
            return self.client.put_log_events(**params)
        except ClientError as exc:
            if code_of(exc) != "ResourceNotFoundException" or self._stream_ready:
                raise
        self.create_stream()
        return self.client.put_log_events(**params)

    def create_stream(self):
        """The log stream, and the log group first if it is missing too."""
        try:
            self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except ClientError as exc:
            if code_of(exc) == "ResourceNotFoundException":  # no log group either
                self._ignore_exists(self.client.create_log_group, logGroupName=self.group)
                self._ignore_exists(self.client.create_log_stream, logGroupName=self.group,
                                    logStreamName=self.stream)
            elif code_of(exc) != "ResourceAlreadyExistsException":
                raise
        self._stream_ready = True

    @staticmethod
    def _ignore_exists(call, **params):
        try:
            call(**params)
        except ClientError as exc:
            if code_of(exc) != "ResourceAlreadyExistsException":
                raise

    # --- what went wrong -----------------------------------------------------------------

    def failure(self, exc, operation) -> DeliveryFailed:
        code = code_of(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in RETRIED:
            hint = "CloudWatch Logs is busy or unavailable: tried again after a backoff."
        elif code == "InvalidParameterException":
            hint = ("CloudWatch Logs refused the request: check the log group and stream "
                    "names; the batch is held until it is accepted.")
        elif code == "AccessDeniedException":
            hint = (f"The credentials may not call logs:{operation} on {self.group}: add it to "
                    "their IAM policy (docs/operations.md).")
        elif code in CREDENTIALS_REFUSED:
            hint = ("AWS did not accept the credentials: a wrong, disabled or expired access "
                    "key (or session token).")
        elif code == "ResourceNotFoundException":
            hint = f"The log group {self.group} or its stream {self.stream} was not found."
        else:
            hint = ""
        text = f"CloudWatch Logs {operation}: {code or 'error'}: {message}"
        if hint:
            text += f" — {hint}"
        return DeliveryFailed(self.scrub(text), status=status)

    def hint(self, exc):
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return (" — no complete access key is stored and boto3's default chain "
                    "(environment, shared config, instance or task role) found none.")
        if name == "NoRegionError":
            return " — set the region option (or give the log group's ARN)."
        return ""

    def report_refused(self, refused):
        total = sum(len(ids) for ids in refused.values())
        reasons = ", ".join(f"{len(ids)} {REJECTED_WHY[reason]}"
                            for reason, ids in refused.items() if ids)
        first = [event_id for ids in refused.values() for event_id in ids][:5]
        stream_event(
            self.destination, "stream.rejected",
            f"CloudWatch Logs refused {total} event(s) of a batch and will never accept them: "
            f"{reasons}. They are not sent again (the rest of the batch was delivered); they "
            f"remain in Logcenter. First refused: {', '.join(first)}.",
            level="warning")


def code_of(exc) -> str:
    return exc.response.get("Error", {}).get("Code", "")
