"""Text people give redrain that other people will see: names, titles, URLs.

A name shown on a page or in a CSV must not carry control characters (NUL,
escapes) or bidirectional overrides and isolates, which make a name display
as something else ("Trojan Source"); an image URL must be http(s), never
``javascript:`` or ``data:``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

# Embeddings, overrides and isolates: they reorder how the text around them shows.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _refuse_hidden(value: str, *, lines: bool) -> str:
    allowed = "\n\t" if lines else ""
    for ch in value:
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed")
    if _BIDI.search(value):
        raise ValueError("bidirectional override characters are not allowed")
    return value


def check_name(value: str) -> str:
    return _refuse_hidden(value, lines=False)


def check_text(value: str) -> str:
    """Like :func:`check_name`, but line breaks and tabs are fine."""
    return _refuse_hidden(value, lines=True)


def check_web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return _refuse_hidden(value, lines=False)


Name = Annotated[str, AfterValidator(check_name)]
Text = Annotated[str, AfterValidator(check_text)]
WebUrl = Annotated[str, AfterValidator(check_web_url)]
