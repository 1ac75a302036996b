"""Connecting to Temporal the same way from the CLI, the worker and the client API."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from wfctl.codec import CLIENT, KEY_FILE_ENV, KEYS_ENV, WORKER, EncryptionCodec, EncryptionKeys
from wfctl.tracing import tracing_interceptors

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_UI_URL = "http://localhost:8233"


class TemporalUnreachable(ConnectionError, RuntimeError):
    """No Temporal frontend answered at the address; str() is one line saying where, why and
    what to do about it. Also a RuntimeError, which the SDK raises, so that code written
    against that keeps working."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        if _is_local(address):
            hint = "`make run` (or `wfctl dev`) starts one locally"
        else:
            hint = "check the address (--address or TEMPORAL_ADDRESS)"
        super().__init__(f"cannot reach Temporal at {address}: {reason}; {hint}")


def _is_local(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect_reason(error: RuntimeError) -> str:
    """The OS's words inside the SDK's nested transport error ("Connection refused")."""
    found = re.findall(r'(?:message|error): "([^"]+)"', str(error))
    return found[-1] if found else str(error)


@dataclass(frozen=True)
class ConnectionSettings:
    """Where Temporal is and how to authenticate; every field can come from the environment."""

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    api_key: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls: bool = False
    ui_url: str = DEFAULT_UI_URL
    encryption_keys: str | None = None
    encryption_key_file: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> ConnectionSettings:
        env = os.environ
        values: dict[str, object] = {
            "address": env.get("TEMPORAL_ADDRESS", DEFAULT_ADDRESS),
            "namespace": env.get("TEMPORAL_NAMESPACE", DEFAULT_NAMESPACE),
            "api_key": env.get("TEMPORAL_API_KEY") or None,
            "tls_cert": env.get("TEMPORAL_TLS_CERT") or None,
            "tls_key": env.get("TEMPORAL_TLS_KEY") or None,
            "tls_ca": env.get("TEMPORAL_TLS_CA") or None,
            "tls": env.get("TEMPORAL_TLS", "").lower() in ("1", "true", "yes"),
            "ui_url": env.get("WFCTL_UI_URL", DEFAULT_UI_URL),
            "encryption_keys": env.get(KEYS_ENV) or None,
            "encryption_key_file": env.get(KEY_FILE_ENV) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def tls_config(self) -> TLSConfig | bool:
        if self.tls_cert or self.tls_key or self.tls_ca:
            return TLSConfig(
                client_cert=Path(self.tls_cert).read_bytes() if self.tls_cert else None,
                client_private_key=Path(self.tls_key).read_bytes() if self.tls_key else None,
                server_root_ca_cert=Path(self.tls_ca).read_bytes() if self.tls_ca else None,
            )
        # Temporal Cloud API keys are only accepted over TLS.
        return self.tls or bool(self.api_key)

    def data_converter(self, *, worker: bool = False) -> DataConverter:
        """The pydantic converter, encrypting every payload when keys are configured.

        With keys, failures are encrypted too: their message and stack trace move into an
        encoded attribute (the history shows "Encoded failure"), since a failure quotes what
        went wrong, and that is often the data the codec exists to hide.

        The codec is there without keys as well, so that an encrypted payload is recognised
        on either side: a client raises EncryptionKeysMissing, a `worker`'s workflows fail
        the run saying which key the worker lacks (see EncryptionCodec)."""
        keys = EncryptionKeys.load(self.encryption_keys, self.encryption_key_file)
        codec = EncryptionCodec(keys, WORKER if worker else CLIENT)
        if keys is None:
            return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
        return dataclasses.replace(
            pydantic_data_converter,
            payload_codec=codec,
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
        )

    def workflow_url(self, workflow_id: str, run_id: str | None = None) -> str:
        namespace, wf = quote(self.namespace), quote(workflow_id, safe="")
        base = f"{self.ui_url}/namespaces/{namespace}/workflows/{wf}"
        return f"{base}/{run_id}/history" if run_id else base


async def connect(settings: ConnectionSettings | None = None, *, worker: bool = False) -> Client:
    """A client of the configured Temporal; TemporalUnreachable when none answers there.

    `worker`: the client a worker is built on (see ConnectionSettings.data_converter)."""
    settings = settings or ConnectionSettings.from_env()
    try:
        return await Client.connect(
            settings.address,
            namespace=settings.namespace,
            api_key=settings.api_key,
            tls=settings.tls_config(),
            data_converter=settings.data_converter(worker=worker),
            # Empty unless OTEL_* configure tracing; workers built on the client trace too.
            interceptors=tracing_interceptors(),
        )
    except RuntimeError as exc:  # the SDK's one type for every failed connect
        raise TemporalUnreachable(settings.address, _connect_reason(exc)) from exc
