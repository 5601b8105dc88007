"""`manage.py check --deploy`: a production without a signing key of its own."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def signing_key_configured(app_configs=None, **kwargs):
    cfg = settings.LOGCENTER_INTEGRITY
    if cfg.get("SIGNING_KEY") or cfg.get("SIGNING_KEY_FILE"):
        return []
    return [checks.Warning(
        "No integrity signing key is configured: one is generated into var/ on first use, "
        "which is lost with the container and differs between web and workers.",
        hint="Set LOGCENTER_SIGNING_KEY_FILE to a key you keep a copy of (docs/integrity.md).",
        id="logcenter.W010")]
