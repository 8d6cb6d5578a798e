"""Client IP addresses in one spelling (docs/security.md).

The draw script compares the client's address with the blacklist as a string
and keys the per-IP rate limit by it, so one address must have one spelling
everywhere: ``::ffff:10.9.9.9`` (an IPv4 client of a dual-stack socket) is
``10.9.9.9``, ``10.9.9.9:1234`` and ``[2001:db8::1]:443`` lose their port,
IPv6 is lower-case and compressed (``2001:db8::1``). Anything else — leading
zeros (``010.009.009.009``, which some parsers read as octal), a zone
(``fe80::1%eth0``), a name, two addresses — is not an address.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

# An IPv4 address with a port, or a bracketed IPv6 address with an optional port.
_V4_PORT = re.compile(r"^([0-9.]+):([0-9]{1,5})$")
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?$")


@lru_cache(maxsize=8192)
def canonical_ip(text: str) -> str | None:
    """``text``'s one spelling, or None when it is not one IP address.

    Cached: parsing an address cost 5% of a draw's CPU, and a server sees the
    same few proxies, or a bounded set of recent clients, again and again."""
    m = _BRACKETED.match(text) or _V4_PORT.match(text)
    host, port = (m[1], m[2]) if m else (text, None)
    if port is not None and not 0 < int(port) <= 65535:
        return None
    if "%" in host:  # a zone: the same address under another spelling
        return None
    try:
        ip = ipaddress.ip_address(host)  # refuses leading zeros in IPv4 (Python >= 3.9.5)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
