"""The public-URL rule: http(s) only, and never a host that is or resolves to an address inside
(loopback, link-local, private, unique-local, unspecified, multicast, cloud metadata), unless
the operator allows private addresses."""

from __future__ import annotations

import pytest

from commex.domain.errors import InvalidInput
from commex.domain.urls import UrlPolicy, check_public_url

DNS = {
    "node.example.net": ["203.0.114.7", "2a00:1450:4001:81c::200e"],
    "localhost": ["127.0.0.1", "::1"],
    "intranet.example.net": ["10.1.2.3"],
    "split.example.net": ["198.51.101.9", "192.168.1.20"],  # one public, one private answer
    "meta.example.net": ["169.254.169.254"],
}


def resolve(host: str) -> list[str]:
    return DNS.get(host, [])


STRICT = UrlPolicy(allow_private=False, resolve=resolve)
OPEN = UrlPolicy(allow_private=True, resolve=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "https://node.example.net:8765",
        "http://node.example.net/v1/node?x=1",
        "http://NODE.example.net.:8765/",
        "http://203.0.114.7:8765",
        "http://[2a00:1450:4001:81c::200e]:8765",
    ],
)
def test_public_urls_pass_unchanged(url: str) -> None:
    assert STRICT.check(url, "node_url") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9911/steal", "127.0.0.1 is a loopback address"),
        ("http://127.8.9.10", "a loopback address"),
        ("http://[::1]:8765", "a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/", "the cloud metadata address"),
        ("http://169.254.10.1", "a link-local address"),
        ("http://[fe80::1]:80", "a link-local address"),
        ("http://10.0.0.8", "a private address"),
        ("http://172.16.5.4", "a private address"),
        ("http://192.168.0.1", "a private address"),
        ("http://[fd12:3456::1]", "a unique-local address"),
        ("http://0.0.0.0:8000", "an unspecified address"),
        ("http://[::]:8000", "an unspecified address"),
        ("http://224.0.0.251", "a multicast address"),
        ("http://[ff02::1]", "a multicast address"),
        ("http://100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("http://[::ffff:127.0.0.1]", "a loopback address"),  # IPv4-mapped
        ("http://[::ffff:a9fe:a9fe]", "the cloud metadata address"),
        ("http://[2002:7f00:1::]", "a loopback address"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]", "the cloud metadata address"),  # NAT64
    ],
)
def test_addresses_inside_are_refused_naming_the_field_and_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        STRICT.check(url, "node_url")
    assert refused.value.field == "node_url"
    assert reason in refused.value.message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:8765", "localhost resolves to a loopback address"),
        ("http://intranet.example.net", "resolves to a private address"),
        ("http://split.example.net", "resolves to a private address"),
        ("http://meta.example.net/latest", "resolves to the cloud metadata address"),
        ("http://nowhere.example.net", "does not resolve"),
    ],
)
def test_names_are_judged_by_every_address_they_resolve_to(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        STRICT.check(url, "node_url")
    assert reason in refused.value.message
    assert "10.1.2.3" not in refused.value.message  # what a name resolves to stays inside


@pytest.mark.parametrize(
    "url",
    [
        "ftp://node.example.net",
        "file:///etc/passwd",
        "gopher://node.example.net:70",
        "node.example.net:8765",
        "http://",
        "http://node example.net",
        "http://node.example.net:99999",
        "http://[::1",
        "",
        "http://node.example.net/\x1b[31m",
        42,
        None,
        "http://" + "a" * 2000 + ".net",
    ],
)
def test_anything_but_an_http_url_is_refused(url: object) -> None:
    for policy in (STRICT, OPEN):
        with pytest.raises(InvalidInput) as refused:
            policy.check(url, "node_url")
        assert refused.value.field == "node_url"
        assert "http(s) URL" in refused.value.message


def test_credentials_in_the_url_are_refused() -> None:
    with pytest.raises(InvalidInput, match="user name or password"):
        STRICT.check("http://admin:secret@node.example.net", "node_url")


def test_the_operator_may_allow_private_addresses_but_not_other_schemes() -> None:
    assert OPEN.check("http://127.0.0.1:8765", "node_url") == "http://127.0.0.1:8765"
    assert OPEN.check("http://169.254.169.254/", "url") == "http://169.254.169.254/"
    assert OPEN.check("http://nowhere.example.net", "url") == "http://nowhere.example.net"
    with pytest.raises(InvalidInput):
        OPEN.check("ftp://127.0.0.1", "url")


def test_the_resolver_is_only_asked_about_names() -> None:
    asked: list[str] = []

    def spy(host: str) -> list[str]:
        asked.append(host)
        return ["203.0.114.7"]

    check_public_url("http://203.0.114.9", "url", allow_private=False, resolve=spy)
    check_public_url("http://node.example.net", "url", allow_private=False, resolve=spy)
    check_public_url("http://10.0.0.1", "url", allow_private=True, resolve=spy)
    assert asked == ["node.example.net"]
