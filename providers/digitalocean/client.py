"""The pydo client built from provider config: token from the environment, endpoint, retries.

The token never appears in provider config (and so never in workflow input or history): it is
read from DIGITALOCEAN_TOKEN, or from the environment variable the config names in
`credentials_env` (the stack parser refuses setting names that mention a token).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import pydo
from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import BearerTokenCredentialPolicy

from interfaces.errors import ConfigError
from providers.azure_core_retry import CallRetryPolicy
from providers.digitalocean.errors import retry_after

DEFAULT_ENDPOINT = "https://api.digitalocean.com"
TOKEN_ENV = "DIGITALOCEAN_TOKEN"
SECRET_KEYS = frozenset({"token", "access_token", "api_token", "digitalocean_token"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Retries of one throttled or failed call before the activity sees the error (0: none).
DEFAULT_MAX_RETRIES = 9


class _Token:
    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, 0)


class _RateLimitRetryPolicy(CallRetryPolicy):
    """Waits for DigitalOcean's ratelimit-reset (Unix seconds) when it sends no Retry-After."""

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        return retry_after(response.http_response.headers)


class _PlainHttpBearerPolicy(BearerTokenCredentialPolicy):
    """Test-only: azure-core refuses to send a bearer token over http, which a local fake
    speaks. Only ever built for a loopback endpoint (see `insecure_http`)."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context.options["enforce_https"] = False
        super().on_request(request)


def token_from_env(config: dict[str, Any]) -> str:
    secret = sorted(SECRET_KEYS & {str(k).lower() for k in config})
    if secret:
        raise ConfigError(
            f"digitalocean provider: the API token never goes in provider config "
            f"({', '.join(secret)}); set {TOKEN_ENV} or name a variable in `credentials_env`"
        )
    variable = str(config.get("credentials_env") or TOKEN_ENV)
    token = os.environ.get(variable, "").strip()
    if not token:
        # The worker makes the calls: a token exported in the shell running wfctl is not seen.
        raise ConfigError(
            f"digitalocean provider: no API token in ${variable} in the worker's environment; "
            "set it where the worker runs (the shell of `make run` / `wfctl dev`, or the "
            "worker's container) and restart the worker"
        )
    return token


def build_client(config: dict[str, Any]) -> pydo.Client:
    """A pydo client; config keys: endpoint, credentials_env, max_retries, timeout and the
    test-only insecure_http (bearer auth over plain http, loopback endpoints only)."""
    token = token_from_env(config)
    endpoint = str(config.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
    options: dict[str, Any] = {
        "endpoint": endpoint,
        # A throttled or failed call retries itself, waiting for the rate limit's reset;
        # azure-core's own policy would ignore ratelimit-reset and never retry a throttled POST.
        "retry_policy": _RateLimitRetryPolicy(int(config.get("max_retries", DEFAULT_MAX_RETRIES))),
        "connection_timeout": float(config.get("connect_timeout", 10.0)),
        "read_timeout": float(config.get("read_timeout", 60.0)),
    }
    url = urlparse(endpoint)
    if url.scheme != "https" and not config.get("insecure_http"):
        raise ConfigError(
            f"digitalocean provider: endpoint {endpoint} is not https (the token would travel "
            "in clear); local test fakes set the test-only insecure_http"
        )
    if config.get("insecure_http"):
        if url.scheme != "http" or url.hostname not in LOOPBACK_HOSTS:
            raise ConfigError(
                "digitalocean provider: insecure_http is for local test fakes only "
                f"(an http://127.0.0.1 endpoint), not {endpoint}"
            )
        options["authentication_policy"] = _PlainHttpBearerPolicy(
            _Token(token), "https://api.digitalocean.com"
        )
    return pydo.Client(token, **options)
