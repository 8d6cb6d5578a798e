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

from pydantic import AfterValidator, PlainValidator, WithJsonSchema

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


# SPEC §1: names, descriptions and the redeem hint are a string or a
# per-language object; a page shows the player's language, else the first given.
Localized = str | dict[str, str]
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")


def _localized_check(
    max_length: int, *, lines: bool, required: bool
) -> tuple[PlainValidator, WithJsonSchema]:
    def one(text: str, where: str) -> str:
        text = text.strip()
        if required and not text:
            raise ValueError(f"{where}should have at least 1 character")
        if len(text) > max_length:
            raise ValueError(f"{where}should have at most {max_length} characters")
        try:
            return _refuse_hidden(text, lines=lines)
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from exc

    def check(value: object) -> Localized:
        if isinstance(value, str):
            return one(value, "")
        if isinstance(value, dict) and value:
            out: dict[str, str] = {}
            for lang, text in value.items():
                if not isinstance(lang, str) or not _LANG.fullmatch(lang):
                    raise ValueError(f"{lang!r} is not a language tag such as en or zh-CN")
                if not isinstance(text, str):
                    raise ValueError(f"{lang}: expected a string")
                out[lang] = one(text, f"{lang}: ")
            return out
        raise ValueError(
            'expected a string or an object by language, e.g. {"en": "…", "zh-CN": "…"}'
        )

    schema = {
        "anyOf": [
            {"type": "string", "maxLength": max_length},
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": _LANG.pattern},
                "additionalProperties": {"type": "string", "maxLength": max_length},
            },
        ]
    }
    return (PlainValidator(check), WithJsonSchema(schema))


# The sizes the columns and pages are made for, per language.
ActivityName = Annotated[Localized, *_localized_check(200, lines=False, required=True)]
PrizeName = Annotated[Localized, *_localized_check(100, lines=False, required=True)]
Description = Annotated[Localized, *_localized_check(2000, lines=True, required=False)]
RedeemHint = Annotated[Localized, *_localized_check(500, lines=True, required=False)]


def in_language(text: Localized | None, lang: str | None = None) -> str:
    """``text`` in ``lang`` (exact tag, then the same language, e.g. zh for
    zh-CN), else the first language given; a plain string is every language."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    if lang:
        if lang in text:
            return text[lang]
        primary = lang.split("-")[0].lower()
        for tag, value in text.items():
            if tag.split("-")[0].lower() == primary:
                return value
    return next(iter(text.values()), "")
