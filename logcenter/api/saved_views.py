"""Saved views over the API (/api/v1/views/), and each kind's suggestions endpoint."""

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from logcenter.analytics import known_values
from logcenter.core import presentation, saved_views
from logcenter.core.access import log_visible
from logcenter.core.params import UNKNOWN, as_querydict, check_parameters
from logcenter.core.registry import registry
from logcenter.core.serializers import UTCDateTimeField
from logcenter.core.text import unstorable
from logcenter.models import SavedView


class SavedViewSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    shared_with_role = serializers.CharField(source="shared_with_role.name", default=None,
                                             read_only=True, allow_null=True,
                                             help_text="a role's name; null: private")
    created_at = UTCDateTimeField(read_only=True)
    updated_at = UTCDateTimeField(read_only=True)
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    columns = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = SavedView
        fields = ("id", "name", "kind", "filters", "ordering", "columns", "page_size",
                  "shared_with_role", "is_default", "owner", "created_at", "updated_at")


class SavedViewWriteSerializer(serializers.Serializer):
    """A view's fields as sent; `filters` is the list's query ({name: value or [values]}),
    checked as the list checks it."""

    name = serializers.CharField(max_length=saved_views.NAME_MAX_LENGTH)
    kind = serializers.ChoiceField(choices=[kind.slug for kind in registry])
    filters = serializers.DictField(required=False, default=dict)
    ordering = serializers.CharField(required=False, allow_blank=True, default="")
    columns = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                    default=list, max_length=200)
    page_size = serializers.IntegerField(required=False, allow_null=True, default=None,
                                         min_value=1, max_value=10_000)
    shared_with_role = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                             default=None, max_length=150,
                                             help_text="a role's name; null: private")
    is_default = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise ValidationError({UNKNOWN: unknown})
        return super().to_internal_value(data)


def _params(data):
    """The list query a view's body describes, as the list takes it."""
    try:
        params = as_querydict(data.get("filters") or {}).copy()
    except ValueError as exc:
        raise ValidationError({"filters": [str(exc)]}) from None
    for name in ("ordering", "page_size"):
        params.pop(name, None)
        if data.get(name):
            params[name] = str(data[name])
    params.pop("columns", None)
    if data.get("columns"):
        params.setlist("columns", list(data["columns"]))
    return params


def _write(call):
    """A write of the saved_views service; its SavedViewError (a bad name, role, filter,
    sort or column, by the body's field) is a 400."""
    try:
        return call()
    except saved_views.SavedViewError as exc:
        raise ValidationError(exc.errors) from None


def _kind(slug, user):
    kind = registry[slug]
    log_visible(kind, user)  # the one visibility rule: PermissionDenied without the view
    return kind


class SavedViewListView(APIView):
    @extend_schema(operation_id="v1_views_list", parameters=[OpenApiParameter(
        "kind", OpenApiTypes.STR, enum=[k.slug for k in registry],
        description="only the views of this tab")],
        responses=inline_serializer("SavedViewList", {"results": SavedViewSerializer(many=True)}))
    def get(self, request):
        """Your saved views and those shared with your roles."""
        check_parameters(request.query_params, known=("kind",))
        kind = request.query_params.get("kind")
        if kind is not None and registry.get(kind) is None:
            raise ValidationError({"kind": [f"One of: {', '.join(k.slug for k in registry)}."]})
        views = presentation.views_visible(request.user, registry.get(kind) if kind else None)
        return Response({"results": SavedViewSerializer(views[:500], many=True).data})

    @extend_schema(request=SavedViewWriteSerializer, responses={201: SavedViewSerializer})
    def post(self, request):
        """Save a view: a list query with a name, private or shared with one of your roles."""
        check_parameters(request.query_params, known=())
        body = SavedViewWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kind = _kind(data["kind"], request.user)
        view = _write(lambda: saved_views.saved_view_create(
            user=request.user, kind=kind, name=data["name"], params=_params(data),
            role=data["shared_with_role"], is_default=data["is_default"]))
        return Response(SavedViewSerializer(view).data, status=status.HTTP_201_CREATED)


class SavedViewDetailView(APIView):
    def _view(self, request, pk):
        check_parameters(request.query_params, known=())
        view = presentation.views_visible(request.user).filter(pk=pk).first()
        if view is None:
            raise NotFound(gettext("No such view."))
        return view

    def _own(self, request, pk):
        view = self._view(request, pk)
        if view.owner_id != request.user.pk:
            raise PermissionDenied(gettext("Only its owner may change a view."))
        return view

    @extend_schema(responses=SavedViewSerializer)
    def get(self, request, pk):
        return Response(SavedViewSerializer(self._view(request, pk)).data)

    @extend_schema(request=SavedViewWriteSerializer(partial=True), responses=SavedViewSerializer)
    def patch(self, request, pk):
        """Rename, re-share, make default, or replace the view's query (your own views)."""
        view = self._own(request, pk)
        body = SavedViewWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        given = set(request.data) if isinstance(request.data, dict) else set()
        if data.get("kind", view.kind) != view.kind:
            raise ValidationError({"kind": ["A view's kind does not change; save a new view."]})
        kind = _kind(view.kind, request.user)
        query_given = given & {"filters", "ordering", "columns", "page_size"}
        if query_given:
            current = SavedViewSerializer(view).data
            merged = {name: data[name] if name in given else current[name]
                      for name in ("filters", "ordering", "columns", "page_size")}
        view = _write(lambda: saved_views.saved_view_update(
            view, user=request.user, kind=kind, name=data.get("name"),
            params=_params(merged) if query_given else None,
            role=data["shared_with_role"] if "shared_with_role" in given else ...,
            is_default=data["is_default"] if "is_default" in given else None))
        return Response(SavedViewSerializer(view).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk):
        view = self._own(request, pk)
        _write(lambda: saved_views.saved_view_delete(view, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


def suggestions_view_for(kind):
    class SuggestionsView(APIView):
        @extend_schema(
            operation_id=f"v1_{kind.api_name.replace('-', '_')}_suggestions",
            tags=[kind.label],
            parameters=[
                OpenApiParameter("field", OpenApiTypes.STR, required=True,
                                 enum=list(kind.suggestions),
                                 description="the filter whose values to suggest"),
                OpenApiParameter("q", OpenApiTypes.STR,
                                 description="text the values contain (any case)")],
            responses=inline_serializer(f"{kind.model.__name__}Suggestions", {
                "field": serializers.CharField(),
                "results": inline_serializer(f"{kind.model.__name__}Suggestion", {
                    "value": serializers.CharField(), "label": serializers.CharField()},
                    many=True)}))
        def get(self, request):
            """Known values of a filter, to pick from (never read from the log table)."""
            params = request.query_params
            check_parameters(params, known=("field", "q"))
            name, q = params.get("field", ""), params.get("q", "")
            for parameter, value, longest in (("field", name, 64), ("q", q, 100)):
                if len(value) > longest or unstorable(value):  # named as what it is
                    raise ValidationError({parameter: [gettext(
                        "At most {n} characters, no NUL.").format(n=longest)]})
            log_visible(kind, request.user)  # PermissionDenied without the view permission
            try:
                results = known_values.suggestions(kind, request.user, name, q)
            except known_values.UnknownSuggestionField as exc:
                raise ValidationError({"field": [str(exc)]}) from None
            return Response({"field": name, "results": results})

    SuggestionsView.__name__ = f"{kind.model.__name__}SuggestionsView"
    return SuggestionsView
