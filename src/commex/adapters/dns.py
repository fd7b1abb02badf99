"""Host names to addresses through the system's resolver, for the public-URL rule."""

from __future__ import annotations

import socket


def system_resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6, as text); empty when it does not."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})
