"""The API face of logcenter.core.pagination: cursor links and a capped total."""

from django.conf import settings
from rest_framework.pagination import BasePagination
from rest_framework.utils.urls import remove_query_param, replace_query_param


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def get_paginated_payload(self, request, listing, results):
        total = listing.total  # first: it lets the page's cursors carry it
        page = listing.page
        url = request.build_absolute_uri()
        return {
            "next": self._link(url, page.next_cursor),
            "previous": self._link(url, page.prev_cursor),
            "page_size": listing.filterset.page_size_value,
            "ordering": page.ordering,
            "estimated_total": total.count,
            "estimated_total_capped": total.capped,
            "approximate_total": total.approximate,
            "results": results,
        }

    def _link(self, url, cursor):
        if cursor is None:
            return None
        return replace_query_param(url, self.cursor_query_param, cursor.encode())

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "page_size": {"type": "integer"},
                "ordering": {"type": "string"},
                "estimated_total": {
                    "type": "integer",
                    "description": f"Matches counted up to {settings.LOGCENTER['COUNT_CAP']}, "
                                   "on the first page; later pages repeat that count.",
                },
                "estimated_total_capped": {"type": "boolean"},
                "approximate_total": {
                    "type": "integer", "nullable": True,
                    "description": "When capped: the planner's estimate of all matches "
                                   "(no rows counted), else null.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return []  # cursor and page_size are documented by the FilterSet


__all__ = ["KeysetPagination", "remove_query_param"]
