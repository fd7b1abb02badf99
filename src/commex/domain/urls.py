"""Public URLs: the rule every address that commex will call on someone's behalf must pass.

A node's offer (and, later, a webhook) names a URL that the exchange or another provider's plane
then sends requests, tokens and call packets to. Pointed at the exchange's own machine, its
private network or the cloud metadata service, such a URL turns commex into a proxy into places
its users must never reach. So a URL is refused unless it is ``http(s)`` and its host is, and
resolves only to, public addresses: never loopback, link-local, private, unique-local,
unspecified, multicast or the metadata address (also when wrapped in an IPv4-mapped, 6to4 or
NAT64 IPv6 address). An operator running everything on one private network allows private
addresses with ``COMMEX_ALLOW_PRIVATE_URLS=1``; the scheme is checked all the same.

The rule is pure: the names are resolved by a function passed in (:data:`Resolver`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from commex.domain.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Sequence[str]]
"""Resolves a host name to its addresses (IPv4 and IPv6, as text); an empty list when the
name does not resolve."""

ALLOW_SETTING = "COMMEX_ALLOW_PRIVATE_URLS"
MAX_URL = 2000
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def not_public(address: IPAddress) -> str | None:
    """Why ``address`` is not a public address (``"a loopback address"``, ...), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return not_public(embedded)
    if address in METADATA:
        return "the cloud metadata address"
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (any(address in net for net in _RFC1918), "a private address"),
        (address in _UNIQUE_LOCAL, "a unique-local address"),
        (not address.is_global, "not a public address"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), which is where its
    packets really go."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Which URLs commex may call: public ones only, unless ``allow_private``. ``resolve``
    looks host names up (the system's resolver in the server, a table in tests)."""

    allow_private: bool
    resolve: Resolver

    def check(self, url: object, field: str) -> str:
        """``url`` unchanged if it may be called; otherwise :class:`InvalidInput` naming
        ``field`` and saying why."""
        return check_public_url(url, field, allow_private=self.allow_private, resolve=self.resolve)

    def pin(self, url: object, field: str) -> Pinned:
        """The address to send ``url``'s request to, resolved once and checked now (a name
        may resolve elsewhere than when the URL was accepted), so the request goes to the
        address that was checked and not to whatever a second lookup answers."""
        host = _http_host(url, field)
        literal = _literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            addresses = [a.split("%", 1)[0] for a in self.resolve(host)]
            if not addresses:
                raise InvalidInput(f"{field}'s host {host} does not resolve to an address", field)
        if not self.allow_private:
            check_public_url(url, field, allow_private=False, resolve=lambda _h: addresses)
        return Pinned(str(url), host, addresses[0])


@dataclass(frozen=True, slots=True)
class Pinned:
    """A URL checked by the rule, with the address its request must go to."""

    url: str
    host: str
    address: str


def check_public_url(url: object, field: str, *, allow_private: bool, resolve: Resolver) -> str:
    """``url`` unchanged if it is ``http(s)`` to a public host (or private addresses are
    allowed); otherwise :class:`InvalidInput` naming ``field`` and the reason."""
    host = _http_host(url, field)
    if allow_private:
        return str(url)
    literal = _literal(host)
    if literal is not None:
        reason = not_public(literal)
        if reason is not None:
            raise InvalidInput(f"{field} must reach a public address: {host} is {reason}", field)
        return str(url)
    addresses = list(resolve(host))
    if not addresses:
        raise InvalidInput(f"{field}'s host {host} does not resolve to an address", field)
    for text in addresses:
        address = _literal(text.split("%", 1)[0])
        reason = "not an address" if address is None else not_public(address)
        if reason is not None:
            # The reason, never the address: what a name resolves to inside is not for callers.
            raise InvalidInput(
                f"{field} must reach a public address: {host} resolves to {reason}", field
            )
    return str(url)


def _http_host(url: object, field: str) -> str:
    """The host of an ``http(s)`` URL without credentials, lower-cased and unbracketed."""
    usage = f"{field} must be an http(s) URL such as https://node.example.net:8765"
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable():
        raise InvalidInput(usage, field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidInput(usage, field) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in url:
        raise InvalidInput(usage, field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"{field} must not carry a user name or password", field)
    host = parts.hostname.rstrip(".")  # "localhost." is "localhost"
    if not host:
        raise InvalidInput(usage, field)
    return host
