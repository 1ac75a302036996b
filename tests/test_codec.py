"""The encryption codec on its own: keys, rotation, clear errors, and the converter wiring."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from interfaces.payload_encryption import UNREADABLE_METADATA
from wfctl.codec import (
    ENCODING,
    KEY_ID_METADATA,
    WORKER,
    EncryptionCodec,
    EncryptionKeyError,
    EncryptionKeys,
    EncryptionKeysMissing,
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
    with pytest.raises(EncryptionKeysMissing, match=r"key id 'k1', which this client does not "
                       r"have \(it has k2\): add it to WFCTL_ENCRYPTION_KEYS"):
        await only_k2.decode([old])


async def test_wrong_key_under_a_known_id_and_plain_payloads() -> None:
    codec = EncryptionCodec(EncryptionKeys.parse(new_key("k1")))
    [sealed] = await codec.encode([plain(SECRET)])
    impostor = EncryptionCodec(EncryptionKeys.parse(new_key("k1")))
    with pytest.raises(EncryptionKeyError, match="hold different keys under that id, or the data"):
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
    # Without keys a codec is there still, to recognise what it cannot read.
    keyless = ConnectionSettings().data_converter().payload_codec
    assert isinstance(keyless, EncryptionCodec) and keyless.keys is None
    assert ConnectionSettings().data_converter(worker=True).payload_codec.reader is WORKER

    env = {"WFCTL_ENCRYPTION_KEYS": new_key("a"), "WFCTL_ENCRYPTION_KEY_FILE": str(key_file)}
    from_env = EncryptionKeys.from_env(env)
    assert from_env is not None and from_env.ids() == ["a"]  # the list wins over the file
    with pytest.raises(EncryptionKeyError, match="cannot read"):
        ConnectionSettings(encryption_key_file=str(tmp_path / "missing")).data_converter()


async def test_without_the_key_a_client_raises_and_a_worker_hands_the_payload_on_marked() -> None:
    [sealed] = await EncryptionCodec(EncryptionKeys.parse(new_key("k1"))).encode([plain(SECRET)])
    keyless = EncryptionCodec(None)
    # Nothing to encrypt with: payloads leave as they are.
    assert await keyless.encode([plain("x")]) == [plain("x")]
    with pytest.raises(EncryptionKeysMissing) as missing:
        await keyless.decode([sealed])
    assert missing.value.key_id == "k1"
    assert str(missing.value) == (
        "the result is encrypted (key id 'k1') and this client has no encryption keys: set "
        "WFCTL_ENCRYPTION_KEYS (or WFCTL_ENCRYPTION_KEY_FILE) as the worker has"
    )
    # A worker's codec never raises (a workflow task would fail forever): the payload goes on
    # encrypted, with the reason for the workflow to fail the run with.
    for keys, reason in [
        (None, "it is encrypted (key id 'k1') and this worker has no encryption keys"),
        (EncryptionKeys.parse(new_key("k2")), "key id 'k1', which this worker does not have"),
        (EncryptionKeys.parse(new_key("k1")), "does not decrypt with this worker's key 'k1'"),
    ]:
        [kept] = await EncryptionCodec(keys, WORKER).decode([sealed])
        assert kept.data == sealed.data
        assert reason in kept.metadata[UNREADABLE_METADATA].decode()
        assert "\n" not in kept.metadata[UNREADABLE_METADATA].decode()
