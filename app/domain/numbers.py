"""Numbers people send, parsed in one place: ASCII digits only, bounded.

``str.isdigit()`` also accepts ``²`` and ``١``, and ``int()`` accepts ``١``,
``１``, ``+1``, `` 1``, ``1_000`` and 5,000-digit numbers it then refuses to
convert; every number that arrives in a path, a query, a cursor or a token
goes through :func:`parse_int` instead.
"""

from __future__ import annotations

import re

BIGINT = 2**63 - 1  # the largest id a database column holds
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_int(text: str, lo: int = 0, hi: int = BIGINT) -> int | None:
    """``text`` as an integer in ``[lo, hi]``, or None: at most 19 ASCII digits,
    no sign, no spaces, no other numerals."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None
