"""Refuse webhook URLs that point inside: loopback, private, link-local, metadata...

Checked at registration and again at every delivery, after DNS resolution; the delivery
then connects to the very address that was checked (``Host`` header and TLS SNI keep the
name), so a name that resolves differently the second time (DNS rebinding) cannot slip in.
An IPv6 address that carries an IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4, Teredo)
is judged by the IPv4 address too: ``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64.
``TWOTIER_WEBHOOKS_ALLOW_PRIVATE=true`` lifts the address rule (local development, tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from twotier.config import Settings
from twotier.kit.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services; all are non-global already, listed so the intent is explicit.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)


class UrlRefused(Invalid):
    """A webhook URL twotier will not call; ``code`` says why."""


@dataclass(frozen=True)
class Target:
    url: SplitResult
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


# IPv6 prefixes whose last 32 bits are an IPv4 address the traffic ends up at.
_LOW_32_BITS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
        "::/96",  # IPv4-compatible (deprecated, still routed by some stacks)
        "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
        "64:ff9b:1::/48",  # NAT64, local-use prefix (RFC 8215), in its common /96 form
    )
)
# Not globally reachable (IANA); Pythons without the CVE-2024-4032 fix call it global.
_NOT_GLOBAL = (ipaddress.ip_network("64:ff9b:1::/48"),)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (translated or tunnelled), if any."""
    found: list[ipaddress.IPv4Address] = []
    # :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible ones.
    if int(address) > 1 and any(address in network for network in _LOW_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # the relay server and the client behind it
    return found


def _refused(address: IPAddress) -> bool:
    return (
        address in METADATA
        or not address.is_global
        or address.is_multicast
        or any(address in network for network in _NOT_GLOBAL)
    )


def forbidden(address: IPAddress) -> IPAddress | None:
    """Why ``address`` is refused: the IPv4 address it carries, or itself; None if allowed."""
    if isinstance(address, ipaddress.IPv6Address):
        for carried in embedded_ipv4(address):
            if _refused(carried):
                return carried
    return address if _refused(address) else None


def parse(url: str, settings: Settings) -> tuple[SplitResult, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("The webhook URL is not valid.", code="webhook_url_invalid") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UrlRefused(
            "The webhook URL must be an http or https URL with a host.", code="webhook_url_invalid"
        )
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(
            "Put no credentials in the webhook URL; verify the signature instead.",
            code="webhook_url_invalid",
        )
    if parts.scheme == "http" and settings.is_production and not settings.webhooks_allow_private:
        raise UrlRefused("Webhook URLs must use https.", code="webhook_url_insecure")
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, or None when it is a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    address = literal(host)
    if address is not None:
        return (address,)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(
            f"The webhook host {host} does not resolve.", code="webhook_url_unresolvable"
        ) from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UrlRefused(
            f"The webhook host {host} does not resolve.", code="webhook_url_unresolvable"
        )
    return tuple(found)


async def check(url: str, settings: Settings) -> Target:
    """Parse, resolve and vet ``url``; every address it resolves to must be allowed."""
    parts, host, port = parse(url, settings)
    addresses = await resolve(host, port)
    if not settings.webhooks_allow_private:
        for address in addresses:
            why = forbidden(address)
            if why is not None:
                spelled = str(address) if why == address else f"{address}, that is {why}"
                raise UrlRefused(
                    f"The webhook URL points to a private, loopback, link-local or metadata "
                    f"address ({spelled}); twotier only calls public addresses.",
                    code="webhook_url_forbidden",
                )
    return Target(parts, host, port, addresses)
