"""Payload encryption: an AES-256-GCM PayloadCodec with rotating keys.

Keys come from WFCTL_ENCRYPTION_KEYS ("k2:<base64 32 bytes>,k1:<base64 32 bytes>") or from the
file named by WFCTL_ENCRYPTION_KEY_FILE (the same entries, one per line or comma separated).
The first key encrypts; every key decrypts, so a new key goes first and the old ones stay
listed until no history needs them. Each encrypted payload carries its key id in the metadata.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import PayloadCodec

from interfaces.errors import WfctlError
from interfaces.payload_encryption import (
    ENCODING,
    KEY_FILE_ENV,
    KEY_ID_METADATA,
    KEYS_ENV,
    UNREADABLE_METADATA,
)

NONCE_BYTES = 12


class EncryptionKeyError(ValueError):
    """A key list that cannot be used, or a payload no configured key can open."""


class EncryptionKeysMissing(EncryptionKeyError, WfctlError):
    """What a client reads from Temporal is encrypted under a key id it does not have."""

    def __init__(self, key_id: str, message: str) -> None:
        super().__init__(message)
        self.key_id = key_id


@dataclass(frozen=True)
class EncryptionKeys:
    """Key id -> 32-byte key, in order; the first one encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def get(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    @classmethod
    def parse(cls, text: str, source: str = KEYS_ENV) -> EncryptionKeys:
        entries = [e.strip() for line in text.splitlines() for e in line.split(",")]
        entries = [e for e in entries if e and not e.startswith("#")]
        if not entries:
            raise EncryptionKeyError(f"{source}: no keys (expected 'id:base64key,...')")
        keys: list[tuple[str, bytes]] = []
        for entry in entries:
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise EncryptionKeyError(f"{source}: entry without 'id:' prefix ({key_id[:4]}...)")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise EncryptionKeyError(f"{source}: key {key_id!r} is not base64") from None
            if len(key) != 32:
                raise EncryptionKeyError(
                    f"{source}: key {key_id!r} is {len(key)} bytes; AES-256 needs 32 "
                    "(make one with: openssl rand -base64 32)"
                )
            if any(known == key_id for known, _ in keys):
                raise EncryptionKeyError(f"{source}: key id {key_id!r} listed twice")
            keys.append((key_id, key))
        return cls(tuple(keys))

    @classmethod
    def load(cls, keys: str | None, key_file: str | None) -> EncryptionKeys | None:
        """From a key list or a key file (the list wins); None when neither is given."""
        if keys:
            return cls.parse(keys)
        if key_file:
            try:
                text = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise EncryptionKeyError(f"{KEY_FILE_ENV}: cannot read {key_file}: {exc}") from None
            return cls.parse(text, source=key_file)
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> EncryptionKeys | None:
        return cls.load(env.get(KEYS_ENV), env.get(KEY_FILE_ENV))


@dataclass(frozen=True)
class Reader:
    """Who decodes, for the words of what it cannot decrypt: `subject` is what it calls the
    payload, `remedy` where the key goes. A reader that `keeps_unreadable` cannot raise."""

    name: str
    subject: str
    remedy: str
    keeps_unreadable: bool = False


CLIENT = Reader("client", "the result", "as the worker has")
# The reason follows "invalid workflow input: " or "invalid Update argument: ".
WORKER = Reader("worker", "it", "on the worker, as the client has", keeps_unreadable=True)
CODEC_SERVER = Reader("codec server", "the payload", "for the codec server, as the worker has")


class EncryptionCodec(PayloadCodec):
    """Encrypts whole payloads (metadata and data) with AES-256-GCM; without keys, encrypts
    nothing but still knows an encrypted payload when it reads one.

    The key id is bound to the ciphertext as associated data, so a payload relabelled with
    another key id fails to decrypt instead of decrypting under the wrong key.

    A payload it cannot decrypt (no keys, not its key id) raises EncryptionKeysMissing in a
    client or the codec server. A worker's codec cannot raise: the SDK would fail the
    workflow task and retry it forever. It hands the payload on still encrypted, marked with
    the reason (UNREADABLE_METADATA), and the workflow, which takes its input and Update
    arguments raw (workflows.raw_input), fails the run or refuses the Update with that reason."""

    def __init__(self, keys: EncryptionKeys | None, reader: Reader = CLIENT) -> None:
        self.keys = keys
        self.reader = reader
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys} if keys else {}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.keys is None:
            return list(payloads)
        return [self._encrypt(p, self.keys.current_id) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload, key_id: str) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), key_id.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was turned on stay readable.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        # Cut: the id is quoted in an error message, and anyone who can start a run writes it.
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")[:64]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            return self._unreadable(payload, key_id, self._missing_key(key_id))
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            return self._unreadable(
                payload, key_id,
                f"{self.reader.subject} does not decrypt with this {self.reader.name}'s key "
                f"{key_id!r}: the worker and the client hold different keys under that id, or "
                "the data was altered",
            )
        return Payload.FromString(plain)

    def _missing_key(self, key_id: str) -> str:
        subject, name, remedy = self.reader.subject, self.reader.name, self.reader.remedy
        if self.keys is None:
            return (
                f"{subject} is encrypted (key id {key_id!r}) and this {name} has no encryption "
                f"keys: set {KEYS_ENV} (or {KEY_FILE_ENV}) {remedy}"
            )
        return (
            f"{subject} is encrypted with key id {key_id!r}, which this {name} does not have "
            f"(it has {', '.join(self.keys.ids())}): add it to {KEYS_ENV} (or {KEY_FILE_ENV}) "
            f"{remedy}"
        )

    def _unreadable(self, payload: Payload, key_id: str, reason: str) -> Payload:
        if not self.reader.keeps_unreadable:
            raise EncryptionKeysMissing(key_id, reason)
        marked = Payload()
        marked.CopyFrom(payload)
        marked.metadata[UNREADABLE_METADATA] = reason.encode()
        return marked


async def decode_payloads_in(message: Message, codec: PayloadCodec) -> None:
    """Decode, in place, every payload anywhere in a message (a fetched history event, say).

    Histories come back from the server as stored, so code that reads payloads straight from
    events (step summaries, update outcomes, failure messages) must decode them first. A
    failure whose message and stack trace were encoded gets them back in place."""
    payload_type = Payload.DESCRIPTOR.full_name
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            value_type = field.message_type.fields_by_name["value"].message_type
            if value_type is None:
                continue
            items = list(value.values())
        else:
            value_type = field.message_type
            items = list(value) if field.is_repeated else [value]
        if value_type.full_name == payload_type:
            for item, decoded in zip(items, await codec.decode(items), strict=True):
                item.CopyFrom(decoded)
        else:
            for item in items:
                await decode_payloads_in(item, codec)
    if isinstance(message, Failure):
        _restore_encoded_attributes(message)


def _restore_encoded_attributes(failure: Failure) -> None:
    """Undo the encoding failure converter, as the SDK does when it raises a failure."""
    if not failure.HasField("encoded_attributes"):
        return
    attributes = failure.encoded_attributes
    if attributes.metadata.get("encoding") != b"json/plain":
        return  # not what the SDK wrote: keep the failure as it is
    try:
        decoded = json.loads(attributes.data)
    except ValueError:
        return
    if isinstance(decoded, dict):
        failure.message = str(decoded.get("message") or failure.message)
        failure.stack_trace = str(decoded.get("stack_trace") or failure.stack_trace)
        failure.ClearField("encoded_attributes")
