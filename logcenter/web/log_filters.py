"""No API key secret reaches a server's log line.

The public usage lookup takes its key as `?key=` too (the gateway's pages call it that
way), and servers log each request line with its query string: runserver through the
`django.server` logger, gunicorn through `gunicorn.access`. RedactSecrets rewrites such a
record's message with the value of `key=` (and `api_key=`, `token=`, and any `lc_…` key
wherever it appears) replaced by `[redacted]`. LogcenterConfig.ready() puts it on those
loggers and on `django.request`, whoever configures their handlers.

This module imports no models: logging is configured before the apps are ready.
"""

import logging
import re

REDACTED = "[redacted]"
SCRUBBED_LOGGERS = ("django.server", "django.request", "gunicorn.access", "gunicorn.error")

SECRET_IN_URL_RE = re.compile(
    r"([?&;](?:key|api_key|apikey|access_token|token)=)[^&;\s\"']*"  # query parameters
    r"|lc_[A-Za-z0-9_\-]{16,}",  # our API keys, wherever they are
    re.IGNORECASE,
)


def redact_secrets(text: str) -> str:
    return SECRET_IN_URL_RE.sub(lambda m: (m.group(1) or "") + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Keeps every record, with its message's secrets replaced (the message is formatted
    once here, and the record carries the result with no arguments left)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_FILTER = RedactSecrets()


def install():
    """Put the filter on the loggers that write request lines (once per process)."""
    for name in SCRUBBED_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # addFilter ignores a second add
