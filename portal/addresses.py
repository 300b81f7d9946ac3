"""The client's address: REMOTE_ADDR, or behind configured proxies the address they saw (#17 finding 7).

X-Forwarded-For is written by whoever sends the request, so it is believed only when the peer is one of
AIRSPACE_TRUSTED_PROXIES (addresses or networks), and then read from the right: each trusted proxy appends
the address it received the request from, and the first address that is not a trusted proxy is the client.
Anything further left was written by the client itself. DRF's throttles, axes' lockouts and the audit
trail all call `client_ip`, so one request has one address everywhere.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str) -> bool:
    networks = _networks(tuple(settings.AIRSPACE_TRUSTED_PROXIES))
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def client_ip(request: Any) -> str:
    """The address the request came from, seen through trusted proxies only."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if not _trusted(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _valid(hop):
            return remote  # a trusted proxy never writes this: treat the chain as unusable
        if not _trusted(hop):
            return hop
    return remote
