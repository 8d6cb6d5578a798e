"""Client addresses in one spelling: what the blacklist and the per-IP rate
limit compare (app/domain/addresses.py)."""

from __future__ import annotations

import pytest

from app.domain.addresses import canonical_ip


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("10.9.9.9", "10.9.9.9"),
        ("::ffff:10.9.9.9", "10.9.9.9"),  # an IPv4 client of a dual-stack socket
        ("::FFFF:10.9.9.9", "10.9.9.9"),
        ("::ffff:a09:909", "10.9.9.9"),
        ("10.9.9.9:1234", "10.9.9.9"),  # a port is not part of the address
        ("[::ffff:10.9.9.9]:5", "10.9.9.9"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),  # lower-case, compressed
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ],
)
def test_one_spelling(text: str, canonical: str) -> None:
    assert canonical_ip(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "010.009.009.009",  # leading zeros: octal to some parsers, so no address at all
        "::ffff:010.9.9.9",
        "0x0a.9.9.9",
        "1.2.3",
        "１.2.3.4",  # a full-width digit
        "fe80::1%eth0",  # a zone
        "[2001:db8::1]:99999",
        "1.2.3.4:0",
        "10.9.9.9:",
        "1.2.3.4, 5.6.7.8",
        "unknown",
        "",
    ],
)
def test_not_an_address(text: str) -> None:
    assert canonical_ip(text) is None
