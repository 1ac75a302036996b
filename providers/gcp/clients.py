"""Google API clients built from provider config: one set per initialized provider.

Credentials come from Application Default Credentials (or a credentials file whose path the
config names); provider config only says where (project, region, zone, endpoint). Every
client -- compute's collections and its operation clients, the discovery clients of Cloud SQL
and Secret Manager, Memorystore's -- is built from the same endpoint and credentials, so a
configured endpoint is honoured by every call, including operation polling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import google.auth
import google.auth.exceptions
import google_auth_httplib2
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import redis_v1
from googleapiclient import discovery

from interfaces.errors import ConfigError
from providers.gcp.retries import RetryingAdapter, RetryingHttp

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Keys that would put a secret in a stack document (and so in workflow inputs): refused.
CREDENTIAL_KEYS = frozenset(
    {"credentials_json", "service_account_key", "private_key", "access_token", "client_secret"}
)

C = TypeVar("C")
# Tries of one throttled or failed call before the activity sees the error (1: no retry).
DEFAULT_MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    zone: str
    endpoint: str | None = None
    credentials_file: str | None = None
    # Test-only: no credentials at all, for a local fake of the APIs.
    anonymous_credentials: bool = False
    timeout: float = 60.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GcpSettings:
        secret = sorted(CREDENTIAL_KEYS & {k.lower() for k in config})
        if secret:
            raise ConfigError(
                f"gcp provider: credentials never go in provider config ({', '.join(secret)}); "
                "use Application Default Credentials or `credentials_file`"
            )
        project, region = config.get("project"), config.get("region")
        if not project or not region:
            raise ConfigError("gcp provider: config needs `project` and `region`")
        return cls(
            project=str(project),
            region=str(region),
            zone=str(config.get("zone") or f"{region}-a"),
            endpoint=str(config["endpoint"]).rstrip("/") if config.get("endpoint") else None,
            credentials_file=config.get("credentials_file") or None,
            anonymous_credentials=bool(config.get("anonymous_credentials", False)),
            timeout=float(config.get("timeout", 60.0)),
            max_attempts=_max_attempts(config),
        )


class GcpClients:
    """Lazily built, cached API clients sharing one set of credentials and one endpoint."""

    def __init__(self, settings: GcpSettings) -> None:
        self.settings = settings
        self.credentials = _credentials(settings)
        self._compute: dict[type[Any], Any] = {}
        self._redis: redis_v1.CloudRedisClient | None = None
        self._lock = threading.Lock()
        # httplib2 (under the discovery client) is not thread-safe: one service per thread.
        self._local = threading.local()

    @property
    def client_options(self) -> ClientOptions | None:
        endpoint = self.settings.endpoint
        return ClientOptions(api_endpoint=endpoint) if endpoint else None

    def compute(self, client_class: type[C]) -> C:
        """A compute_v1 client of `client_class` (NetworksClient, GlobalOperationsClient...)."""
        return self._cached(self._compute, client_class, lambda: self._retrying(client_class(
            credentials=self.credentials, transport="rest", client_options=self.client_options
        )))  # fmt: skip

    def redis(self) -> redis_v1.CloudRedisClient:
        with self._lock:
            if self._redis is None:
                self._redis = self._retrying(redis_v1.CloudRedisClient(
                    credentials=self.credentials,
                    transport="rest",
                    client_options=self.client_options,
                ))  # fmt: skip
            return self._redis

    def sqladmin(self) -> Any:
        """This thread's Cloud SQL Admin v1 service (REST, from the bundled discovery doc)."""
        return self._discovery("sqladmin")

    def secretmanager(self) -> Any:
        """This thread's Secret Manager v1 service (REST, from the bundled discovery doc)."""
        return self._discovery("secretmanager")

    def _discovery(self, api: str) -> Any:
        service = getattr(self._local, api, None)
        if service is None:
            http = google_auth_httplib2.AuthorizedHttp(
                self.credentials,
                http=RetryingHttp(self.settings.max_attempts, timeout=self.settings.timeout),
            )
            service = discovery.build(
                api,
                "v1",
                http=http,
                client_options=self.client_options,
                static_discovery=True,
                cache_discovery=False,
            )
            setattr(self._local, api, service)
        return service

    def _retrying(self, client: C) -> C:
        """The client, its HTTP session retrying each throttled or failed call by itself."""
        # The REST transport's AuthorizedSession is the one place every call of it goes
        # through; the generated code declares it (`_session: AuthorizedSession`).
        session = client.transport._session  # type: ignore[attr-defined]  # noqa: SLF001
        adapter = RetryingAdapter(self.settings.max_attempts)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return client

    def _cached(self, cache: dict[type[Any], Any], key: type[C], build: Callable[[], C]) -> C:
        with self._lock:
            client = cache.get(key)
            if client is None:
                client = cache[key] = build()
            return client

    def close(self) -> None:
        with self._lock:
            clients = [*self._compute.values(), *([self._redis] if self._redis else [])]
            self._compute.clear()
            self._redis = None
        for client in clients:
            client.transport.close()


def _max_attempts(config: dict[str, Any]) -> int:
    attempts = int(config.get("max_attempts", DEFAULT_MAX_ATTEMPTS))
    if attempts < 1:
        raise ConfigError(f"gcp provider: max_attempts must be at least 1, not {attempts}")
    return attempts


def _credentials(settings: GcpSettings) -> Credentials:
    if settings.anonymous_credentials:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    try:
        if settings.credentials_file:
            credentials, _ = google.auth.load_credentials_from_file(
                settings.credentials_file, scopes=SCOPES
            )
        else:
            credentials, _ = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as error:
        raise ConfigError(f"gcp provider: no Google credentials: {error}") from None
    return credentials

