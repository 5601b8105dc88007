"""The API's one exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]): a bad query is
an HTTP 400 on every API view, in DRF's shape ({parameter: [reasons]}), without each view
catching it."""

from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from logcenter.analytics.stats import StatsError
from logcenter.core.query import InvalidLogQuery


def exception_handler(exc, context):
    if isinstance(exc, InvalidLogQuery):
        exc = ValidationError(exc.api_errors())
    elif isinstance(exc, StatsError):
        exc = ValidationError({exc.field: [exc.reason]})
    return drf_exception_handler(exc, context)
