import ipaddress
import re

import pytest

from vitae.errors import ConfigurationError
from vitae.netpolicy import RefusedURLError, Target, UrlPolicy, embedded_ipv4
from vitae.settings import WebhookSettings

# Every address that must not be called, with the word the refusal uses.
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.100.100.200", "private"),  # shared address space (Alibaba's metadata)
    ("0.0.0.0", "unspecified"),  # noqa: S104  (an address to refuse, not to bind)
    ("224.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("192.0.0.192", "private"),
    ("198.18.0.1", "private"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
    ("ff02::1", "private"),
    ("2001:db8::1", "private"),
    ("100::1", "private"),
    # IPv4-mapped ::ffff:0:0/96
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:a9fe:a9fe", "link-local"),
    # IPv4-translated ::ffff:0:0:0/96 (SIIT)
    ("::ffff:0:a00:1", "10.0.0.1, carried by the IPv4-translated"),
    ("::ffff:0:7f00:1", "127.0.0.1, carried by the IPv4-translated"),
    ("::ffff:0:a9fe:a9fe", "169.254.169.254, carried by the IPv4-translated"),
    # IPv4-compatible ::/96
    ("::7f00:1", "127.0.0.1, carried by the IPv4-compatible"),
    ("::127.0.0.1", "127.0.0.1, carried by the IPv4-compatible"),
    ("::a9fe:a9fe", "169.254.169.254, carried by the IPv4-compatible"),
    ("::a00:1", "10.0.0.1, carried by the IPv4-compatible"),
    # NAT64, well-known prefix 64:ff9b::/96
    ("64:ff9b::a9fe:a9fe", "169.254.169.254, carried by the NAT64"),
    ("64:ff9b::a00:1", "10.0.0.1, carried by the NAT64"),
    ("64:ff9b::127.0.0.1", "127.0.0.1, carried by the NAT64"),
    ("64:ff9b::c0a8:101", "192.168.1.1, carried by the NAT64"),
    # NAT64, local-use prefix 64:ff9b:1::/48 (never global, whatever it carries)
    ("64:ff9b:1::101:101", "private"),
    ("64:ff9b:1:a00:1::", "private"),
    # 6to4 2002::/16
    ("2002:a9fe:a9fe::1", "169.254.169.254, carried by the 6to4"),
    ("2002:7f00:1::", "127.0.0.1, carried by the 6to4"),
    ("2002:101:101::1", "private or reserved address (2002:101:101::1)"),
    # Teredo 2001::/32 (the client's address is obfuscated: 10.0.0.1 here)
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1, carried by the Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    with pytest.raises(RefusedURLError, match=re.escape(reason)):
        UrlPolicy().check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(("address", "reason"), REFUSED)
async def test_internal_addresses_are_refused_as_url_hosts(address: str, reason: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(RefusedURLError, match=re.escape(reason)):
        await UrlPolicy().resolve(f"https://{host}/hook")


@pytest.mark.parametrize(
    ("address", "form", "carried"),
    [
        ("::ffff:1.2.3.4", "IPv4-mapped", "1.2.3.4"),
        ("::ffff:0:102:304", "IPv4-translated", "1.2.3.4"),
        ("::102:304", "IPv4-compatible", "1.2.3.4"),
        ("64:ff9b::102:304", "NAT64", "1.2.3.4"),
        ("2002:102:304::", "6to4", "1.2.3.4"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo", "10.0.0.1"),
    ],
)
def test_every_ipv6_form_that_carries_ipv4_is_unwrapped(
    address: str, form: str, carried: str
) -> None:
    assert embedded_ipv4(ipaddress.ip_address(address)) == (form, ipaddress.ip_address(carried))


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"],
)
def test_public_addresses_are_accepted(address: str) -> None:
    UrlPolicy().check_address(ipaddress.ip_address(address))


def test_allowed_networks_admit_only_themselves() -> None:
    policy = UrlPolicy.from_settings(
        WebhookSettings(allow_http=True, allow_networks=("127.0.0.0/8",))
    )
    policy.check_address(ipaddress.ip_address("127.0.0.9"))
    with pytest.raises(RefusedURLError, match="link-local"):
        policy.check_address(ipaddress.ip_address("169.254.169.254"))


async def test_resolution_checks_every_address_of_a_name() -> None:
    with pytest.raises(RefusedURLError, match="loopback"):
        await UrlPolicy().resolve("https://localhost/hook")
    target = await UrlPolicy(allowed=(ipaddress.ip_network("127.0.0.0/8"),)).resolve(
        "https://127.0.0.1:8443/hook?x=1"
    )
    assert target.pinned_url() == "https://127.0.0.1:8443/hook?x=1"


@pytest.mark.parametrize("host", ["ex\udcff.com", "a" * 300 + ".com", ".."])
async def test_a_host_name_that_cannot_be_encoded_is_refused(host: str) -> None:
    with pytest.raises(RefusedURLError, match="not a valid host name"):
        await UrlPolicy().resolve(f"https://{host}/hook")


def test_the_pinned_url_keeps_port_path_and_query() -> None:
    target = Target(
        url="https://hooks.example.com:8443/a/b?c=d",
        host="hooks.example.com",
        address=ipaddress.ip_address("2606:4700::1"),
    )
    assert target.pinned_url() == "https://[2606:4700::1]:8443/a/b?c=d"


@pytest.mark.parametrize(
    ("url", "allow_http", "reason"),
    [
        ("http://hooks.example.com/", False, "only https"),
        ("file:///etc/passwd", True, "only http and https"),
        ("https://hooks.example.com:99999/", False, "malformed"),
        ("https://hooks.example.com/#frag", False, "fragment"),
        ("https://" + "a" * 2050 + ".com/", False, "longer than"),
        ("https://hooks.example.com/a\r\nX-Injected: 1", False, "control character"),
        ("https://hooks.example\n.com/", False, "control character"),
        ("https://hooks.example.com/\tpath", False, "control character"),
        (" https://hooks.example.com/", False, "whitespace"),
        ("https://hooks.example.com/ ", False, "whitespace"),
        ("https://hooks.example.com/a b", False, "whitespace"),
        ("https://hooks.exa\x00mple.com/", False, "control character"),
        ("https://hooks.example.com/\x7f", False, "control character"),
        ("https://hooks.example.com/\u00a0", False, "whitespace"),
        ("https://hooks.exam\u200bple.com/", False, "control character"),
        ("https://hooks.example.com/\u2028", False, "whitespace"),
    ],
)
def test_syntax_is_checked_before_resolution(url: str, *, allow_http: bool, reason: str) -> None:
    with pytest.raises(RefusedURLError, match=reason):
        UrlPolicy(allow_http=allow_http).check_syntax(url)


def test_a_malformed_allowed_network_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="VITAE_WEBHOOK_ALLOW_NETWORKS"):
        UrlPolicy.from_settings(WebhookSettings(allow_networks=("nope",)))
