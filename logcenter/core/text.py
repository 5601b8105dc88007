"""Log-injection safety: control characters are stored faithfully but shown escaped."""

import re

_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
# C0/C1 controls, DEL, line/paragraph separators, bidi marks, overrides and isolates, and
# the zero-width no-break space (BOM).
CONTROL_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


# What no database here can store: NUL (PostgreSQL's text) and unpaired surrogates (not
# UTF-8; they arrive through JSON's "\ud800" escapes). Refused in queries and ingestion.
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value):
    """"nul" or "surrogate": the first character of `value` no database can store; None."""
    found = UNSTORABLE_RE.search(value) if isinstance(value, str) else None
    if found is None:
        return None
    return "nul" if found.group() == "\x00" else "surrogate"


def _escape(match):
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(value):
    """'a\\r\\nb' -> 'a\\\\r\\\\nb': one visible line, whatever the sender put in."""
    if isinstance(value, str) and CONTROL_RE.search(value):
        return CONTROL_RE.sub(_escape, value)
    return value


def escape_row(row, field_names):
    """Escape string fields of a display copy of a row (never saved)."""
    for name in field_names:
        value = getattr(row, name, None)
        if isinstance(value, str):
            setattr(row, name, escape_controls(value))
    row._masked = True
    return row
