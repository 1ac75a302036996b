"""A boto3 session built from provider config, with one cached client per service.

Credentials always come from the SDK's own chain (environment, shared profile, instance or
task role); provider config only says where (region, profile, endpoint_url). Every client
retries a throttled or failed call by itself, up to `max_attempts` tries of that one call
(1: no retry), before the activity sees the error.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from interfaces.errors import ConfigError
from providers.aws.retries import CallRetry

# Tries of one call: at a 30% throttling rate, ten failures in a row are one call in 170,000.
DEFAULT_MAX_ATTEMPTS = 10
# Keys that would put a secret in a stack document (and so in workflow inputs): refused.
CREDENTIAL_KEYS = frozenset(
    {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "access_key",
        "access_key_id",
        "secret_key",
        "secret_access_key",
        "session_token",
    }
)


class AwsSession:
    """Region, optional profile and endpoint, and thread-safe cached clients."""

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        try:
            self._session = boto3.Session(
                profile_name=profile or None, region_name=region or None
            )
        except ProfileNotFound as error:
            raise ConfigError(f"aws provider: {error}") from None
        self.region = self._session.region_name
        if not self.region:
            raise ConfigError("aws provider: no region (set `region` in the provider config)")
        self.profile = profile
        self.endpoint_url = endpoint_url or None
        if max_attempts < 1:
            raise ConfigError(f"aws provider: max_attempts must be at least 1, not {max_attempts}")
        # botocore's own retry handler makes one attempt; CallRetry (registered per client)
        # decides on the others.
        self._retry = CallRetry(max_attempts)
        self.config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # Virtual-hosted bucket names do not resolve on a local endpoint (moto, LocalStack).
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        self._clients: dict[str, Any] = {}
        # boto3 sessions are not safe for concurrent client creation; clients themselves are.
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AwsSession:
        secret = sorted(CREDENTIAL_KEYS & {k.lower() for k in config})
        if secret:
            raise ConfigError(
                f"aws provider: credentials never go in provider config ({', '.join(secret)}); "
                "use the environment, a profile or a role"
            )
        return cls(
            region=config.get("region"),
            profile=config.get("profile"),
            endpoint_url=config.get("endpoint_url"),
            max_attempts=int(config.get("max_attempts", DEFAULT_MAX_ATTEMPTS)),
            connect_timeout=float(config.get("connect_timeout", 5.0)),
            read_timeout=float(config.get("read_timeout", 30.0)),
        )

    def client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._session.client(
                    service, endpoint_url=self.endpoint_url, config=self.config
                )
                client.meta.events.register("needs-retry", self._retry)
                self._clients[service] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
