"""The client's address, as redrain's settings say to believe it, in one
spelling (:func:`app.domain.addresses.canonical_ip`)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import Scope

from app.domain.addresses import canonical_ip
from app.domain.errors import InvalidRequest


class ClientIp:
    """The client's address: the peer's, or — only when the peer is a trusted
    proxy — the one its client-IP header carries (for X-Forwarded-For, the
    right-most address that is not itself a trusted proxy).

    Every address is canonical (``::ffff:10.9.9.9`` is ``10.9.9.9``, a port
    is dropped), so the blacklist and the per-IP rate limit see one spelling.
    A trusted proxy's header whose chosen address is malformed
    (``010.009.009.009``, garbage) is refused with 400 ``invalid_client_ip``
    rather than falling back to the proxy's own address: a fallback would let
    whoever can shape the header draw as the proxy, out of the blacklist's
    reach and inside everyone else's rate limit (docs/security.md)."""

    def __init__(self, trusted: str, header: str) -> None:
        self.networks = [
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted.split(",") if p.strip()
        ]
        self.header = header.encode()
        self.forwarded_for = self.header == b"x-forwarded-for"
        # Parsing an address with ``ipaddress`` cost 5% of a draw's CPU; the
        # answer for a peer or a header never changes, and a worker sees few
        # distinct peers (proxies) or, behind one, a bounded cache of recent
        # clients' headers.
        self.peer = lru_cache(maxsize=4096)(self._peer)
        self.forwarded = lru_cache(maxsize=4096)(self._forwarded)

    def trusted(self, address: str) -> bool:
        """True when ``address`` (canonical) is inside a trusted network."""
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.networks)

    def _peer(self, peer: str) -> tuple[str, bool]:
        """The peer as the client, and whether its header is believed. A peer
        the server names in another way (a test client, a socket) stays as it is."""
        ip = canonical_ip(peer)
        return (peer, False) if ip is None else (ip, self.trusted(ip))

    def _forwarded(self, text: str) -> str | None:
        """The client a trusted proxy's header names; None when malformed."""
        hops = [h.strip() for h in text.split(",") if h.strip()]
        if not hops:
            return ""
        if not self.forwarded_for:
            return canonical_ip(hops[0])
        ip: str | None = None
        for hop in reversed(hops):
            ip = canonical_ip(hop)
            if ip is None or not self.trusted(ip):
                return ip  # the right-most untrusted hop, or a malformed one
        return canonical_ip(hops[0])  # every hop is a trusted proxy

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer, believed = self.peer(str(client[0])) if client else ("", False)
        if not self.header or not believed:
            return peer
        # Several header lines are one comma-separated list (RFC 9110 §5.3): a
        # proxy that adds its own line after the client's must not be missed.
        lines = [v for k, v in scope["headers"] if k == self.header]
        if not lines:
            return peer
        found = self.forwarded(b",".join(lines).decode("latin-1"))
        if found is None:
            raise InvalidRequest(
                "the client address that the trusted proxy forwarded is not an IP address",
                code="invalid_client_ip",
            )
        return found or peer


def client_ip(scope: Scope) -> str:
    resolve: ClientIp = scope["app"].state.client_ip  # set where the app is built
    return resolve(scope)
