"""The Ed25519 key that signs digest blocks and removal records, and the keys trusted to
verify them.

The private key comes from LOGCENTER_SIGNING_KEY (PEM, or the 32-byte seed as 64 hex
digits) or from the PEM file LOGCENTER_SIGNING_KEY_FILE. With neither set, a key is
generated on first use into var/integrity-signing-key.pem (the demo and the tests); in
production mount a key file and keep a copy offline (docs/integrity.md).

A key is known by its id: the first 16 hex digits of the SHA-256 of its raw 32-byte public
key. Verification trusts the current key's public half and the retired public keys listed
in LOGCENTER_TRUSTED_PUBLIC_KEYS (64 hex digits each), never a key found in the database.
"""

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)
DEFAULT_FILE_NAME = "integrity-signing-key.pem"


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    source: str  # "setting", "file"; "generated" or "default" (var/, demo and tests only)

    @property
    def is_demo_key(self):
        return self.source in ("generated", "default")
    path: str = ""

    @property
    def public_raw(self) -> bytes:
        return _raw(self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, digest_hex: str) -> str:
        """The hex Ed25519 signature of a digest's 32 bytes."""
        return self.private.sign(bytes.fromhex(digest_hex)).hex()


def _config():
    cfg = settings.LOGCENTER_INTEGRITY
    return (cfg.get("SIGNING_KEY") or "", cfg.get("SIGNING_KEY_FILE") or "",
            tuple(cfg.get("TRUSTED_PUBLIC_KEYS") or ()))


def _parse_private(text, where):
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{where}: not an Ed25519 private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{where}: an Ed25519 key is required, not "
                                   f"{type(key).__name__}")
    return key


def _pem(private):
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def _generate(path: Path):
    """Write a new key to `path` unless another process just did; returns the PEM text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        os.write(fd, _pem(Ed25519PrivateKey.generate()))
        os.close(fd)
        os.chmod(temp, 0o600)
        try:
            os.link(temp, path)  # atomic, and refuses to replace a key another process made
            logger.warning(
                "Generated a new integrity signing key at %s. Fine for the demo and tests; in "
                "production set LOGCENTER_SIGNING_KEY_FILE to a key you keep (docs/"
                "integrity.md), or blocks signed now cannot be verified once it is lost.", path)
        except FileExistsError:
            pass
    finally:
        Path(temp).unlink(missing_ok=True)
    return path.read_text()


@lru_cache(maxsize=4)
def _load(key_text, key_file, default_file):
    if key_text:
        return SigningKey(_parse_private(key_text, "LOGCENTER_SIGNING_KEY"), "setting")
    path = Path(key_file or default_file)
    if path.exists():
        # "default": the demo's key, generated into var/ by a process before this one.
        return SigningKey(_parse_private(path.read_text(), str(path)),
                          "file" if key_file else "default", str(path))
    if key_file:
        raise ImproperlyConfigured(f"LOGCENTER_SIGNING_KEY_FILE: {path} does not exist")
    return SigningKey(_parse_private(_generate(path), str(path)), "generated", str(path))


def default_key_file():
    return str(Path(settings.BASE_DIR) / "var" / DEFAULT_FILE_NAME)


def signing_key() -> SigningKey:
    key_text, key_file, _ = _config()
    return _load(key_text, key_file, default_key_file())


def parse_public(text) -> Ed25519PublicKey:
    """A public key from 64 hex digits (the raw key) or PEM. ValueError otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))


def trusted_keys(extra=None) -> dict:
    """{key_id: Ed25519PublicKey} verification trusts: the signing key's public half and
    the configured retired keys; `extra` (public keys as text) replaces them all, for an
    auditor who trusts only the keys they hold."""
    if extra:
        keys = [parse_public(text) for text in extra]
    else:
        keys = [signing_key().private.public_key()]
        for text in _config()[2]:
            try:
                keys.append(parse_public(text))
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"LOGCENTER_TRUSTED_PUBLIC_KEYS: {text[:20]}…: {exc}") from None
    return {key_id_of(_raw(key)): key for key in keys}


def public_key_hex(key: Ed25519PublicKey) -> str:
    return _raw(key).hex()


def signature_valid(public_key: Ed25519PublicKey, signature_hex: str, digest_hex: str) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), bytes.fromhex(digest_hex))
    except (InvalidSignature, ValueError):
        return False
    return True
