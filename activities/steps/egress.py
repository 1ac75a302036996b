"""Where step.http_call may connect: the worker's egress allow-list.

The allow-list belongs to the worker (`python worker.py --http-allow ...` or WFCTL_HTTP_ALLOW),
never to a pipeline file: whoever writes pipelines must not be able to widen it. Entries,
comma-separated:

    *                    any address that is not refused by default (the default list)
    loopback             127.0.0.0/8, ::1 (and 0.0.0.0, which reaches this host too)
    10.0.0.0/8, 2001:db8::/32, 192.0.2.7
                         addresses in a network
    api.example.com, *.example.com
                         a host name, or any name under a domain

Refused unless named: loopback, link-local (169.254.0.0/16, fe80::/10) and the cloud metadata
services (169.254.169.254, fd00:ec2::254, 100.100.100.200, metadata.google.internal). A broad
entry (`*`, 0.0.0.0/0, a host name) never opens them: they open only to `loopback` or to a
network inside the refused range (a metadata address only to itself).

The check sits where httpx opens a connection, so it covers the first request and every
redirect hop, looks at every address a name resolves to (one refused address refuses the
host), and the connection goes to an address that was checked (no second DNS answer).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

ENV = "WFCTL_HTTP_ALLOW"
DEFAULT = "*"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_METADATA = "link-local/metadata address"
_LOOPBACK = "loopback address"
# Most specific first: a metadata address is also link-local, and opens only to itself.
_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), rule)
    for net, rule in (
        ("169.254.169.254/32", _METADATA),  # AWS, Azure, GCP, OCI, DigitalOcean
        ("fd00:ec2::254/128", _METADATA),  # AWS over IPv6
        ("100.100.100.200/32", _METADATA),  # Alibaba Cloud
        ("169.254.0.0/16", _METADATA),
        ("fe80::/10", _METADATA),
        ("127.0.0.0/8", _LOOPBACK),
        ("::1/128", _LOOPBACK),
        # Connecting to 0.0.0.0 or :: reaches this host.
        ("0.0.0.0/8", _LOOPBACK),
        ("::/128", _LOOPBACK),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")


class EgressRefused(Exception):
    """A connection the allow-list refuses; raised before any packet is sent to it."""


@dataclass(frozen=True)
class EgressPolicy:
    any_address: bool = True
    loopback: bool = False
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()  # "*.example.com" kept as ".example.com"
    text: str = DEFAULT

    @classmethod
    def parse(cls, text: str | None) -> EgressPolicy:
        """An allow-list as written in --http-allow / WFCTL_HTTP_ALLOW; empty means the default."""
        text = (text or "").strip() or DEFAULT
        any_address = loopback = False
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        domains: list[str] = []
        for raw in text.split(","):
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry == "*":
                any_address = True
            elif entry == "loopback":
                loopback = True
            elif (network := _network(entry)) is not None:
                networks.append(network)
            # A numeric last label is a mistyped address, never a top-level domain.
            elif _HOST.match(entry) and not entry.rsplit(".", 1)[-1].isdigit():
                if entry.startswith("*."):
                    domains.append(entry[1:])
                else:
                    hosts.add(entry)
            else:
                raise ValueError(f"{ENV}: {raw.strip()!r} is not `*`, `loopback`, an address, "
                                 "a network or a host name")
        return cls(any_address, loopback, tuple(networks), frozenset(hosts), tuple(domains), text)

    def check(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Raise EgressRefused unless every address `host` resolved to is allowed."""
        for address in addresses:
            rule = self._refusal(host, address)
            if rule is not None:
                shown = host if host == str(address) else f"{host} ({address})"
                raise EgressRefused(f"egress to {shown} refused: {rule}")

    def check_name(self, host: str) -> None:
        """Names refused before any DNS lookup."""
        if host in _METADATA_HOSTS and host not in self.hosts:
            raise EgressRefused(f"egress to {host} refused: {_METADATA}")

    def _refusal(self, host: str, address: IPAddress) -> str | None:
        for refused, rule in _REFUSED:
            if address in refused:
                if rule == _LOOPBACK and self.loopback:
                    return None
                opened = any(address in n and n.subnet_of(refused) for n in self._same(address))
                if opened:
                    return None
                if rule == _LOOPBACK:
                    return f"{rule} (allow it with `loopback` in --http-allow / {ENV})"
                return rule
        if self.any_address or any(address in n for n in self._same(address)):
            return None
        if host in self.hosts or any(host.endswith(d) for d in self.domains):
            return None
        return f"not in the egress allow-list ({self.text})"

    def _same(self, address: IPAddress) -> list[Any]:
        return [n for n in self.networks if n.version == address.version]


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


_configured: EgressPolicy | None = None


def configure_egress(policy: EgressPolicy | None) -> EgressPolicy | None:
    """Set the worker's allow-list for this process (None: follow WFCTL_HTTP_ALLOW); returns
    the one it replaces."""
    global _configured
    before, _configured = _configured, policy
    return before


def egress_policy() -> EgressPolicy:
    return _configured if _configured is not None else _from_env(os.environ.get(ENV, ""))


@lru_cache(maxsize=4)
def _from_env(text: str) -> EgressPolicy:
    return EgressPolicy.parse(text)


def _plain_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:169.254.169.254, 64:ff9b::a9fe:a9fe through a NAT64 gateway and 6to4's
        # 2002:a9fe:a9fe:: all reach 169.254.169.254.
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy, self._inner = policy, inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        name = host.lower().rstrip(".")
        self._policy.check_name(name)
        addresses = await _resolve(name, port, timeout)
        self._policy.check(name, addresses)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # _resolve never returns an empty list
        raise failure

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("egress over a unix socket refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    literal = _plain_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    found: list[IPAddress] = []
    for info in infos:
        address = _plain_address(str(info[4][0]))
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise httpcore.ConnectError(f"cannot resolve {host}: no address")
    return found


def guarded_transport(policy: EgressPolicy) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection passes `policy`. A client given a transport
    uses no environment proxy: through a proxy the check would see the proxy, not the host."""
    transport = httpx.AsyncHTTPTransport()
    # httpx has no option for the network backend; its pool is where every connection opens.
    pool: Any = transport._pool
    pool._network_backend = _GuardedBackend(policy, pool._network_backend)
    return transport
