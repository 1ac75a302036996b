"""A boto3 session built from provider config, with one cached client per service.

Credentials always come from the SDK's own chain (environment, shared profile, instance or
task role); provider config only says where (region, profile, endpoint_url).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from interfaces.errors import ConfigError

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
        max_attempts: int = 2,
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
        # Temporal retries activities with backoff; the SDK only smooths over a blip.
        self.config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
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
            max_attempts=int(config.get("max_attempts", 2)),
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
                self._clients[service] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
