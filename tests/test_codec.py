"""The encryption codec on its own: keys, rotation, clear errors, and the converter wiring."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from wfctl.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    EncryptionKeyError,
    EncryptionKeys,
)
from wfctl.connection import ConnectionSettings

SECRET = "postgres://admin:hunter2-s3cr3t@db.internal/orders"


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = EncryptionCodec(EncryptionKeys.parse(new_key("k1")))
    [sealed] = await codec.encode([plain(SECRET)])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert SECRET.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == plain(SECRET)
    # The same plaintext never encrypts to the same bytes (fresh nonce per payload).
    [again] = await codec.encode([plain(SECRET)])
    assert again.data != sealed.data


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    k1, k2 = new_key("k1"), new_key("k2")
    before = EncryptionCodec(EncryptionKeys.parse(k1))
    [old] = await before.encode([plain("written under k1")])

    after = EncryptionCodec(EncryptionKeys.parse(f"{k2},{k1}"))
    [new] = await after.encode([plain("written under k2")])
    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await after.decode([old, new]) == [plain("written under k1"), plain("written under k2")]

    # Once k1 is dropped its payloads fail with an error that names the missing key.
    only_k2 = EncryptionCodec(EncryptionKeys.parse(k2))
    with pytest.raises(EncryptionKeyError, match=r"key 'k1', which is not among .*\(k2\)"):
        await only_k2.decode([old])


async def test_wrong_key_under_a_known_id_and_plain_payloads() -> None:
    codec = EncryptionCodec(EncryptionKeys.parse(new_key("k1")))
    [sealed] = await codec.encode([plain(SECRET)])
    impostor = EncryptionCodec(EncryptionKeys.parse(new_key("k1")))
    with pytest.raises(EncryptionKeyError, match="wrong key or tampered"):
        await impostor.decode([sealed])
    # Relabelling a payload with another key id does not get it decrypted under that key.
    both = EncryptionCodec(EncryptionKeys.parse(f"{new_key('k2')},{new_key('k1')}"))
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"}, data=sealed.data)
    with pytest.raises(EncryptionKeyError):
        await both.decode([relabelled])
    # Payloads written before encryption was switched on pass through unchanged.
    assert await codec.decode([plain("old")]) == [plain("old")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no keys"),
        ("c2VjcmV0", "without 'id:' prefix"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "is 5 bytes; AES-256 needs 32"),
        (f"{new_key('k1')},{new_key('k1')}", "listed twice"),
    ],
)
def test_unusable_key_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(EncryptionKeyError, match=message):
        EncryptionKeys.parse(text)


def test_key_file_and_settings_wiring(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# newest first\n{new_key('2024-06')}\n{new_key('2024-01')}\n")
    settings = ConnectionSettings(encryption_key_file=str(key_file))
    converter = settings.data_converter()
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.keys.ids() == ["2024-06", "2024-01"]
    # Still the pydantic converter underneath the codec.
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert ConnectionSettings().data_converter() is pydantic_data_converter

    env = {"WFCTL_ENCRYPTION_KEYS": new_key("a"), "WFCTL_ENCRYPTION_KEY_FILE": str(key_file)}
    from_env = EncryptionKeys.from_env(env)
    assert from_env is not None and from_env.ids() == ["a"]  # the list wins over the file
    with pytest.raises(EncryptionKeyError, match="cannot read"):
        ConnectionSettings(encryption_key_file=str(tmp_path / "missing")).data_converter()
