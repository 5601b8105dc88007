"""Tamper evidence over the API: the public key (anyone), each kind's seal and last check,
and a verification run for auditors.

Who may verify a kind: whoever may see all of its rows (view_all_<model>): verification
reads every row, and reports only ids and what is wrong, never a value.
"""

from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import Sum
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.core.access import access_for
from logcenter.integrity import keys, status
from logcenter.integrity.models import DigestBlock
from logcenter.integrity.verification import _block_range, verify_and_report
from logcenter.core.params import check_parameters
from logcenter.core.registry import registry


class KeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    public_key = serializers.CharField(help_text="The raw Ed25519 public key, 64 hex digits.")


class PublicKeySerializer(KeySerializer):
    algorithm = serializers.CharField()
    public_key_pem = serializers.CharField()
    trusted_keys = KeySerializer(many=True, help_text="Every key whose signatures verify "
                                                      "(the current one and retired ones).")
    documentation = serializers.CharField()


class PublicKeyView(APIView):
    """The Ed25519 public key that signs the digest blocks: all an auditor needs, beside
    the blocks and rows, to verify them offline (README: Tamper evidence)."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(tags=["Integrity"], responses=PublicKeySerializer)
    def get(self, request):
        check_parameters(request.query_params, known=())
        signer = keys.signing_key()
        trusted = keys.trusted_keys()
        return Response({
            "algorithm": "Ed25519", "key_id": signer.key_id,
            "public_key": signer.public_raw.hex(), "public_key_pem": signer.public_pem,
            "trusted_keys": [{"key_id": key_id, "public_key": keys.public_key_hex(key)}
                             for key_id, key in trusted.items()],
            "documentation": "docs/integrity.md"})


class ProblemSerializer(serializers.Serializer):
    what = serializers.CharField()
    kind = serializers.CharField()
    block = serializers.IntegerField(allow_null=True)
    row = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField(allow_blank=True)
    meaning = serializers.CharField()


class HeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(allow_null=True)
    digest = serializers.CharField(allow_blank=True)


class VerifyReportSerializer(serializers.Serializer):
    kind = serializers.CharField()
    ok = serializers.BooleanField()
    scope = serializers.CharField(allow_blank=True)
    digests_valid = serializers.IntegerField()
    digests_total = serializers.IntegerField()
    rows_valid = serializers.IntegerField()
    rows_total = serializers.IntegerField()
    rows_removed = serializers.IntegerField()
    removals_valid = serializers.IntegerField()
    removals_total = serializers.IntegerField()
    unsealed_rows = serializers.IntegerField()
    head = HeadSerializer()
    problems = serializers.DictField(child=serializers.IntegerField())
    first_problem = ProblemSerializer(allow_null=True)
    summary = serializers.CharField()
    seconds = serializers.FloatField()


def _time(params, name):
    text = params.get(name)
    if text is None:
        return None
    value = parse_datetime(text) if len(text) <= 64 else None
    if value is None:
        raise ValidationError({name: [gettext("An ISO 8601 time is required.")]})
    return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)


def _verifiable_kind(request, slug):
    kind = registry.get(slug) if slug else None
    if kind is None:
        raise ValidationError({"kind": [gettext("One of: {choices}.").format(
            choices=", ".join(k.slug for k in registry))]})
    if not access_for(request.user, kind).can_view_all:
        raise PermissionDenied(gettext("Verifying {kind} logs needs the permission to see all "
                                       "of them.").format(kind=kind.label.lower()))
    return kind


class VerifyView(APIView):
    """Verify one kind's rows against its signed, chained digest blocks (optionally only
    the blocks holding rows that occurred in [from, to)). Answers the figures and the
    first problem; a selection larger than the API's row budget is refused (narrow it, or
    run `manage.py verify_logs`). The result shows on the console's Integrity page."""

    @extend_schema(tags=["Integrity"], responses=VerifyReportSerializer, parameters=[
        OpenApiParameter("kind", str, required=True, enum=[k.slug for k in registry]),
        OpenApiParameter("from", str, description="ISO 8601 time"),
        OpenApiParameter("to", str, description="ISO 8601 time")])
    def get(self, request):
        check_parameters(request.query_params, known=("kind", "from", "to"))
        kind = _verifiable_kind(request, request.query_params.get("kind"))
        start, end = _time(request.query_params, "from"), _time(request.query_params, "to")
        if start and end and start >= end:
            raise ValidationError({"from": [gettext("Must be before to.")]})
        lo, hi = _block_range(kind.slug, start, end)
        rows = 0
        if lo is not None:
            rows = DigestBlock.objects.filter(kind=kind.slug, seq__gte=lo, seq__lte=hi
                                              ).aggregate(n=Sum("row_count"))["n"] or 0
        budget = settings.LOGCENTER_INTEGRITY["VERIFY_API_MAX_ROWS"]
        if rows > budget:
            raise ValidationError({"kind": [gettext(
                "{rows} sealed rows selected; the API verifies at most {budget} per request. "
                "Narrow it with from and to, or run manage.py verify_logs.").format(
                    rows=f"{rows:,}", budget=f"{budget:,}")]})
        report, = verify_and_report([kind], requested_by=request.user.get_username(),
                                    start=start, end=end)
        return Response(report)


class LastCheckSerializer(serializers.Serializer):
    checked_at = serializers.DateTimeField()
    requested_by = serializers.CharField(allow_blank=True)
    scope = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()
    summary = serializers.CharField()
    first_problem = serializers.DictField(allow_null=True)


class KindStatusSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    blocks = serializers.IntegerField()
    sealed_up_to_id = serializers.IntegerField(allow_null=True)
    head_digest = serializers.CharField(allow_blank=True)
    last_sealed_at = serializers.DateTimeField(allow_null=True)
    unsealed_rows = serializers.IntegerField()
    last_check = LastCheckSerializer(allow_null=True)


class StatusView(APIView):
    """Each kind this user may verify: how far it is sealed, and its last verification."""

    @extend_schema(tags=["Integrity"], responses=KindStatusSerializer(many=True))
    def get(self, request):
        check_parameters(request.query_params, known=())
        return Response([status.as_dict(item) for item in status.kinds_status(request.user)])
