import ipaddress

import pytest

from vitae.errors import ConfigurationError
from vitae.settings import WebhookSettings
from vitae.webhooks.urls import RefusedURLError, Target, UrlPolicy


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104  (an address to refuse, not to bind)
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:10.0.0.1",
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(RefusedURLError):
        UrlPolicy().check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
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
    ],
)
def test_syntax_is_checked_before_resolution(url: str, *, allow_http: bool, reason: str) -> None:
    with pytest.raises(RefusedURLError, match=reason):
        UrlPolicy(allow_http=allow_http).check_syntax(url)


def test_a_malformed_allowed_network_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="VITAE_WEBHOOK_ALLOW_NETWORKS"):
        UrlPolicy.from_settings(WebhookSettings(allow_networks=("nope",)))
