"""Destination credentials, encrypted at rest with Fernet (AES-128-CBC and HMAC-SHA256).

The keys come from LOGCENTER_SECRETS_KEYS (comma-separated Fernet keys: the first
encrypts, every one decrypts, so a key is rotated by putting the new one first and
`manage.py rotate_stream_secrets` re-encrypting). Without it, one key is derived from
SECRET_KEY (HKDF): the demo and tests need nothing set, but then changing SECRET_KEY
makes stored credentials unreadable: production sets its own (docs/operations.md).
"""

import base64
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

REDACTED = "[redacted]"


def _keys():
    configured = settings.LOGCENTER_STREAMS["SECRETS_KEYS"]
    if configured:
        try:
            return [Fernet(key) for key in configured]
        except ValueError as exc:
            raise ImproperlyConfigured(
                "LOGCENTER_SECRETS_KEYS holds a key that is not a Fernet key (32 bytes, "
                "url-safe base64): make one with `python -c \"from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())\"`") from exc
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"logcenter.streams.credentials").derive(settings.SECRET_KEY.encode())
    return [Fernet(base64.urlsafe_b64encode(derived))]


def _fernet():
    return MultiFernet(_keys())


def encrypt(values: dict) -> str:
    """The credentials (a dict of strings) as one token; empty values are left out."""
    values = {name: value for name, value in values.items() if value}
    if not values:
        return ""
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


class UnreadableCredentials(Exception):
    """The stored token does not open with the configured keys (a key lost or changed)."""


def decrypt(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise UnreadableCredentials(
            "The destination's credentials cannot be decrypted with the configured "
            "LOGCENTER_SECRETS_KEYS: enter them again.") from exc


def rotate(token: str) -> str:
    """The token re-encrypted with the first key."""
    return _fernet().rotate(token.encode()).decode() if token else ""


def scrub(text: str, credentials: dict) -> str:
    """`text` (an error message, a response body) with every credential value replaced:
    what a receiver echoes back must never reach a log, an event or a page."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, REDACTED)
    return text


def decrypt_or_empty(token: str) -> dict:
    """The stored credentials, or {} when they no longer open (they are typed again)."""
    try:
        return decrypt(token)
    except UnreadableCredentials:
        return {}
