"""mTLS as on Temporal Cloud: the client API and `wfctl` reach the dev server through a
TLS-terminating proxy that demands a client certificate signed by its CA."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.testing import WorkflowEnvironment

from wfctl.connection import ConnectionSettings, connect

ROOT = Path(__file__).resolve().parent.parent


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False, server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        ), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write(path: Path, cert: x509.Certificate | None, key: ec.EllipticCurvePrivateKey | None
           ) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("test-ca", ca_key, "test-ca", ca_key, ca=True)
    server = _certificate("localhost", server_key, "test-ca", ca_key, server=True)
    client = _certificate("wfctl-client", client_key, "test-ca", ca_key)
    return Pki(
        ca=_write(folder / "ca.pem", ca, None),
        server_cert=_write(folder / "server.pem", server, None),
        server_key=_write(folder / "server.key", None, server_key),
        client_cert=_write(folder / "client.pem", client, None),
        client_key=_write(folder / "client.key", None, client_key),
    )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture(scope="module")
async def tls_address(temporal_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[str]:
    """A TLS front for the dev server that requires a client certificate (mTLS)."""
    host, port = temporal_env.client.service_client.config.target_host.rsplit(":", 1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"localhost:{server.sockets[0].getsockname()[1]}"


async def test_client_api_connects_with_mtls(tls_address: str, pki: Pki) -> None:
    settings = ConnectionSettings(address=tls_address, tls_cert=str(pki.client_cert),
                                  tls_key=str(pki.client_key), tls_ca=str(pki.ca))
    client = await connect(settings)
    assert (await client.service_client.check_health()) is True
    async for _ in client.list_workflows(page_size=1):
        break


async def test_without_a_client_certificate_the_connection_is_refused(
    tls_address: str, pki: Pki
) -> None:
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(
            connect(ConnectionSettings(address=tls_address, tls_ca=str(pki.ca))), 20
        )


async def test_wfctl_takes_the_tls_flags_and_the_environment(tls_address: str, pki: Pki) -> None:
    flags = ["--address", tls_address, "--tls-cert", str(pki.client_cert),
             "--tls-key", str(pki.client_key), "--tls-ca", str(pki.ca)]
    env = {"TEMPORAL_ADDRESS": tls_address, "TEMPORAL_TLS_CERT": str(pki.client_cert),
           "TEMPORAL_TLS_KEY": str(pki.client_key), "TEMPORAL_TLS_CA": str(pki.ca)}
    for argv, extra_env in (([*flags, "pipeline", "list"], {}), (["pipeline", "list"], env)):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfctl", *argv, cwd=ROOT, env={**os.environ, **extra_env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
