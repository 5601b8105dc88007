"""Export jobs over the API: create, poll, download, retry."""

from django.http import FileResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.exports import jobs as exports
from logcenter.models import ExportJob
from logcenter.core.params import UNKNOWN, check_parameters
from logcenter.core.registry import registry
from logcenter.core.serializers import UTCDateTimeField


class ExportJobSerializer(serializers.ModelSerializer):
    created_at = UTCDateTimeField(read_only=True)
    started_at = UTCDateTimeField(read_only=True)
    finished_at = UTCDateTimeField(read_only=True)
    expires_at = UTCDateTimeField(read_only=True)
    progress = serializers.IntegerField(read_only=True)
    snapshot_at = UTCDateTimeField(read_only=True)
    window_start = UTCDateTimeField(read_only=True)
    window_end = UTCDateTimeField(read_only=True)
    download_url = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()
    filter = serializers.SerializerMethodField()
    row_count = serializers.SerializerMethodField()
    columns = serializers.SerializerMethodField()
    destination = serializers.SerializerMethodField()
    destination_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ("export_id", "kind", "format", "include_digests", "excel_bom", "status",
                  "rows_written", "row_count", "estimated_total",
                  "progress", "error", "filter", "columns", "time_zone", "snapshot_at",
                  "window_start", "window_end", "created_at", "started_at", "finished_at",
                  "expires_at", "size_bytes", "download_url", "manifest_url", "destination",
                  "destination_url")

    def get_destination(self, job) -> str | None:
        """The S3 destination's ID (dst_…) the file is uploaded to, or null."""
        return job.destination.public_id if job.destination is not None else None

    def get_destination_url(self, job) -> str | None:
        """s3://bucket/key of the file there (written once the job completes), or null."""
        return exports.destination_url(job) or None

    def get_download_url(self, job) -> str | None:
        if job.status != ExportJob.Status.COMPLETED:
            return None
        url = reverse("export-download", args=[job.export_id])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_manifest_url(self, job) -> str | None:
        if job.status != ExportJob.Status.COMPLETED:
            return None
        url = reverse("export-manifest", args=[job.export_id])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_filter(self, job) -> str:
        return job.filter_query

    def get_row_count(self, job) -> int | None:
        """The rows in the file: known once the job completed."""
        return exports.export_manifest(job)["row_count"]

    def get_columns(self, job) -> list[str]:
        return exports.export_manifest(job)["columns"]


def job_response(request, job, status_code):
    """The job as it stands now (a queued job may already have run in-process)."""
    job.refresh_from_db()
    return Response(ExportJobSerializer(job, context={"request": request}).data,
                    status=status_code)


class ExportCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[kind.slug for kind in registry])
    format = serializers.ChoiceField(choices=ExportJob.Format.choices, default="csv")
    excel_bom = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="CSV: start with a UTF-8 BOM (Excel). Default: on when your language is "
                  "Chinese, off otherwise.")
    columns = serializers.JSONField(
        required=False, default=None,
        help_text='Field names (a list, or a comma-separated string), or "all". Default: a '
                  "CSV has the tab's visible columns, JSON and NDJSON every field.")
    local_times = serializers.BooleanField(
        default=False, help_text="Add an occurred_at_local column in your time zone (times "
                                 "stay UTC in every other column).")
    include_digests = serializers.BooleanField(
        default=False, help_text="JSON and NDJSON: end with the signed digest blocks covering "
                                 "the rows, to verify them offline (docs/integrity.md).")
    filters = serializers.DictField(
        required=False, default=dict,
        help_text="The list's query parameters; they may also be sent as query parameters.")
    destination = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1024,
        help_text="Also upload the file to object storage: an S3 destination you manage "
                  "(dst_…), or an s3://bucket/prefix/ address under one; the file is named "
                  "logcenter-<kind>-<export_id>.<format> there.")

    def validate(self, data):
        if data.get("include_digests") and data.get("format") not in exports.DIGEST_FORMATS:
            raise ValidationError({"include_digests": [
                gettext("Needs the json or ndjson format.")]})
        return data

    def validate_columns(self, value):
        ok = value is None or isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(name, str) for name in value))
        if not ok:
            raise ValidationError(gettext('A list of field names, a comma-separated string, or '
                                          '"all".'))
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict):  # a field we do not know is an error, not ignored
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({UNKNOWN: unknown})
        return super().to_internal_value(data)


class ExportListCreateView(APIView):
    @extend_schema(operation_id="v1_exports_list", responses=inline_serializer("ExportJobList", {
        "results": ExportJobSerializer(many=True)}))
    def get(self, request):
        check_parameters(request.query_params, known=())
        jobs = ExportJob.objects.filter(user=request.user).select_related("destination")[:100]
        return Response({"results": ExportJobSerializer(jobs, many=True,
                                                        context={"request": request}).data})

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportJobSerializer})
    def post(self, request):
        body = ExportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        params = {**{k: v for k, v in request.query_params.lists()},
                  **{k: v if isinstance(v, list) else [v] for k, v in data["filters"].items()}}
        try:
            job = exports.export_create(user=request.user, kind_slug=data["kind"],
                                        fmt=data["format"], params=params,
                                        excel_bom=data["excel_bom"],
                                        include_digests=data["include_digests"],
                                        columns=data["columns"],
                                        local_times=data["local_times"],
                                        destination=data["destination"] or None)
        except exports.InvalidExportOption as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        except exports.QueueUnavailable as exc:
            return job_response(request, exc.job, status.HTTP_503_SERVICE_UNAVAILABLE)
        return job_response(request, job, status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(responses=ExportJobSerializer)
    def get(self, request, export_id):
        check_parameters(request.query_params, known=())
        job = get_object_or_404(ExportJob, export_id=export_id, user=request.user)
        return Response(ExportJobSerializer(job, context={"request": request}).data)


class ExportRetryView(APIView):
    @extend_schema(request=None, responses={202: ExportJobSerializer})
    def post(self, request, export_id):
        check_parameters(request.query_params, known=())
        check_parameters(request.data if isinstance(request.data, dict) else {}, known=())
        job = get_object_or_404(ExportJob, export_id=export_id, user=request.user)
        try:
            exports.export_retry(job)
        except ValueError as exc:
            raise ValidationError({"status": [str(exc)]}) from None
        except exports.QueueUnavailable as exc:
            return job_response(request, exc.job, status.HTTP_503_SERVICE_UNAVAILABLE)
        return job_response(request, job, status.HTTP_202_ACCEPTED)


def download_response(job, user):
    """The file, after checking permission again; used by the API and the page."""
    try:
        path = exports.export_file(job, user)
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from None
    response = FileResponse(open(path, "rb"), as_attachment=True,
                            content_type=exports.CONTENT_TYPES[job.format],
                            filename=f"logcenter-{job.kind}-{job.export_id}.{job.format}")
    for name, value in snapshot_headers(job).items():
        response[name] = value
    return response


def snapshot_headers(job) -> dict:
    """The snapshot beside the file, not in it: row count, filter (URL-encoded, as the
    list's query string), window and snapshot time (ISO UTC; an open start is empty)."""
    manifest = exports.export_manifest(job)
    return {
        "X-Logcenter-Row-Count": str(manifest["row_count"]),
        "X-Logcenter-Filter": manifest["filter"],  # URL-encoded already: ASCII
        "X-Logcenter-Snapshot-At": manifest["snapshot_at"] or "",
        "X-Logcenter-Window": f"{manifest['window_start'] or ''}/{manifest['window_end'] or ''}",
        "X-Logcenter-Columns": ",".join(manifest["columns"]),
    }


def manifest_response(job, user):
    """The manifest (JSON) of a completed export, after checking permission again."""
    try:
        exports.export_file(job, user)
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from None
    return JsonResponse(exports.export_manifest(job), json_dumps_params={"indent": 2})


class ExportManifestView(APIView):
    @extend_schema(responses={(200, "application/json"): dict})
    def get(self, request, export_id):
        """What a completed export's file holds: kind, format, filter, window, snapshot
        time, columns, row count."""
        check_parameters(request.query_params, known=())
        job = get_object_or_404(ExportJob, export_id=export_id, user=request.user)
        return manifest_response(job, request.user)


class ExportDownloadView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, export_id):
        check_parameters(request.query_params, known=())
        job = get_object_or_404(ExportJob, export_id=export_id)
        if job.user_id != request.user.pk:
            raise NotFound(gettext("No such export."))
        return download_response(job, request.user)
