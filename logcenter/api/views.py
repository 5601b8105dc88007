"""One read-only viewset serves every kind; each kind's class is made from the registry."""

import uuid

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from logcenter.core import selectors, services
from logcenter.core.access import access_for
from logcenter.core.params import check_parameters, without_api_own
from logcenter.core.registry import registry
from logcenter.api.pagination import KeysetPagination


class LogViewSet(viewsets.ReadOnlyModelViewSet):
    kind = None  # set per kind by viewset_for()
    lookup_field = "event_id"
    lookup_value_regex = "[^/]+"
    pagination_class = KeysetPagination
    # Used for the OpenAPI description of the query parameters; filtering itself goes
    # through the selector so the page, the API and the export share one code path.
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, no user
            return self.kind.model.objects.none()
        return selectors.log_visible(self.kind, self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(),
                "access": access_for(self.request.user, self.kind)}

    def list(self, request, *args, **kwargs):
        query = selectors.LogQuery.parse(self.kind, request.user,
                                         without_api_own(request.query_params))
        listing = selectors.log_page(query)
        results = self.get_serializer(listing.page.rows, many=True).data
        if query.columns:  # `columns` (or a saved view's): those fields, after the row's ids
            keep = ("kind", "event_id", *query.columns)
            results = [{name: row[name] for name in keep if name in row} for row in results]
        return Response(self.paginator.get_paginated_payload(request, listing, results))

    def get_object(self):
        check_parameters(self.request.query_params, known=())
        raw = self.kwargs[self.lookup_field]
        try:
            event_id = uuid.UUID(raw)
        except ValueError:
            raise ValidationError({"event_id": [f"'{raw}' is not a valid UUID."]}) from None
        try:
            row = selectors.log_get(self.kind, self.request.user, event_id)
        except self.kind.model.DoesNotExist:
            raise NotFound("No such event.") from None
        services.log_detail_viewed(kind=self.kind, user=self.request.user, row=row)
        return row


def viewset_for(kind):
    return extend_schema(tags=[kind.label])(type(
        f"{kind.model.__name__}ViewSet",
        (LogViewSet,),
        {
            "kind": kind,
            "serializer_class": kind.serializer,
            "filterset_class": kind.filterset,
            "queryset": kind.model.objects.none(),
            "__doc__": kind.description,
        },
    ))


def register_routes(router):
    for kind in registry:
        router.register(kind.api_name, viewset_for(kind), basename=kind.api_name)
