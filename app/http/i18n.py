"""The pages' two languages, English and Simplified Chinese (SPEC §10).

A page's language comes from ``?lang=en|zh-CN``, else the ``redrain_lang``
cookie a ``?lang=`` left, else ``Accept-Language``, else English. Messages
live in ``locales/<lang>/<section>.json``, one section per page plus
``common``; templates and scripts name a message ``"section.key"``. Both
languages have the same keys (a unit test holds them to it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson

LANGS = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "redrain_lang"
LOCALES = Path(__file__).with_name("locales")


def normalize(tag: str | None) -> str | None:
    """A language tag as one of :data:`LANGS`, or None. Every Chinese tag reads
    Simplified Chinese: it is the only Chinese the pages have."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return {"en": "en", "zh": "zh-CN"}.get(primary)


def from_accept(header: str | None) -> str | None:
    """The first supported language of an ``Accept-Language`` header, by q."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")[:20]):  # bounded: a header is untrusted
        tag, _, params = item.partition(";")
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        lang = normalize(tag)
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def negotiate(query: str | None, cookie: str | None, accept: str | None) -> str:
    return normalize(query) or normalize(cookie) or from_accept(accept) or DEFAULT


@functools.cache
def section(lang: str, name: str) -> dict[str, str]:
    data: dict[str, str] = orjson.loads(LOCALES.joinpath(lang, f"{name}.json").read_bytes())
    return data


def sections() -> list[str]:
    return sorted(p.stem for p in LOCALES.joinpath(DEFAULT).glob("*.json"))


class Messages:
    """One language's messages for one page: ``t("section.key", name=value)``."""

    def __init__(self, lang: str, names: tuple[str, ...]) -> None:
        self.lang = lang
        self.names = ("common", *names)
        self.table = {n: section(lang, n) for n in self.names}

    def __call__(self, key: str, **values: Any) -> str:
        name, _, item = key.partition(".")
        text = self.table[name][item]  # a missing message is a bug: fail loudly
        return text.format(**values) if values else text

    def for_script(self) -> dict[str, dict[str, str]]:
        return self.table
