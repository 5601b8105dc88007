"""Compressed JSON answers: a week of hourly buckets is 400 kB of JSON and about a tenth of
that compressed.

Only JSON is compressed, never the console's pages: a page carries a CSRF token beside text
an attacker can choose (a search term), which compression can leak (BREACH)."""

from django.middleware.gzip import GZipMiddleware


class JsonGZipMiddleware(GZipMiddleware):
    def process_response(self, request, response):
        if not response.get("Content-Type", "").startswith("application/json"):
            return response
        return super().process_response(request, response)
