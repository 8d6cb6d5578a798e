"""CSV cells that a spreadsheet opens as data, never as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that begins with ``=``,
``+``, ``-`` or ``@`` (and one that begins with a tab or carriage return,
which they strip first) as a formula: a prize named ``=HYPERLINK(...)`` or a
user id ``@SUM(...)`` would run when an operator opens the winners export.
Following OWASP's CSV injection guidance, such a text cell gets a leading
single quote, which spreadsheets read as "this is text" (and which shows the
value is not the raw one). The csv module quotes separators and quotes.

Every text cell is neutralised, numeric-looking or not: ``-5`` as text may be
an operator's value, and sparing "numbers" is how ``-2+3+cmd|...`` payloads
slip through. Only ints redrain produces itself are written as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

# What makes a spreadsheet read a cell as a formula (OWASP), plus a line feed.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def cell(value: object) -> object:
    """``value`` safe for a CSV cell: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def row(values: Mapping[str, object]) -> dict[str, object]:
    """A whole CSV row, every cell through :func:`cell`."""
    return {k: cell(v) for k, v in values.items()}
