"""Exports: the list's rows, for the list's filter and sort, written to a file by a worker.

The rows come from the same selector as the page and the API (visibility, filters,
ordering), read with a server-side cursor in chunks so memory stays flat. The file is
written under a temporary name and renamed when complete, so a job never shows
"completed" beside a partial file. A job may also name an S3 destination
(logcenter.streams) the user may use: the complete file is then uploaded there too, and
the job completes only once the store has it (the local file stays for the download).
"""

import codecs
import csv
import io
import json
import os
import re
import time
import uuid
import zoneinfo
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from logcenter.core.access import MASK, access_for
from logcenter.engines import engine_for
from logcenter.core import presentation
from logcenter.core.pagination import estimated_count
from logcenter.models import ExportJob, SystemEvent
from logcenter.core.query import LogQuery
from logcenter.core.registry import registry
from logcenter.core.services import log_read_record, system_event_record
from logcenter.core.text import escape_controls

CHUNK_ROWS = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Formats that can end with the digest blocks covering their rows (include_digests).
DIGEST_FORMATS = (ExportJob.Format.JSON, ExportJob.Format.NDJSON)
ALL_COLUMNS = "all"
LOCAL_TIME_COLUMN = "occurred_at_local"


class InvalidExportOption(ValueError):
    """A bad export option: `field` names it (the API's 400 is keyed by it)."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class UploadFailed(Exception):
    """The file could not be put at the job's destination: the job fails saying why."""


class QueueUnavailable(Exception):
    """The task queue (Redis) could not take the job; the job is marked failed."""

    def __init__(self, job, reason):
        super().__init__(reason)
        self.job = job


CONTENT_TYPES = {ExportJob.Format.CSV: "text/csv; charset=utf-8",
                 ExportJob.Format.JSON: "application/json",
                 ExportJob.Format.NDJSON: "application/x-ndjson"}


def export_dir():
    path = settings.MEDIA_ROOT / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- creating -----------------------------------------------------------------------

def export_create(*, user, kind_slug, fmt, params, excel_bom=None, include_digests=False,
                  columns=None, local_times=False, destination=None, destination_folder=""):
    """Validate and queue an export. PermissionDenied without the export permission,
    query.InvalidLogQuery for a bad filter, ValueError for a bad kind or format
    (InvalidExportOption naming the option for a bad column).
    `include_digests` (JSON and NDJSON): end with the signed digest blocks of the rows.
    `columns`: field names, or "all"; None: a CSV gets the tab's visible columns, JSON and
    NDJSON every field. `local_times`: an extra occurred_at_local column in the user's
    time zone. `excel_bom` None: on when the console speaks Chinese to the user (Excel
    reads a BOM-less UTF-8 CSV in the system's legacy code page), off otherwise.
    `destination`: an S3 destination the user may use, as its ID (dst_…) or an
    s3://bucket/prefix/ address under it (export_destination), `destination_folder` a
    folder under that; the file is uploaded there too, named
    logcenter-<kind>-<export_id>.<format>."""
    kind = registry.get(kind_slug)
    if kind is None:
        raise ValueError(gettext("kind must be one of: {choices}").format(
            choices=", ".join(k.slug for k in registry)))
    if fmt not in ExportJob.Format.values:
        raise ValueError(gettext("format must be one of: {choices}").format(
            choices=", ".join(ExportJob.Format.values)))
    if include_digests and fmt not in DIGEST_FORMATS:
        raise ValueError(gettext("include_digests needs the JSON or NDJSON format"))
    access_for(user, kind).check_export(fmt)  # the role, and an organization's plan
    query = LogQuery.parse(kind, user, params)  # bad input fails now
    params_dict = query.all_pages()
    if columns is None and fmt == ExportJob.Format.CSV and not include_digests:
        columns = shown_columns(kind, user, query)
    names = export_column_names(kind, access_for(user, kind), fmt, columns, include_digests)
    target, key = None, ""
    export_id = uuid.uuid4()
    if destination:
        target, prefix = export_destination(user, destination, destination_folder)
        key = f"{prefix}{object_name(kind.slug, export_id, fmt)}"
    elif destination_folder:
        raise InvalidExportOption("destination", gettext(
            "Choose the destination the folder is in."))
    if excel_bom is None:
        excel_bom = (translation.get_language() or "").startswith("zh")
    job = ExportJob.objects.create(export_id=export_id, user=user, kind=kind.slug, format=fmt,
                                   params=params_dict, excel_bom=excel_bom,
                                   include_digests=include_digests, columns=names,
                                   time_zone=user_time_zone(user) if local_times else "",
                                   destination=target, destination_key=key)
    enqueue(job)
    return job


# --- destinations (object storage) ----------------------------------------------------

def usable_destinations(user):
    """The S3 destinations `user` may export to: those they manage (logcenter.streams)
    that carry their own scope: an organization's for its owners and admins, the
    platform's (no organization) for platform administrators. A platform destination
    scoped to one organization is not offered: an administrator's export holds every
    organization's rows."""
    from logcenter.core.access import membership_of
    from logcenter.streams.models import Destination
    from logcenter.streams.services import manageable_destinations

    membership = membership_of(user)
    return manageable_destinations(user).filter(
        type=Destination.Type.S3,
        organization_id=membership.organization_id if membership is not None else None)


def export_destination(user, value, folder=""):
    """(destination, key prefix) for `value`: an S3 destination's ID (dst_…), or an
    s3://bucket/prefix/ address in the bucket of one, under its prefix (the destination
    with the longest such prefix); `folder`, a folder under that. InvalidExportOption
    naming `destination` for anything else, or a destination the user may not use."""
    from django.core.exceptions import ValidationError

    from logcenter.streams.protocols.s3 import SCHEME, parse_endpoint

    value = str(value).strip()
    allowed = list(usable_destinations(user).order_by("pk"))
    if value.startswith("dst_"):
        found = next((d for d in allowed if d.public_id == value), None)
        if found is None:
            raise InvalidExportOption("destination", gettext(
                "{value} is not an S3 destination you may export to.").format(value=value))
        try:
            bucket, prefix = parse_endpoint(found.endpoint)
        except ValidationError as exc:
            raise InvalidExportOption("destination", " ".join(exc.messages)) from None
    elif value.startswith(SCHEME):
        try:
            bucket, prefix = parse_endpoint(value)
        except ValidationError as exc:
            raise InvalidExportOption("destination", " ".join(exc.messages)) from None
        found, longest = None, -1
        for candidate in allowed:
            try:
                their_bucket, their_prefix = parse_endpoint(candidate.endpoint)
            except ValidationError:
                continue
            if (their_bucket == bucket and prefix.startswith(their_prefix)
                    and len(their_prefix) > longest):
                found, longest = candidate, len(their_prefix)
        if found is None:
            raise InvalidExportOption("destination", gettext(
                "{value} is not under an S3 destination you may export to ({choices}).").format(
                    value=value, choices=", ".join(d.endpoint for d in allowed[:5])
                    or gettext("you may use none")))
    else:
        raise InvalidExportOption("destination", gettext(
            "Give an S3 destination's ID (dst_…) or an s3://bucket/prefix/ address under "
            "one."))
    folder = str(folder or "").strip().strip("/")
    if folder:
        try:
            prefix = parse_endpoint(f"{SCHEME}{bucket}/{prefix}{folder}/")[1]
        except ValidationError as exc:
            raise InvalidExportOption("destination", " ".join(exc.messages)) from None
    return found, prefix


def object_name(kind_slug, export_id, fmt):
    return f"logcenter-{kind_slug}-{export_id}.{fmt}"


def destination_url(job):
    """Where the job's file goes (or went): s3://bucket/key, or "" without a destination."""
    if not job.destination_key:
        return ""
    from logcenter.streams.protocols.s3 import object_url, parse_endpoint

    if job.destination is None:
        return object_url("(deleted destination)", job.destination_key)
    from django.core.exceptions import ValidationError

    try:
        return object_url(parse_endpoint(job.destination.endpoint)[0], job.destination_key)
    except ValidationError:  # an endpoint saved before a rule was tightened
        return job.destination_key


def _upload(job, path):
    """Put the finished file at the job's destination (UploadFailed saying why), after
    checking again that the job's user may still use it."""
    from logcenter.streams.protocols import DeliveryFailed
    from logcenter.streams.protocols.s3 import upload_file

    if job.destination_id is None:
        raise UploadFailed("The export's destination was deleted; export again to another "
                           "one.")
    destination = usable_destinations(job.user).filter(pk=job.destination_id).first()
    if destination is None:
        raise UploadFailed(f"{job.user.get_username()} may no longer export to the "
                           f"destination {job.destination.name} ({job.destination.public_id}).")
    last = [time.monotonic()]

    def heartbeat(_sent):  # a long upload is no stopped worker (exports_reap_stale)
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    try:
        return upload_file(destination, path, job.destination_key,
                           content_type=CONTENT_TYPES[job.format], progress=heartbeat)
    except DeliveryFailed as exc:
        raise UploadFailed(f"The file could not be uploaded: {exc}") from None


def enqueue(job):
    from kombu.exceptions import OperationalError

    try:
        export_run_task.delay(job.pk)
    except OperationalError as exc:  # broker down: kombu wraps redis's connection errors
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, finished_at=timezone.now(),
            error="The task queue is unavailable right now; retry the export later.")
        system_event_record(source="exports", event="export.queue_unavailable",
                            level=SystemEvent.Level.ERROR, resource_type="export",
                            resource_id=str(job.export_id),
                            message=f"Could not queue export: {type(exc).__name__}")
        job.refresh_from_db()
        raise QueueUnavailable(job, str(exc)) from exc
    except Exception as exc:
        # Tasks run in-process (DEBUG's demo, tests) raise their own failure here. The job
        # reports it as the failure it is (export_run has recorded it; a task that failed
        # before it could is recorded now); the queue was never the problem.
        if not export_run_task.app.conf.task_always_eager:
            raise
        ExportJob.objects.filter(pk=job.pk).exclude(status=ExportJob.Status.FAILED).update(
            status=ExportJob.Status.FAILED, finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}"[:1000])
        job.refresh_from_db()


def export_retry(job):
    """Run a failed (or expired) export again, from scratch."""
    if job.status not in (ExportJob.Status.FAILED, ExportJob.Status.EXPIRED):
        raise ValueError(gettext("Only a failed or expired export can be retried."))
    access_for(job.user, registry[job.kind]).check_export(job.format)  # the plan may differ now
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.QUEUED, error="", rows_written=0, finished_at=None,
        started_at=None, file_name="", size_bytes=0)
    job.refresh_from_db()
    enqueue(job)
    return job


# --- running ------------------------------------------------------------------------

def export_columns(kind, access, names=None):
    """The fields an export may hold for this role (`names`: those, in that order)."""
    fields = {f.name: f for f in kind.model._meta.concrete_fields
              if f.name != "id" and f.name not in access.hidden_fields}
    if not names:
        return list(fields.values())
    return [fields[name] for name in names if name in fields]


def shown_columns(kind, user, query):
    """The columns the list shows this user for `query` (its `columns`, a saved view's, or
    the column chooser's), after the row's event_id, as far as an export may hold them; None
    where the table shows its own (default_columns)."""
    shown = query.columns or presentation.remembered_columns(kind, user)
    if not shown:
        return None
    allowed = {f.name for f in export_columns(kind, access_for(user, kind))}
    names = ("event_id", *presentation.FIXED_COLUMNS, *shown)  # as the table heads them
    return list(dict.fromkeys(n for n in names if n in allowed)) or None


def default_columns(kind):
    """The tab's visible columns (its table's), after the row's event_id: what a
    spreadsheet reader sees on the page, and the id that finds the row again."""
    fields = {f.name for f in kind.model._meta.concrete_fields}
    shown = [name for name in kind.table.base_columns if name in fields]
    return ["event_id", *(name for name in shown if name != "event_id")]


def export_column_names(kind, access, fmt, columns, include_digests=False):
    """The file's columns as field names, validated (InvalidExportOption names the first
    unknown one). The digest blocks cover whole rows, so an export with them has all."""
    allowed = [f.name for f in export_columns(kind, access)]
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if include_digests:
        if columns and columns != [ALL_COLUMNS]:
            raise InvalidExportOption("columns",
                                      gettext("include_digests needs every column (all)."))
        return allowed
    if columns == [ALL_COLUMNS]:
        return allowed
    if not columns:
        if fmt != ExportJob.Format.CSV:
            return allowed
        return [name for name in default_columns(kind) if name in allowed]
    unknown = [name for name in columns if name not in allowed]
    if unknown:
        raise InvalidExportOption("columns", gettext(
            "Unknown column {column}; the columns are: {columns}, or all.").format(
                column=unknown[0], columns=", ".join(allowed)))
    if len(set(columns)) != len(columns):
        raise InvalidExportOption("columns", gettext("A column is named twice."))
    return columns


def user_time_zone(user):
    """The user's time zone name (their setting), UTC when it is not a known zone."""
    name = getattr(user, "timezone", "") or "UTC"
    return name if name in zoneinfo.available_timezones() else "UTC"


def local_time_text(value, zone):
    """ISO 8601 in the zone, with its offset (2026-01-02T08:00:00.000000+08:00)."""
    return value.astimezone(zone).isoformat(timespec="microseconds")


def export_queryset(kind, user, params_dict, snapshot_at):
    """The list's rows (same selector, same order) stored up to the snapshot time."""
    query = LogQuery.parse(kind, user, params_dict)
    ordering = query.ordering
    key = ordering.lstrip("-")
    sign = "-" if ordering.startswith("-") else ""
    return (query.queryset.filter(ingested_at__lte=snapshot_at)
            .order_by(f"{sign}{key}", f"{sign}id"))


TEXTUAL = (models.CharField, models.TextField, models.JSONField)


def needs_neutralising(field, access):
    """Free text needs formula and control-character treatment; a choice field holds one
    of its validated values (unless masked, when it holds the mask)."""
    return isinstance(field, TEXTUAL) and not (field.choices and field.name not in
                                               access.masked_fields)


def export_rows(kind, user, queryset, names=None, time_zone=""):
    """(columns, row tuples) masked for the user's role, read in chunks with a
    server-side cursor (one SELECT: one consistent snapshot). With `time_zone`, each row
    ends with its occurred_at in that zone."""
    access = access_for(user, kind)
    columns = export_columns(kind, access, names)
    queryset = queryset.values_list(*[f.name for f in columns], "occurred_at")
    masked = [i for i, f in enumerate(columns) if f.name in access.masked_fields]
    zone = zoneinfo.ZoneInfo(time_zone) if time_zone else None

    def rows():
        for row in queryset.iterator(chunk_size=CHUNK_ROWS):
            row, occurred_at = list(row[:-1]), row[-1]
            for i in masked:
                if row[i] not in (None, "", {}, []):
                    row[i] = MASK
            if zone is not None:
                row.append(local_time_text(occurred_at, zone))
            yield row

    return columns, rows()


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Decimal):
        return format(value, "f")  # str() writes a zero stored as 0 on SQLite as "0E-8"
    if hasattr(value, "hex") and not isinstance(value, (str, bytes)):  # UUID
        return str(value)
    return value


def csv_cell(value):
    """RFC 4180 cell text: no formula execution in spreadsheets, no forged lines."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)  # as PostgreSQL prints jsonb
    return neutralised(str(value))


def neutralised(text):
    """No formula execution in spreadsheets (a leading quote), no forged lines or columns
    (control characters escaped)."""
    if text.startswith(FORMULA_PREFIXES):
        text = "'" + text
    return escape_controls(text)


# A COPY row that may need neutralised(): a control character (C0, DEL, or the UTF-8 of
# the others text.CONTROL_RE names) before its line end, or a cell starting like a
# formula. Most rows have neither and are written as the database made them. The test runs
# on a thousand rows at once with a few passes of bytes methods: a regular expression per
# row would cost more than the COPY itself.
_C0_AND_DEL = bytes(range(0x20)) + b"\x7f"
_WIDE_CONTROLS = re.compile(  # text.CONTROL_RE beyond ASCII, as UTF-8
    rb"\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]|\xef\xbb\xbf")
_WIDE_LEADS = (b"\xc2", b"\xd8", b"\xe2", b"\xef")
# Every formula character becomes "=", a line end ",", quotes vanish: a cell starts like a
# formula only if ",=" appears (or the text starts with "=").
_FORMULA_FOLD = bytes.maketrans(b"+-@\n", b"===,")


def _needs_treatment(lines, count):
    """Whether any of `count` COPY lines (LF-terminated, joined) may need neutralised()."""
    if len(lines) - len(lines.translate(None, _C0_AND_DEL)) != count:  # more than the LFs
        return True
    if any(lead in lines for lead in _WIDE_LEADS) and _WIDE_CONTROLS.search(lines):
        return True
    folded = lines.translate(_FORMULA_FOLD, b'"')
    return folded.startswith(b"=") or b",=" in folded


class ExportWriter:
    """Writes one format's header, rows and trailer as bytes.

    Rows come either as Python tuples (write_rows) or as the database's ready-made lines
    (write_lines, the PostgreSQL COPY path); both give the same file.
    """

    def __init__(self, job, fh, columns, meta, textual=()):
        self.job, self.fh, self.meta = job, fh, meta
        self.names = [f.name for f in columns] + ([LOCAL_TIME_COLUMN] if job.time_zone else [])
        self.textual = [i for i, f in enumerate(columns) if f.name in textual]
        self.count = 0
        self._rest = b""
        self._copied = []

    def _text(self, text):
        self.fh.write(text.encode("utf-8"))

    def start(self):
        fmt = self.job.format
        if fmt == ExportJob.Format.CSV:
            if self.job.excel_bom:
                self.fh.write(codecs.BOM_UTF8)
            self._text(_csv_line(self.names))
        elif fmt == ExportJob.Format.JSON:
            self._text('{"export": ' + json.dumps(self.meta) + ', "rows": [\n')
        # NDJSON: rows only, one per line (the snapshot is in the job's manifest).

    def write_rows(self, rows):
        if self.job.format == ExportJob.Format.CSV:
            lines = "".join(_csv_line([csv_cell(v) for v in row]) for row in rows)
        else:
            lines = "".join(json.dumps(dict(zip(self.names, map(_plain, row))),
                                       ensure_ascii=False) + "\n" for row in rows)
        self.write_lines(lines.encode("utf-8"))

    def write_copied(self, data):
        """One message of PostgreSQL's COPY: for CSV exactly one row ending in LF."""
        if self.job.format != ExportJob.Format.CSV:
            self.write_lines(data)
            return
        self._copied.append(data)
        if len(self._copied) >= 1000:
            self.flush()

    def flush(self):
        """Write the buffered COPY rows with RFC 4180 line ends (as the header's); the rare
        row that needs it is neutralised cell by cell."""
        rows, self._copied = self._copied, []
        if not rows:
            return
        self.count += len(rows)
        lines = b"".join(rows)
        if not _needs_treatment(lines, len(rows)):
            self.fh.write(lines.replace(b"\n", b"\r\n"))  # the LFs are the line ends
            return
        for row in rows:
            if not _needs_treatment(row, 1):
                self.fh.write(row[:-1] + b"\r\n")
                continue
            cells = next(csv.reader(io.StringIO(row[:-1].decode("utf-8"), newline="")))
            for i in self.textual:
                cells[i] = neutralised(cells[i])
            self.fh.write(_csv_line(cells).encode("utf-8"))

    def write_lines(self, data):
        """Whole or partial lines, one row per line (cells never hold a raw newline)."""
        if self.job.format != ExportJob.Format.JSON:
            self.fh.write(data)
            self.count += data.count(b"\n")
            return
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self.fh.write((b",\n" if self.count else b"") + line)
            self.count += 1

    def finish(self, integrity=None):
        """The end: `integrity`, the JSON text pieces of the digest blocks covering the
        rows (logcenter.integrity.exports), a last key (JSON) or line (NDJSON). A CSV ends
        with its last row and NDJSON with its last row (or the digests): a line of
        metadata there would be a junk record in a spreadsheet or a data frame."""
        self.flush()
        fmt = self.job.format
        if fmt == ExportJob.Format.CSV:
            return
        if fmt == ExportJob.Format.JSON:
            self._text('\n], "row_count": ' + str(self.count))
            if integrity is not None:
                self._text(', "integrity": ')
                for part in integrity:
                    self._text(part)
            self._text("}\n")
        elif integrity is not None:
            self._text('{"_integrity": ')
            for part in integrity:
                self._text(part)
            self._text("}\n")


def _csv_line(cells):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def export_run(job_id):
    """Run one export from scratch (a redelivered task restarts it)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING):
            return
        now = timezone.now()
        job.status, job.started_at, job.heartbeat_at = ExportJob.Status.RUNNING, now, now
        job.rows_written, job.attempts, job.error = 0, job.attempts + 1, ""
        job.save()
    kind = registry[job.kind]
    final = export_dir() / f"{job.export_id}.{job.format}"
    partial = final.with_suffix(final.suffix + ".part")
    try:
        # Rows stored after the snapshot are left out, whatever the sort.
        snapshot_at = timezone.now()
        queryset = export_queryset(kind, job.user, job.params, snapshot_at)
        job.snapshot_at = snapshot_at
        job.window_start, job.window_end = export_window(kind, job.user, job.params, snapshot_at)
        job.estimated_total = estimated_count(queryset, exact_up_to=100_000)
        job.save(update_fields=["estimated_total", "snapshot_at", "window_start", "window_end"])
        meta = export_manifest(job, kind)
        access = access_for(job.user, kind)
        with open(partial, "wb") as fh:
            columns = export_columns(kind, access, job.columns)
            writer = ExportWriter(job, fh, columns, meta, textual={
                f.name for f in columns if needs_neutralising(f, access)})
            writer.start()
            engine = engine_for(kind)
            # The store formats the cells and streams them; a local-time column is the
            # Python writer's (the option is rare, the store's formatting stays one shape).
            if engine.formats_exports and not job.time_zone:
                progress = _Progress(job, writer)
                try:
                    engine.export_copy(queryset, columns, access, job.format,
                                       lambda data: (writer.write_copied(data), progress.tick()))
                finally:
                    progress.close()
            else:
                _, rows = export_rows(kind, job.user, queryset, job.columns, job.time_zone)
                chunk = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) >= CHUNK_ROWS:
                        writer.write_rows(chunk)
                        chunk = []
                        _progress(job, writer.count)
                writer.write_rows(chunk)
            if job.include_digests:
                from logcenter.integrity.exports import trailer_parts

                with transaction.atomic():  # the ids through a server-side cursor
                    writer.finish(trailer_parts(kind, queryset.values_list("pk", flat=True)
                                                .iterator(chunk_size=CHUNK_ROWS)))
            else:
                writer.finish()
        os.replace(partial, final)
        uploaded = _upload(job, final) if job.destination_key else ""
    except Exception as exc:
        partial.unlink(missing_ok=True)
        final.unlink(missing_ok=True)  # a failed job has no file (an upload's failure too)
        error = str(exc) if isinstance(exc, UploadFailed) else f"{type(exc).__name__}: {exc}"
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, finished_at=timezone.now(), error=error[:1000])
        system_event_record(source="exports", event="export.failed",
                            level=SystemEvent.Level.ERROR, resource_type="export",
                            resource_id=str(job.export_id),
                            message=f"{kind.slug} export failed: {type(exc).__name__}",
                            details={"error": error[:1000]} if isinstance(exc, UploadFailed)
                            else None)
        raise
    finished = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.COMPLETED, rows_written=writer.count, finished_at=finished,
        file_name=final.name, size_bytes=final.stat().st_size,
        expires_at=finished + timedelta(days=settings.LOGCENTER["EXPORT_TTL_DAYS"]))
    log_read_record(kind=kind, user=job.user, action="exported", details={
        "export_id": str(job.export_id), "format": job.format, "rows": writer.count,
        "filter": job.filter_query, **({"destination": uploaded} if uploaded else {})})
    system_event_record(source="exports", event="export.completed", resource_type="export",
                        resource_id=str(job.export_id),
                        message=f"{kind.slug} export of {writer.count} rows completed",
                        details={"rows": writer.count, "format": job.format})


class _Progress:
    """Report progress (and a heartbeat) at most every half second, on a connection of
    its own: the export's connection is busy streaming the COPY."""

    def __init__(self, job, writer):
        self.job, self.writer, self.last = job, writer, 0.0
        self.conn = None

    def tick(self):
        now = time.monotonic()
        if now - self.last < 0.5:
            return
        self.last = now
        if self.conn is None:
            self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
        with self.conn.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ExportJob._meta.db_table} SET rows_written = %s, heartbeat_at = %s "
                "WHERE id = %s", [self.writer.count, timezone.now(), self.job.pk])

    def close(self):
        if self.conn is not None:
            self.conn.close()


def export_window(kind, user, params, snapshot_at):
    """(start, end) of the rows the export may hold: the list's window, its end never
    past the snapshot. A start of None: the kind's whole history ("all")."""
    start, end, _ = LogQuery.parse(kind, user, params).time_window
    plan_start = access_for(user, kind).window_start  # an organization's plan window
    if plan_start is not None and (start is None or start < plan_start):
        start = plan_start
    return start, min(end, snapshot_at) if end else snapshot_at


def export_manifest(job, kind=None):
    """What the file holds, beside it (the manifest download, the download's headers and
    a JSON export's "export" key): kind, format, filter, window, snapshot, columns and,
    once completed, the row count."""
    kind = kind or registry[job.kind]
    return {
        "export_id": str(job.export_id), "kind": kind.slug, "format": job.format,
        "filter": job.filter_query, "snapshot_at": _plain(job.snapshot_at),
        "window_start": _plain(job.window_start), "window_end": _plain(job.window_end),
        "columns": list(job.columns) + ([LOCAL_TIME_COLUMN] if job.time_zone else []),
        "time_zone": job.time_zone or None, "times": "UTC",
        "row_count": job.rows_written if job.status == ExportJob.Status.COMPLETED else None,
        "excel_bom": job.excel_bom,
    }


def _progress(job, rows_written):
    ExportJob.objects.filter(pk=job.pk).update(rows_written=rows_written,
                                               heartbeat_at=timezone.now())


def export_file(job, user):
    """The finished file's path, after checking permission again at download time."""
    kind = registry[job.kind]
    if job.user_id != user.pk or not access_for(user, kind).can_export:
        raise PermissionDenied(gettext("This export is not yours to download."))
    access_for(user, kind).check_export(job.format)  # an organization's plan, as it is now
    if job.status != ExportJob.Status.COMPLETED:
        raise FileNotFoundError(gettext("The export is not ready."))
    path = export_dir() / job.file_name
    if not path.exists():
        raise FileNotFoundError(gettext("The export file is gone."))
    return path


def exports_expire(now=None):
    """Delete files past their expiry; returns how many jobs expired."""
    now = now or timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.COMPLETED, expires_at__lte=now):
        (export_dir() / job.file_name).unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED)
        expired += 1
    return expired


def exports_reap_stale(now=None):
    """Fail running jobs whose worker stopped beating (killed mid-export)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.LOGCENTER["EXPORT_STALE_SECONDS"])
    stale = ExportJob.objects.filter(status=ExportJob.Status.RUNNING, heartbeat_at__lt=cutoff)
    count = 0
    for job in stale:
        for leftover in export_dir().glob(f"{job.export_id}.*.part"):
            leftover.unlink(missing_ok=True)
        count += ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.FAILED, finished_at=now,
            error="The worker stopped while exporting; retry the export.")
    return count


# --- tasks --------------------------------------------------------------------------

@shared_task(name="logcenter.export_run", acks_late=True, reject_on_worker_lost=True)
def export_run_task(job_id):
    export_run(job_id)


@shared_task(name="logcenter.exports_housekeeping")
def exports_housekeeping():
    """Delete expired files; fail jobs whose worker died mid-export."""
    return {"expired": exports_expire(), "stale": exports_reap_stale()}
