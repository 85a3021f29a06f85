"""Which URLs a webhook may call: ``https`` (``http`` only where allowed) on public addresses.

A URL is checked when it is registered and again before every attempt, on the addresses the
name resolves to at that moment; the attempt then connects to the address that was checked,
so a name that re-resolves to an internal address between the check and the call (DNS
rebinding) cannot reach it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from vitae.errors import ConfigurationError

if TYPE_CHECKING:
    from vitae.settings import WebhookSettings

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT = 5.0


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
    def from_settings(cls, settings: WebhookSettings) -> UrlPolicy:
        """Parse ``VITAE_WEBHOOK_ALLOW_NETWORKS`` (once per process: the wiring builds the
        webhook service once); a malformed network stops the start-up.
        """
        networks: list[IPNetwork] = []
        for value in settings.allow_networks:
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"VITAE_WEBHOOK_ALLOW_NETWORKS: {value!r} is not an IP network"
                ) from None
        return cls(allow_http=settings.allow_http, allowed=tuple(networks))

    def check_syntax(self, url: str) -> SplitResult:
        """Refuse what no resolution can fix: the scheme, a missing host, credentials."""
        if len(url) > MAX_URL_LENGTH:
            raise RefusedURLError(f"the URL is longer than {MAX_URL_LENGTH} characters")
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
        """Public addresses only, unless the address lies in an allowed network."""
        if address.version == 6 and address.ipv4_mapped is not None:  # noqa: PLR2004
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed):
            return
        if address.is_loopback:
            raise RefusedURLError(f"the host resolves to a loopback address ({address})")
        if address.is_link_local:
            raise RefusedURLError(
                f"the host resolves to a link-local or cloud metadata address ({address})"
            )
        if not address.is_global or address.is_multicast:
            raise RefusedURLError(f"the host resolves to a private or reserved address ({address})")

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


async def _lookup(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise RefusedURLError(f"the host {host!r} does not resolve") from None
    except UnicodeError:
        raise RefusedURLError(f"the host {host!r} is not a valid host name") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedURLError(f"the host {host!r} does not resolve")
    return addresses
