"""Where webhooks may go: URLs (https, no credentials), and addresses (public unicast only; the local stack's setting
allows 127.0.0.1 and nothing else, and deployed it is off). Every address a host resolves to is judged."""

from __future__ import annotations

import pytest

from partnerhub.domain.webhook_endpoints import address_refusal, parse_url
from partnerhub.outbound.addresses import HostGuard, Refused
from partnerhub.settings import AgencyWebhookSettings

REFUSED = {
    # address: the kind it is refused as
    "127.0.0.1": "a loopback address",
    "127.9.9.9": "a loopback address",
    "::1": "a loopback address",
    "10.0.0.5": "a private address",
    "172.16.3.4": "a private address",
    "192.168.1.1": "a private address",
    "fc00::1": "a private address",
    "169.254.10.10": "a link-local address",
    "fe80::1": "a link-local address",
    "100.64.0.1": "a carrier-grade NAT address",
    "100.127.255.254": "a carrier-grade NAT address",
    "224.0.0.1": "a multicast address",
    "ff02::1": "a multicast address",
    "0.0.0.0": "an unspecified address",  # noqa: S104 - an address under test, nothing binds to it
    "::": "an unspecified address",
    "169.254.169.254": "a cloud metadata address",
    "fd00:ec2::254": "a cloud metadata address",
    "240.0.0.1": "a reserved address",
    "192.0.2.1": "a private address",  # documentation (TEST-NET-1)
    # an IPv4 address hidden in IPv6 is judged as itself
    "::ffff:10.0.0.5": "a private address",
    "::ffff:169.254.169.254": "a cloud metadata address",
    "64:ff9b::a9fe:a9fe": "a cloud metadata address",  # NAT64 of 169.254.169.254
    "2002:a00:1::1": "a private address",  # 6to4 of 10.0.0.1
}


@pytest.mark.parametrize(("address", "kind"), sorted(REFUSED.items()))
def test_non_public_addresses_are_refused_by_kind(address: str, kind: str) -> None:
    assert address_refusal(address) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(address) is None


def test_the_local_setting_allows_127_0_0_1_and_nothing_else() -> None:
    # Given the local stack's setting
    # Then 127.0.0.1 may be delivered to, but no other loopback, private or metadata address
    assert address_refusal("127.0.0.1", allow_local=True) is None
    assert address_refusal("127.0.0.2", allow_local=True) == "a loopback address"
    assert address_refusal("::1", allow_local=True) == "a loopback address"
    assert address_refusal("10.0.0.5", allow_local=True) == "a private address"
    assert address_refusal("169.254.169.254", allow_local=True) == "a cloud metadata address"


def test_the_deployed_default_refuses_the_local_address_and_plain_http() -> None:
    # Given settings as a deployed function reads them (the template never sets webhook_allow_local_urls)
    settings = AgencyWebhookSettings.from_env({"TABLE_NAME": "t"})
    assert settings.webhook_allow_local_urls is False
    # Then neither 127.0.0.1 nor an http:// URL is accepted
    guard = HostGuard(lambda host, port: ["127.0.0.1"], allow_local=settings.webhook_allow_local_urls)
    assert guard.refusal("hooks.example", 443) == (
        "hooks.example resolves to 127.0.0.1, a loopback address: deliveries go to public addresses only"
    )
    with pytest.raises(ValueError, match="must be an https:// URL"):
        parse_url("http://hooks.example/in", allow_local=settings.webhook_allow_local_urls)


def test_every_address_of_a_host_is_judged() -> None:
    # Given a name with one public and one private address
    guard = HostGuard(lambda host, port: ["93.184.215.14", "10.0.0.7"])
    # Then it is refused, naming the private one
    with pytest.raises(Refused, match=r"resolves to 10\.0\.0\.7, a private address"):
        guard.addresses("mixed.example", 443)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    assert HostGuard(nowhere).refusal("nowhere.example", 443) == "nowhere.example does not resolve"


def test_a_resolver_that_hangs_is_given_up_on() -> None:
    import threading

    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(5)
        return ["93.184.215.14"]

    try:
        assert HostGuard(hanging, timeout=0.05).refusal("slow-dns.example", 443) == (
            "slow-dns.example did not resolve in time"
        )
    finally:
        release.set()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example/in", "must be an https:// URL"),
        ("ftp://hooks.example/in", "must be an https:// URL"),
        ("https://user:pass@hooks.example/in", "must not carry a user name or password"),
        ("https:///in", "must name a host"),
        ("https://hooks.example:0/in", "the port must be a number from 1 to 65535"),
        ("https://hooks.example:99999/in", "the port must be a number from 1 to 65535"),
        ("https://hooks.example/a b", "no spaces, control or non-ASCII characters"),
        ("https://hööks.example/in", "no spaces, control or non-ASCII characters"),
        ("https://hooks.example/" + "a" * 2048, "at most 2048 characters"),
        ("hooks.example/in", "must be an https:// URL"),
    ],
)
def test_urls_that_cannot_be_endpoints(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_url(url)


def test_a_url_is_sent_to_its_host_port_and_target() -> None:
    target = parse_url("https://Hooks.Example:8443/in/ok?a=1#frag")
    assert (target.scheme, target.host, target.port, target.target) == ("https", "hooks.example", 8443, "/in/ok?a=1")
    assert target.host_header == "hooks.example:8443"
    default = parse_url("https://hooks.example")
    assert (default.port, default.target, default.host_header) == (443, "/", "hooks.example")
    local = parse_url("http://127.0.0.1:3000/x", allow_local=True)
    assert (local.scheme, local.host_header) == ("http", "127.0.0.1:3000")
    assert parse_url("https://[2606:4700::1111]/x").host_header == "[2606:4700::1111]"
