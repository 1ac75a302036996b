"""The codec server: /encode and /decode for the Temporal web UI and CLI.

Temporal's codec server protocol: POST {"payloads": [{"metadata": {k: base64}, "data":
base64}]} and the same shape back. The UI calls it from the browser, so the UI's origin gets
CORS (preflight included). Every call needs the token: as `Authorization: Bearer <token>`
(`temporal ... --codec-auth "Bearer <token>"`), or as the first path segment
(`http://host:8081/<token>/decode`) for the web UI, which cannot add a header of its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from wfctl.codec import EncryptionKeyError

CODEC_TOKEN_ENV = "WFCTL_CODEC_TOKEN"


def create_app(codec: PayloadCodec, token: str, origins: Sequence[str]) -> FastAPI:
    if not token:
        raise ValueError(f"the codec server needs a token ({CODEC_TOKEN_ENV} or --token)")
    app = FastAPI(title="wfctl codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    def authorize(request: Request, path_token: str | None) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        offered = path_token if path_token is not None else (
            presented.strip() if scheme.lower() == "bearer" else ""
        )
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong codec token",
                                headers={"WWW-Authenticate": "Bearer"})

    async def transcode(request: Request, path_token: str | None, encode: bool) -> dict[str, Any]:
        authorize(request, path_token)
        try:
            body = await request.json()
            payloads = json_format.ParseDict(body, Payloads()).payloads
        except Exception as exc:  # malformed JSON or not the protocol's shape
            raise HTTPException(400, f"body must be {{\"payloads\": [...]}}: {exc}") from None
        try:
            result: list[Payload] = await (codec.encode if encode else codec.decode)(payloads)
        except EncryptionKeyError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"payloads": [json_format.MessageToDict(p) for p in result]}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/encode")
    async def encode(request: Request) -> dict[str, Any]:
        return await transcode(request, None, encode=True)

    @app.post("/decode")
    async def decode(request: Request) -> dict[str, Any]:
        return await transcode(request, None, encode=False)

    @app.post("/{path_token}/encode")
    async def encode_with_path_token(request: Request, path_token: str) -> dict[str, Any]:
        return await transcode(request, path_token, encode=True)

    @app.post("/{path_token}/decode")
    async def decode_with_path_token(request: Request, path_token: str) -> dict[str, Any]:
        return await transcode(request, path_token, encode=False)

    return app


def serve_codec(host: str, port: int, origins: Sequence[str], token: str) -> None:
    """Run the codec server with the keys of WFCTL_ENCRYPTION_KEYS / _KEY_FILE until stopped."""
    import uvicorn

    from wfctl.codec import CODEC_SERVER, KEY_FILE_ENV, KEYS_ENV, EncryptionCodec, EncryptionKeys

    keys = EncryptionKeys.from_env()
    if keys is None:
        raise EncryptionKeyError(f"no keys: set {KEYS_ENV} or {KEY_FILE_ENV}")
    app = create_app(EncryptionCodec(keys, CODEC_SERVER), token, origins)
    # No access log: the web UI's requests carry the token in their path.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")
