"""The names the encryption codec writes into payload metadata, shared by the codec (wfctl)
and the workflows that read their input raw (workflows.raw_input), which may not import it."""

from __future__ import annotations

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEYS_ENV = "WFCTL_ENCRYPTION_KEYS"
KEY_FILE_ENV = "WFCTL_ENCRYPTION_KEY_FILE"
# Set by a worker's codec, in memory only, on a payload it cannot decrypt: why, in one line.
# The payload reaches the workflow still encrypted, and the workflow fails saying this.
UNREADABLE_METADATA = "wfctl-unreadable"
