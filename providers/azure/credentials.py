"""Where the Azure credential comes from: azure-identity's chain, never the stack document.

Provider config may name a credential *factory* registered in this process (`credential`),
so tests can hand the SDK a static token for a local fake. Only registered names are
accepted: a stack document cannot make a worker import or call arbitrary code, and no
secret ever travels in provider config or workflow input.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

from interfaces.errors import ConfigError

CredentialFactory = Callable[[], TokenCredential]
DEFAULT_CREDENTIAL = "default"

_factories: dict[str, CredentialFactory] = {}
_lock = threading.Lock()


def _default_credential() -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # Environment, workload identity, managed identity, Azure CLI...; never a browser prompt.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def register_credential_factory(name: str, factory: CredentialFactory) -> None:
    """Offer `name` as a `credential` value in azure provider config (tests register theirs)."""
    if name == DEFAULT_CREDENTIAL:
        raise ValueError(f"{DEFAULT_CREDENTIAL!r} is azure-identity's chain and cannot change")
    with _lock:
        _factories[name] = factory


def make_credential(name: str | None) -> TokenCredential:
    if not name or name == DEFAULT_CREDENTIAL:
        return _default_credential()
    with _lock:
        factory = _factories.get(name)
    if factory is None:
        known = ", ".join(sorted({DEFAULT_CREDENTIAL, *_factories}))
        raise ConfigError(f"azure provider: unknown credential {name!r} (registered: {known})")
    return factory()


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


class LoopbackHttpAuthenticationPolicy(ARMChallengeAuthenticationPolicy):
    """ARM's bearer policy, letting plain http through to loopback hosts only.

    azure-core refuses to send a bearer token over http; a local ARM fake speaks http. This
    policy is used only when provider config sets `allow_http_loopback` (test-only), and even
    then every non-loopback http URL is still refused by the parent's check.
    """

    def on_request(self, request: Any) -> None:
        if is_loopback(request.http_request.url):
            request.context.options["enforce_https"] = False
        super().on_request(request)
