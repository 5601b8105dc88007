"""Strict request parameters: every face refuses what it does not know.

A client that misspells a filter (`eventType` for `event`) must get an error, not HTTP 200
with unfiltered rows. Each face names the parameters it takes; anything else is answered
with `{"unknown_parameters": [...]}` (a 400), and a parameter given twice where one value
is expected is a 400 naming it. Filters that take several values accept repeats.
"""

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext, gettext_noop

UNKNOWN = "unknown_parameters"
REPEATED = gettext_noop("Given more than once; this parameter takes one value.")


def _names_and_counts(params) -> dict[str, int]:
    """{name: how many values} for a QueryDict, a plain dict, or a dict of lists."""
    if hasattr(params, "lists"):
        return {name: len(values) for name, values in params.lists()}
    if isinstance(params, Mapping):
        return {name: len(value) if isinstance(value, (list, tuple)) else 1
                for name, value in params.items()}
    raise TypeError(params)


def parameter_errors(params, known: Iterable[str], multi: Iterable[str] = ()) -> dict:
    """{name: [reasons]} for `params`: unknown names under UNKNOWN (sorted), and each
    single-valued known name that came more than once. Empty when all is well."""
    known, multi = set(known), set(multi)
    counts = _names_and_counts(params)
    errors = {}
    unknown = sorted(name for name in counts if name not in known)
    if unknown:
        errors[UNKNOWN] = unknown
    for name, count in counts.items():
        if name in known and name not in multi and count > 1:
            errors[name] = [gettext(REPEATED)]
    return errors


def check_parameters(params, known: Iterable[str], multi: Iterable[str] = ()):
    """Raise rest_framework's ValidationError (HTTP 400) with parameter_errors, if any.
    DRF's own `format` (the browsable API's ?format=json) is known everywhere."""
    from rest_framework.exceptions import ValidationError

    errors = parameter_errors(params, {*known, *api_own_parameters()}, multi)
    if errors:
        raise ValidationError(errors)


def describe(errors: dict) -> str:
    """A one-line form error for a page: 'Unknown parameter: eventType.'"""
    unknown = errors.get(UNKNOWN) or []
    if not unknown:
        return ""
    label = (gettext("Unknown parameter: {names}.") if len(unknown) == 1
             else gettext("Unknown parameters: {names}."))
    return label.format(names=", ".join(unknown))


def as_querydict(params):
    """`params` as a QueryDict: a QueryDict as it is; a dict's values (a scalar or a list of
    scalars, as a JSON export request gives them) as text. ValueError for nested values."""
    from django.http import QueryDict

    if isinstance(params, QueryDict):
        return params
    query = QueryDict(mutable=True)
    for name, value in params.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        texts = []
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                texts.append("true" if item else "false")
            elif isinstance(item, (str, int, float)):
                texts.append(str(item))
            else:
                raise ValueError(gettext("{name}: a filter's value is a string or number, "
                                         "or a list of them.").format(name=name))
        if texts:
            query.setlist(str(name), texts)
    return query


def page_takes(*names, multi=()):
    """A page view's decorator: a query parameter the page does not take (or a repeated
    one) answers the styled 400 page naming it, not the page as if it were not there."""
    from functools import wraps

    def decorate(view):
        @wraps(view)
        def checked(request, *args, **kwargs):
            problems = parameter_errors(request.GET, names, multi)
            if problems:
                from django.shortcuts import render

                message = describe(problems) or "; ".join(
                    f"{name}: {' '.join(reasons)}" for name, reasons in problems.items())
                return render(request, "400.html", {"problem": message}, status=400)
            return view(request, *args, **kwargs)

        return checked

    return decorate


def api_own_parameters() -> tuple:
    """The parameters DRF itself reads (the format override), on every API face."""
    from rest_framework.settings import api_settings

    return (api_settings.URL_FORMAT_OVERRIDE,) if api_settings.URL_FORMAT_OVERRIDE else ()


def without_api_own(params):
    """The query without DRF's own parameters: what the selectors are given."""
    query = params.copy()
    for name in api_own_parameters():
        query.pop(name, None)
    return query
