"""The client's address, as redrain's settings say to believe it."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import Scope


class ClientIp:
    """The client's address: the peer's, or — only when the peer is a trusted
    proxy — the one its client-IP header carries (for X-Forwarded-For, the
    right-most address that is not itself a trusted proxy)."""

    def __init__(self, trusted: str, header: str) -> None:
        self.networks = [
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted.split(",") if p.strip()
        ]
        self.header = header.encode()
        # Parsing an address with ``ipaddress`` cost 5% of a draw's CPU; the
        # answer for a peer never changes, and a worker sees few distinct peers
        # (proxies) or, without one, a bounded cache of recent clients.
        self.trusted = lru_cache(maxsize=4096)(self._trusted)  # type: ignore[method-assign]

    def trusted(self, address: str) -> bool:
        return self._trusted(address)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, scope: Scope) -> str:
        peer = scope["client"][0] if scope.get("client") else ""
        if not self.header or not self.trusted(peer):
            return str(peer)
        raw = next((v for k, v in scope["headers"] if k == self.header), None)
        if raw is None:
            return str(peer)
        text: str = raw.decode("latin-1")
        hops = [h.strip() for h in text.split(",") if h.strip()]
        if self.header == b"x-forwarded-for":
            for hop in reversed(hops):
                if not self.trusted(hop):
                    return hop
            return hops[0] if hops else str(peer)
        return hops[0] if hops else str(peer)


def client_ip(scope: Scope) -> str:
    resolve: ClientIp = scope["app"].state.client_ip  # set where the app is built
    return resolve(scope)
