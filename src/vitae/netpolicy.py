"""Which URLs the service may call on a user's behalf (webhooks today, any outside fetch
tomorrow): ``https`` (``http`` only where allowed) on globally routable addresses.

A URL is checked when it is registered and again before every call, on the addresses the
name resolves to at that moment; the call then connects to the address that was checked,
so a name that re-resolves to an internal address between the check and the call (DNS
rebinding) cannot reach it. An IPv6 address that carries an IPv4 address (mapped,
translated, compatible, NAT64, 6to4, Teredo) is judged by both: on networks with NAT64 or
SIIT, ``[64:ff9b::a9fe:a9fe]`` reaches the cloud metadata address ``169.254.169.254``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from vitae.errors import ConfigurationError

if TYPE_CHECKING:
    from vitae.settings import PhotoSettings, WebhookSettings

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 5.0
IPV4_BITS = 0xFFFF_FFFF
# IPv6 prefixes whose last 32 bits are an IPv4 address a packet may end up at. The IPv4-mapped
# form (::ffff:0:0/96) has ``ipaddress``'s ``ipv4_mapped``; 6to4 and Teredo have ``sixtofour``
# and ``teredo``. The NAT64 local-use prefix (64:ff9b:1::/48) places the IPv4 address where
# the operator's prefix length says, so it is refused whole (it is never global).
LOW_32_BITS_PREFIXES = (
    ("IPv4-translated", ipaddress.IPv6Network("::ffff:0:0:0/96")),
    ("IPv4-compatible", ipaddress.IPv6Network("::/96")),
    ("NAT64", ipaddress.IPv6Network("64:ff9b::/96")),
)


class RefusedURLError(Exception):
    """The URL may not be called; ``reason`` says why in words a client can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: IPAddress

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (the port and path kept)."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)  # noqa: PLR2004
        netloc = f"{host}:{parts.port}" if parts.port else host
        return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """``allow_http`` admits plain ``http``; ``allowed`` networks are reachable even when they
    are not public (e.g. ``127.0.0.0/8`` for a receiver on the same machine in development).
    """

    allow_http: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: WebhookSettings | PhotoSettings, prefix: str = "VITAE_WEBHOOK"
    ) -> UrlPolicy:
        """Parse ``<prefix>_ALLOW_NETWORKS`` (the webhooks' or the photos' allowance); a
        malformed network stops the start-up (the workers build each policy once at start).
        """
        networks: list[IPNetwork] = []
        for value in settings.allow_networks:
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"{prefix}_ALLOW_NETWORKS: {value!r} is not an IP network"
                ) from None
        return cls(allow_http=settings.allow_http, allowed=tuple(networks))

    def check_syntax(self, url: str) -> SplitResult:
        """Refuse what no resolution can fix: the scheme, a missing host, credentials, and
        whitespace or control characters anywhere (URL splitting would silently drop a tab
        or a line break, and a leading space leaves the request without a host).
        """
        if len(url) > MAX_URL_LENGTH:
            raise RefusedURLError(f"the URL is longer than {MAX_URL_LENGTH} characters")
        for position, char in enumerate(url):
            if char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}:
                raise RefusedURLError(
                    f"the URL contains whitespace or a control character ({char!r} at "
                    f"position {position})"
                )
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError as error:
            raise RefusedURLError(f"the URL is malformed: {error}") from None
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise RefusedURLError(
                "only https URLs are accepted"
                if not self.allow_http
                else "only http and https URLs are accepted"
            )
        if not parts.hostname:
            raise RefusedURLError("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise RefusedURLError("the URL must not contain credentials")
        if parts.fragment:
            raise RefusedURLError("the URL must not contain a fragment")
        return parts

    def check_address(self, address: IPAddress) -> None:
        """Globally routable addresses only, unless the address (or the IPv4 address it
        carries) lies in an allowed network; an IPv6 address carrying an IPv4 address must
        pass as both.
        """
        embedded = embedded_ipv4(address)
        candidates: list[IPAddress] = [address] if embedded is None else [address, embedded[1]]
        if any(a in network for a in candidates for network in self.allowed):
            return
        # The carried address first: its reason (loopback, metadata) is the telling one.
        for candidate in reversed(candidates):
            where = str(candidate)
            if candidate is not address and embedded is not None:
                where = f"{candidate}, carried by the {embedded[0]} address {address}"
            _check_global(candidate, where)

    async def resolve(self, url: str) -> Target:
        """Check the URL, resolve its host and check every address it resolves to."""
        parts = self.check_syntax(url)
        host = parts.hostname or ""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = await _lookup(host, parts.port or (443 if parts.scheme == "https" else 80))
        for address in addresses:
            self.check_address(address)
        return Target(url=url, host=host, address=addresses[0])


def embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries, with the name of the form, or ``None``."""
    if address.version == 4:  # noqa: PLR2004
        return None
    assert isinstance(address, ipaddress.IPv6Address)  # noqa: S101  (narrowed by the version)
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    for name, network in LOW_32_BITS_PREFIXES:
        # :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible ones.
        if address in network and int(address) > 1:
            return name, ipaddress.IPv4Address(int(address) & IPV4_BITS)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]  # the client's address, where packets go
    return None


def _check_global(address: IPAddress, where: str) -> None:
    if address.is_loopback or address.is_unspecified:
        raise RefusedURLError(f"the host resolves to a loopback or unspecified address ({where})")
    if address.is_link_local:
        raise RefusedURLError(
            f"the host resolves to a link-local or cloud metadata address ({where})"
        )
    if not address.is_global or address.is_multicast:
        raise RefusedURLError(f"the host resolves to a private or reserved address ({where})")


async def _lookup(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise RefusedURLError(f"the host {host!r} does not resolve") from None
    except (UnicodeError, ValueError):
        raise RefusedURLError(f"the host {host!r} is not a valid host name") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedURLError(f"the host {host!r} does not resolve")
    return addresses
