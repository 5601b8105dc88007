"""Object storage (Amazon S3 and S3-compatible stores: MinIO, Ceph, R2, …): each batch one
gzip NDJSON object; also where export jobs put their files (`upload_file`).

The endpoint is `s3://<bucket>/<prefix>/` (the prefix may be empty; `s3://b/logs` is read
as `s3://b/logs/`). A batch becomes one object

    <prefix>YYYY/MM/DD/HH/logcenter-<destination id>-<16 hex>.ndjson.gz

- `YYYY/MM/DD/HH`: the hour (UTC) of the batch's first event's `ingested_at`, so a
  lifecycle rule, Athena or Spark can read a time range by listing prefixes;
- the 16 hex: the start of the SHA-256 of the destination's cursor *before* the batch,
  i.e. where the batch starts. A batch sent again from the same position (a retry after
  a timeout whose upload did land, a worker killed before it moved the cursor, a replay
  to the same position) writes the same key: it overwrites the object instead of adding
  a second one. A retry may carry more rows than the first try (rows arrived meanwhile):
  the object then holds the longer batch, and the rows the first try held that the
  retry does not are sent in the next object (the cursor only moves past what the last
  upload held). Naming by the events' ids instead would leave both tries' objects;
- the body: one event document (logcenter.streams.documents) per line, UTF-8, gzip
  (Content-Type application/x-ndjson, Content-Encoding gzip, the gzip header's time
  zeroed so the same batch is the same bytes), and the metadata
  x-amz-meta-logcenter-{destination,events,first-event,last-event}.

Objects never overlap in the cursor's sense, but a replay from another position (or a
changed batch size) may put an event in two objects: readers dedupe by `event_id`.

Options: `region`, `endpoint_url` (an S3-compatible store, addressed path-style),
`storage_class`, `server_side_encryption` (AES256 or aws:kms with the bucket's key).
Credentials: an access key ID and secret access key (and a session token for temporary
keys); left empty, boto3's default chain (an instance or task role, AWS_* variables, a
profile) supplies them. Errors from the store become DeliveryFailed with its code and
message, never a credential.
"""

import gzip
import hashlib
import json
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from logcenter.streams.protocols.base import DeliveryFailed, Protocol, ndjson

SCHEME = "s3://"
# S3's rules for a bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting
# and ending with a letter or digit.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_PREFIX_BYTES = 700  # a key is 1,024 bytes at most; the rest is for the object's name
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                   "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
ENCRYPTIONS = ("AES256", "aws:kms")


def parse_endpoint(endpoint):
    """(bucket, prefix) of `s3://bucket/prefix/`: the prefix empty or ending in "/".
    ValidationError naming the problem otherwise."""
    if not isinstance(endpoint, str) or not endpoint.startswith(SCHEME):
        raise ValidationError(_("Enter an s3://bucket/prefix/ address."))
    bucket, _slash, prefix = endpoint[len(SCHEME):].partition("/")
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        raise ValidationError(_("{bucket} is not a bucket name: 3 to 63 lowercase letters, "
                                "digits, dots and hyphens.").format(bucket=bucket or '""'))
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if CONTROL_RE.search(prefix) or "\\" in prefix:
        raise ValidationError(_("The prefix holds a control character or a backslash."))
    if prefix and any(part in ("", ".", "..") for part in prefix[:-1].split("/")):
        raise ValidationError(_("The prefix has an empty, . or .. folder."))
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise ValidationError(_("The prefix is longer than {most} bytes.").format(
            most=MAX_PREFIX_BYTES))
    return bucket, prefix


def object_url(bucket, key):
    return f"{SCHEME}{bucket}/{key}"


class S3Objects(Protocol):
    type = "s3"
    endpoint_help = _("s3://bucket/prefix/: each batch becomes one gzip NDJSON object "
                      "under the prefix, in hourly folders.")
    option_fields = {
        "region": forms.CharField(
            label=_("Region"), required=False, max_length=40,
            help_text=_("The bucket's region (eu-west-1); empty: boto3's default.")),
        "endpoint_url": forms.URLField(
            label=_("Endpoint URL"), required=False, max_length=300, assume_scheme="https",
            help_text=_("For MinIO and other S3-compatible stores (https://minio.example:9000); "
                        "empty: Amazon S3.")),
        "storage_class": forms.ChoiceField(
            label=_("Storage class"), required=False,
            choices=[("", _("The bucket's default"))] + [(c, c) for c in STORAGE_CLASSES]),
        "server_side_encryption": forms.ChoiceField(
            label=_("Server-side encryption"), required=False,
            choices=[("", _("The bucket's default")), ("AES256", _("S3-managed keys (AES256)")),
                     ("aws:kms", _("KMS (the bucket's key)"))]),
    }
    credential_fields = {
        "access_key_id": forms.CharField(
            label=_("Access key ID"), required=False, max_length=128,
            help_text=_("Empty: boto3's default chain (an instance or task role, AWS_* "
                        "variables).")),
        "secret_access_key": forms.CharField(label=_("Secret access key"), required=False,
                                             max_length=256),
        "session_token": forms.CharField(label=_("Session token"), required=False,
                                         help_text=_("Only for temporary credentials.")),
    }

    def __init__(self, destination, credentials=None, *, attempts=1):
        super().__init__(destination, credentials)
        self.attempts = attempts  # the pump retries batches itself; an upload may retry
        self._client = None
        try:
            self.bucket, self.prefix = parse_endpoint(destination.endpoint)
            self.endpoint_error = ""
        except ValidationError as exc:  # saved before a rule was tightened: said on send
            self.bucket, self.prefix = "", ""
            self.endpoint_error = " ".join(str(m) for m in exc.messages)

    @classmethod
    def check_endpoint(cls, endpoint):
        parse_endpoint(endpoint)

    # --- the client ---------------------------------------------------------------------

    def client(self):
        """The boto3 client, made on first use and kept for this instance."""
        if self.endpoint_error:
            raise DeliveryFailed(f"The endpoint {self.destination.endpoint!r}: "
                                 f"{self.endpoint_error}")
        if self._client is None:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            creds = self.credentials
            key_id, secret = creds.get("access_key_id", ""), creds.get("secret_access_key", "")
            if bool(key_id) != bool(secret):
                raise DeliveryFailed("Give both the access key ID and the secret access key, "
                                     "or neither (boto3's default chain).")
            endpoint_url = self.options.get("endpoint_url") or None
            timeout = settings.LOGCENTER_STREAMS["HTTP_TIMEOUT_SECONDS"]
            config = Config(connect_timeout=min(5.0, timeout), read_timeout=timeout,
                            retries={"mode": "standard", "total_max_attempts": self.attempts},
                            # Compatible stores rarely resolve bucket.host names.
                            s3={"addressing_style": "path"} if endpoint_url else None,
                            user_agent_extra="logcenter")
            try:
                session = boto3.session.Session(
                    aws_access_key_id=key_id or None, aws_secret_access_key=secret or None,
                    aws_session_token=creds.get("session_token") or None,
                    region_name=self.options.get("region") or None)
                self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
            except (BotoCoreError, ValueError) as exc:
                raise DeliveryFailed(self.scrub(f"S3 client: {exc}")) from None
        return self._client

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def extra_arguments(self, content_type, **more):
        arguments = {"ContentType": content_type, **more}
        if self.options.get("storage_class"):
            arguments["StorageClass"] = self.options["storage_class"]
        if self.options.get("server_side_encryption"):
            arguments["ServerSideEncryption"] = self.options["server_side_encryption"]
        return arguments

    def failure(self, exc, key) -> DeliveryFailed:
        """The store's error as DeliveryFailed: its code, status and message, the object it
        was about, and no credential."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (ClientError, EndpointConnectionError,
                                         NoCredentialsError)

        where = object_url(self.bucket, key)
        status = None
        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__  # the transfer's wrapper around the store's own error
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = (f"S3 {error.get('Code', '?')} (HTTP {status}) writing {where}: "
                    f"{error.get('Message', '')}")
        elif isinstance(exc, NoCredentialsError):
            text = ("No S3 credentials: enter an access key, or run Logcenter where boto3's "
                    "default chain finds one (an instance or task role, AWS_* variables).")
        elif isinstance(exc, EndpointConnectionError):
            text = f"Could not reach the S3 endpoint writing {where}: {exc}"
        elif isinstance(exc, S3UploadFailedError):
            text = f"Upload of {where} failed: {exc}"
        else:
            text = f"S3 {type(exc).__name__} writing {where}: {exc}"
        return DeliveryFailed(self.scrub(text), status=status)

    # --- streaming ----------------------------------------------------------------------

    def batch_key(self, documents):
        """The batch's object key: its first event's hour, and where it starts (module
        docstring)."""
        hour = documents[0]["ingested_at"]  # 2026-12-05T08:…Z
        folder = f"{hour[0:4]}/{hour[5:7]}/{hour[8:10]}/{hour[11:13]}"
        position = json.dumps({slug: int(value) for slug, value
                               in sorted((self.destination.cursor or {}).items())},
                              separators=(",", ":"))
        public_id = self.destination.public_id
        digest = hashlib.sha256(f"{public_id}:{position}".encode()).hexdigest()[:16]
        return f"{self.prefix}{folder}/logcenter-{public_id}-{digest}.ndjson.gz"

    def send(self, documents):
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.batch_key(documents)
        body = gzip.compress(ndjson(documents), mtime=0)
        metadata = {"logcenter-destination": self.destination.public_id,
                    "logcenter-events": str(len(documents)),
                    "logcenter-first-event": documents[0]["event_id"],
                    "logcenter-last-event": documents[-1]["event_id"]}
        client = self.client()  # DeliveryFailed when it cannot be made
        try:
            client.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata,
                              **self.extra_arguments("application/x-ndjson",
                                                     ContentEncoding="gzip"))
        except (BotoCoreError, ClientError) as exc:
            raise self.failure(exc, key) from None

    # --- files (export jobs) ------------------------------------------------------------

    def upload(self, local_path, key, content_type, progress=None):
        """Upload a file (multipart when large), overwriting the key. `progress(bytes)` is
        called as parts go, in the calling thread (the upload uses no threads of its own,
        so the callback may use the caller's database connection)."""
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            client.upload_file(str(local_path), self.bucket, key,
                               ExtraArgs=self.extra_arguments(content_type),
                               Config=TransferConfig(use_threads=False), Callback=progress)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self.failure(exc, key) from None


def upload_file(destination, local_path, key, *, content_type="application/octet-stream",
                progress=None):
    """Put a local file at `key` in an S3 destination's bucket (its credentials and
    options), each request tried three times; `progress(bytes)` as it goes. Returns its
    s3:// address; DeliveryFailed otherwise."""
    from logcenter.streams import secrets

    try:
        sender = S3Objects(destination, attempts=3)
    except secrets.UnreadableCredentials as exc:
        raise DeliveryFailed(str(exc)) from None
    try:
        sender.upload(local_path, key, content_type, progress)
    finally:
        sender.close()
    return object_url(sender.bucket, key)
