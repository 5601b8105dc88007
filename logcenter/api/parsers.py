"""The API's JSON body parser: bad JSON is a 400, never a 500 or minutes of CPU.

DRF's own parser lets a deeply nested body raise RecursionError (a 500) and accepts NaN
and Infinity, which no field of ours can hold.
"""

import json

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from logcenter.ingest.ingestion import nests_deeper_than

MAX_DEPTH = 32


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number this API accepts")


def loads_strict(text: str):
    """json.loads with finite numbers only and at most MAX_DEPTH levels; ValueError else."""
    if nests_deeper_than(text, MAX_DEPTH):  # ingestion's check: no recursion, in C
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return json.loads(text, parse_constant=_refuse_constant)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(gettext("The body must be UTF-8.")) from None
        try:
            return loads_strict(text)
        except ValueError as exc:
            # The parser's detail stays English (json's own words).
            raise ParseError(gettext("JSON parse error: {detail}").format(detail=exc)) from None
